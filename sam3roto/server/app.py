"""``sam3roto serve``: seed 002's web app for annotation teams, on the same core.

A FastAPI app (:func:`create_app`): a JSON API under ``/api/`` (documented at ``/docs``,
``/openapi.json``) and a plain HTML/JS page at ``/``. Every request needs the access token
(``Authorization: Bearer TOKEN``; or ``?token=TOKEN``, which on the page ``/`` also sets an
HttpOnly cookie that the page's own requests (images, downloads) then carry).

The API (every id is the server's; errors are ``{"error": ..., "hint": ...}`` with an HTTP
status: 400 bad input, 401 no or wrong token, 404 unknown job or file, 409 the job is busy,
413 an upload over the limit)::

    GET    /api/jobs                          every job's state
    POST   /api/jobs {"name": ...}            a new job
    GET    /api/jobs/{id}                     its state, media, objects, queue position
    DELETE /api/jobs/{id}                     delete it (not while queued or running)
    PUT    /api/jobs/{id}/media?name=F        upload the media (body: the file): a movie, a ZIP of
                                              frames or a still
    PUT    /api/jobs/{id}/images?name=F       add one image of a sequence (body: the file) ...
    POST   /api/jobs/{id}/images/done         ... then open them as the job's media
    PUT    /api/jobs/{id}/labelstudio         upload a Label Studio JSON export (body); imported at
                                              once when it has one task, else its tasks are listed
    POST   /api/jobs/{id}/labelstudio/apply {"task": ID}   import that task
    POST   /api/jobs/{id}/prompts {prompts file}           points/boxes (the prompts file schema)
    GET    /api/jobs/{id}/frames/{index}.jpg[?width=W]  a frame (JPEG, the models' sRGB)
    GET    /api/jobs/{id}/overlay/{index}.png[?width=W] the masks on it, translucent, object colours
    POST   /api/jobs/{id}/track {"engine": "classic", "direction": "both", "mode": "all"}
    POST   /api/jobs/{id}/render {"outputs": ["mask-zip"], "zip_mode": "single", ...}
    POST   /api/jobs/{id}/resume              re-run what an interrupted run left (track: changed)
    POST   /api/jobs/{id}/cancel              stop its queued or running run
    GET    /api/jobs/{id}/renders             the versions and their files
    GET    /api/jobs/{id}/renders/{version}/{path}   download one
    GET    /api/engines                       the segmentation engines

Runs (track, render) go to one :class:`~sam3roto.server.worker.Worker` that owns the device.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sam3roto import __version__
from sam3roto.core.jobs import CancelToken, Progress
from sam3roto.errors import Sam3RotoError
from sam3roto.server.store import IDLE, JobBusy, JobNotFound, JobStore
from sam3roto.server.worker import Worker

STATIC = Path(__file__).resolve().parent / "static"
#: What an uploaded media file may be called (its suffix decides how it is opened).
MEDIA_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".zip", ".png", ".jpg", ".jpeg", ".tif",
                  ".tiff", ".exr")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: The cookie the page's requests carry the token in (set when ``/?token=`` opens it).
COOKIE = "sam3roto_token"


@dataclass(frozen=True)
class ServerSettings:
    """``data``: where jobs live. ``max_upload_bytes``: the largest upload (media, one
    image, a Label Studio export). ``max_frames``: the most frames a job's media may have.
    ``device``: the worker's device (None: the engines' default)."""

    data: Path
    max_upload_bytes: int = 8 * 1024**3
    max_frames: int = 100_000
    max_json_bytes: int = 256 * 1024**2
    device: str | None = None


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, "hint": advice}`` with an HTTP status
    (``advice`` is worded for a client of the API, not for the command line or window)."""

    def __init__(self, status: int, message: str, advice: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.advice = status, message, advice


def safe_name(name: str, suffixes: tuple[str, ...]) -> str:
    """A file name from a client, reduced to letters, digits, ``._-`` (no folders), with a
    suffix among ``suffixes``; an :class:`ApiError` otherwise."""
    base = Path(str(name).replace("\\", "/")).name
    clean = _NAME.sub("_", base).strip("._")[:120]
    suffix = Path(clean).suffix.lower()
    if not clean or suffix not in suffixes:
        raise ApiError(400, f"{str(name)[:80]!r} is not a file type this server takes",
                       advice=f"upload one of: {', '.join(suffixes)}")
    return clean


@dataclass
class _Opened:
    source: Any
    lock: threading.Lock
    stamp: float
    closed: bool = False


class Sources:
    """Open media of recent jobs, for frames and overlays (a reader per job, used under its
    lock: readers are not thread-safe)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._open: OrderedDict[str, _Opened] = OrderedDict()
        self._lock = threading.Lock()

    def frame(self, job_id: str, project_path: Path, index: int) -> Any:
        for _ in range(3):  # an entry closed (evicted, media changed) between lookup and read: again
            entry = self._entry(job_id, project_path)
            with entry.lock:
                if entry.closed:
                    continue
                count = entry.source.info.frame_count
                if not 0 <= index < count:
                    raise ApiError(404, f"frame index {index} is outside 0..{count - 1}")
                return entry.source.read(index)
        raise ApiError(503, "the media is being reopened; try again", advice="retry the request")

    def _entry(self, job_id: str, project_path: Path) -> _Opened:
        from sam3roto.core.project_io import load_project
        from sam3roto.pipeline.shot import open_shot_media

        stamp = project_path.stat().st_mtime if project_path.exists() else 0.0
        with self._lock:
            entry = self._open.get(job_id)
            if entry is not None and entry.stamp != stamp:
                self._close(job_id)
                entry = None
            if entry is None:
                entry = _Opened(open_shot_media(load_project(project_path)), threading.Lock(), stamp)
                self._open[job_id] = entry
                while len(self._open) > self.keep:
                    self._close(next(iter(self._open)))
            self._open.move_to_end(job_id)
            return entry

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._close(job_id)

    def _close(self, job_id: str) -> None:
        entry = self._open.pop(job_id, None)
        if entry is not None:
            with entry.lock:  # after a read under way; readers that come later see it closed
                entry.closed = True
                entry.source.close()

    def close(self) -> None:
        with self._lock:
            for job_id in list(self._open):
                self._close(job_id)


class Server:
    """The app's state: settings, token, job store, worker and open media."""

    def __init__(self, settings: ServerSettings, token: str) -> None:
        self.settings = settings
        self.token = token
        self.store = JobStore(settings.data)
        self.sources = Sources()
        self.worker = Worker(self.store, self.run)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._uploading: set[str] = set()  # jobs with an upload under way (guarded by _locks_lock)

    def lock(self, job_id: str) -> threading.RLock:
        """The job's lock: held while a request reads or edits its project, and while a run
        is queued, so an edit never lands once a run has the project (see :meth:`edit`)."""
        with self._locks_lock:
            return self._locks.setdefault(job_id, threading.RLock())

    def check_editable(self, job_id: str) -> None:
        """Under :meth:`lock`: the job takes edits (no run queued or running)."""
        job = self.store.get(job_id)
        if job.state in ("queued", "running"):
            raise JobBusy(f"job {job_id} is {job.state}: wait for it or cancel it")

    def begin_upload(self, job_id: str) -> None:
        with self._locks_lock:
            if job_id in self._uploading:
                raise ApiError(409, f"job {job_id} has an upload under way", advice="wait for it to finish")
            self._uploading.add(job_id)

    def end_upload(self, job_id: str) -> None:
        with self._locks_lock:
            self._uploading.discard(job_id)

    def uploading(self, job_id: str) -> bool:
        with self._locks_lock:
            return job_id in self._uploading

    # -- runs (on the worker thread) ---------------------------------------------------------
    def run(self, job_id: str, token: CancelToken) -> Generator[Progress, None, Any]:
        from sam3roto.core.project_io import load_project, open_mask_store, save_project
        from sam3roto.pipeline.shot import open_shot_media

        job = self.store.get(job_id)
        path = self.store.project_path(job_id)
        project = load_project(path)
        store = open_mask_store(path, project)
        kind = job.run.get("kind")
        with open_shot_media(project) as source:
            if kind == "track":
                from sam3roto.pipeline.track import track_job

                options = {"device": self.settings.device} if self.settings.device else None
                try:
                    result = yield from track_job(project, source, store, engine=job.run.get("engine", "classic"),
                                                  direction=job.run.get("direction", "both"),
                                                  mode=job.run.get("mode", "all"), engine_options=options)
                finally:
                    save_project(project, path)  # objects a run made; the masks are already stored
                frames = {obj: len(done) for obj, done in result.frames.items()}
                return {"frames": max(frames.values(), default=0), "per_object": frames}
            if kind == "render":
                from sam3roto.pipeline.render import RenderOptions, render_job

                options_data = {k: v for k, v in job.run.items() if k not in ("kind", "result")}
                render = yield from render_job(project, source, store, path.parent / "renders",
                                               RenderOptions.from_dict(options_data), project_path=path,
                                               cancel=token)
                return {"version": render.folder.name, "files": render.file_count}
        raise Sam3RotoError(f"unknown run {kind!r}")

    def check_idle(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job.state in ("queued", "running"):
            raise JobBusy(f"job {job_id} is {job.state}: wait for it or cancel it")

    def close(self) -> None:
        self.worker.stop()
        self.sources.close()


def create_app(settings: ServerSettings, token: str) -> Any:
    """The FastAPI app serving ``settings.data`` to holders of ``token``."""
    server = Server(settings, token)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        try:
            yield
        finally:  # the worker's run is cancelled (a render leaves no version), media closed
            server.close()

    app = FastAPI(title="sam3roto serve", version=__version__, lifespan=lifespan,
                  description="Rotoscoping jobs for annotation teams: upload media and Label Studio exports, "
                  "propagate masks, download them. Every call needs the access token (Authorization: Bearer).")
    app.state.server = server

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "hint": exc.advice}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}"
                             for e in exc.errors()[:5])
        return JSONResponse({"error": f"bad request: {problems}", "hint": "see /docs for the API"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "hint": None}, status_code=exc.status_code)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        from sam3roto.core.atomic import disk_full

        full = disk_full(exc)
        return JSONResponse({"error": "the server's disk is full" if full else
                             f"the server could not read or write a file ({exc.strerror or type(exc).__name__})",
                             "hint": "ask the server's admin"}, status_code=507 if full else 500)

    @app.exception_handler(Sam3RotoError)
    async def _core_error(request: Request, exc: Sam3RotoError) -> JSONResponse:
        status = 404 if isinstance(exc, JobNotFound) else 409 if isinstance(exc, JobBusy) else 400
        message = exc.message if exc.path is None or str(settings.data) in str(exc.path) else exc.headline
        return JSONResponse({"error": message, "hint": exc.hint_for("cli")}, status_code=status)

    cookie = f"{COOKIE}_{hashlib.sha256(token.encode()).hexdigest()[:8]}"  # one per server (and token)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Any:
        if request.url.path in ("/favicon.ico",):
            return Response(status_code=404)
        header = request.headers.get("authorization", "")
        by_cookie = False
        if header.lower().startswith("bearer "):
            given = header[7:]
        elif request.query_params.get("token"):
            given = request.query_params["token"]
        else:
            given, by_cookie = request.cookies.get(cookie, ""), True
        if not secrets.compare_digest(given.encode(), server.token.encode()):
            if request.url.path.startswith("/api/") or request.url.path in ("/openapi.json", "/docs"):
                response: Any = JSONResponse({"error": "no or wrong access token",
                                              "hint": "send Authorization: Bearer TOKEN (the token serve printed at "
                                                      "its first start, in DATA/token)"}, status_code=401)
            else:
                response = HTMLResponse(_LOGIN, status_code=401)
            response.delete_cookie(cookie, path="/")
            return _headers(response)
        if by_cookie and request.method not in ("GET", "HEAD") and not _same_origin(request):
            # a cookie rides along with requests other sites' pages make: changes need the page's origin
            return _headers(JSONResponse({"error": "a change sent from another site's page is refused",
                                          "hint": "send Authorization: Bearer TOKEN"}, status_code=403))
        if request.url.path == "/" and request.query_params.get("token"):
            # the page's own requests (images, downloads) carry the token as a cookie; the
            # address bar, the history and the access logs of proxies keep no token
            response = RedirectResponse("/", status_code=303)
            secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
            response.set_cookie(cookie, server.token, httponly=True, samesite="strict", path="/", secure=secure)
            return _headers(response)
        return _headers(await call_next(request))

    async def _body_to(request: Request, target: Path, limit: int) -> int:
        """Stream the request's body to ``target`` (a temp name, renamed at the end);
        413 past ``limit`` bytes, nothing left behind."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"the upload is {int(declared)} bytes, over the limit of {limit}",
                           advice="ask the server's admin for a larger upload limit")
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")  # two uploads: two files
        partial.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        try:
            with open(partial, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"the upload is over the limit of {limit} bytes",
                                       advice="ask the server's admin for a larger upload limit")
                    await run_in_threadpool(fh.write, chunk)  # the event loop serves others meanwhile
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        if size == 0:
            target.unlink(missing_ok=True)
            raise ApiError(400, "the upload is empty")
        return size

    def _ready(job_id: str, path: Path) -> Any:
        """Mark the job ready with its media described from its project."""
        from sam3roto.core.project_io import load_project

        shot = load_project(path).shot
        if shot is None:
            return server.store.get(job_id)
        described = {"name": Path(shot.media).name, "frames": shot.frame_count, "width": shot.width,
                     "height": shot.height, "fps": f"{shot.fps.numerator}/{shot.fps.denominator}",
                     "frame_numbers": [shot.frame_numbers[0], shot.frame_numbers[-1]],
                     "colorspace": shot.input_colorspace}
        return server.store.update(job_id, state="ready", media=described)

    def _describe(job_id: str, objects: bool = True, waiting: dict[str, int] | None = None) -> dict[str, Any]:
        """The job's state, its place in the queue and (``objects``) its objects with how
        many frames have masks (the job list leaves those out: it is polled)."""
        job = server.store.get(job_id)
        path = server.store.project_path(job_id)
        if job.state == "new" and path.exists():  # killed between the project's save and the state's
            with server.lock(job_id):
                job = _ready(job_id, path)
        out = job.to_dict()
        out["queue_position"] = (waiting if waiting is not None else server.worker.waiting()).get(job_id)
        if not objects:
            return out
        out["objects"] = []
        if path.exists():
            from sam3roto.core.project_io import load_project, open_mask_store

            with server.lock(job_id):
                project = load_project(path)
                store = open_mask_store(path, project)
                out["objects"] = [{"id": o.id, "name": o.name, "color": list(o.color),
                                   "frames": len(store.frames(o.id)),
                                   "keyframes": sorted({k.frame for k in project.keyframes if k.object_id == o.id})}
                                  for o in project.objects]
                # index -> the source's frame number (prompts name frames by number)
                out["frame_numbers"] = list(project.shot.frame_numbers) if project.shot is not None else []
        return out

    # -- pages ------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page() -> Any:
        index = STATIC / "index.html"
        if not index.is_file():
            raise ApiError(404, "the page is not installed")
        return FileResponse(index, media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        clean = _NAME.sub("", name)
        target = STATIC / clean
        if clean != name or not target.is_file():
            raise ApiError(404, "no such file")
        return FileResponse(target)

    # -- jobs -------------------------------------------------------------------------------
    @app.get("/api/engines")
    def engines() -> Any:
        from sam3roto.backends.registry import engine_choices

        return [{"name": name, "label": label} for name, label in engine_choices()]

    @app.get("/api/jobs")
    def jobs() -> Any:
        waiting = server.worker.waiting()
        return [_describe(j.id, objects=False, waiting=waiting) for j in server.store.all()]

    @app.post("/api/jobs", status_code=201)
    async def new_job(request: Request) -> Any:
        data = await _json(request, 64 * 1024, allow_empty=True)
        name = data.get("name", "") if isinstance(data, dict) else ""
        if not isinstance(name, str):
            raise ApiError(400, "name must be a string")
        return _describe(server.store.create(name).id)

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str) -> Any:
        return _describe(job_id)

    @app.delete("/api/jobs/{job_id}")
    def delete_job(job_id: str) -> Any:
        with server.lock(job_id):
            if server.uploading(job_id):
                raise ApiError(409, f"job {job_id} has an upload under way", advice="stop it first")
            server.sources.drop(job_id)
            server.store.delete(job_id)
        return {"deleted": job_id}

    # -- uploads ----------------------------------------------------------------------------
    def _media_name(job_id: str, name: str, suffixes: tuple[str, ...]) -> str:
        """The safe name of a media upload to a job that takes one (idle, no media yet)."""
        server.check_idle(job_id)
        clean = safe_name(name, suffixes)
        if server.store.project_path(job_id).exists():
            raise ApiError(409, "this job has its media already", advice="make a new job for other media")
        return clean

    @app.put("/api/jobs/{job_id}/media")
    async def media(job_id: str, request: Request, name: str) -> Any:
        clean = _media_name(job_id, name, MEDIA_SUFFIXES)
        server.begin_upload(job_id)
        try:
            target = server.store.folder(job_id) / "media" / clean
            await _body_to(request, target, settings.max_upload_bytes)
            return await run_in_threadpool(_open_media, job_id, target, [target])
        finally:
            server.end_upload(job_id)

    @app.put("/api/jobs/{job_id}/images")
    async def image(job_id: str, request: Request, name: str) -> Any:
        clean = _media_name(job_id, name, IMAGE_SUFFIXES)
        folder = server.store.folder(job_id) / "media" / "images"
        count = sum(1 for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else 0
        if count >= settings.max_frames:
            raise ApiError(413, f"the job has {count} images, the limit of frames per job")
        server.begin_upload(job_id)  # one image at a time per job
        try:
            size = await _body_to(request, folder / clean, settings.max_upload_bytes)
        finally:
            server.end_upload(job_id)
        return {"image": clean, "bytes": size}

    @app.delete("/api/jobs/{job_id}/images")
    def clear_images(job_id: str) -> Any:
        """Forget the images uploaded so far (an upload of a set that was stopped)."""
        with server.lock(job_id):
            if server.store.project_path(job_id).exists():
                raise ApiError(409, "this job has its media already")
            if server.uploading(job_id):
                raise ApiError(409, f"job {job_id} has an upload under way")
            _clear(server.store.folder(job_id) / "media", keep=[])
        return _describe(job_id)

    @app.post("/api/jobs/{job_id}/images/done")
    def images_done(job_id: str) -> Any:
        server.check_idle(job_id)
        folder = server.store.folder(job_id) / "media" / "images"
        if not folder.is_dir() or not any(folder.iterdir()):
            raise ApiError(400, "no images uploaded yet", advice="PUT /api/jobs/{id}/images?name=F for each first")
        if server.uploading(job_id):
            raise ApiError(409, f"job {job_id} has an upload under way", advice="wait for it to finish")
        return _open_media(job_id, folder, keep=[folder])

    def _open_media(job_id: str, target: Path, keep: list[Path]) -> Any:
        """Open the uploaded ``target`` as the job's media and make its project (blocking:
        called on a worker thread of the server's pool)."""
        from sam3roto.core.project_io import save_project
        from sam3roto.pipeline.shot import new_project

        media_dir = server.store.folder(job_id) / "media"
        path = server.store.project_path(job_id)
        with server.lock(job_id):
            server.check_editable(job_id)
            if path.exists():
                raise ApiError(409, "this job has its media already", advice="make a new job for other media")
            try:
                project, source = new_project(target)
            except Sam3RotoError as exc:
                _clear(media_dir, keep=[])
                raise ApiError(400, _scrub(exc.message, media_dir), advice=exc.hint_for("cli")) from None
            try:
                info = source.info
                if info.frame_count > settings.max_frames:
                    _clear(media_dir, keep=[])
                    raise ApiError(413, f"the media has {info.frame_count} frames, over this server's limit of "
                                   f"{settings.max_frames}")
                save_project(project, path)
            finally:
                source.close()
            _clear(media_dir, keep=keep)
            described = {"name": target.name, "frames": info.frame_count, "width": info.width, "height": info.height,
                         "fps": f"{info.fps.numerator}/{info.fps.denominator}",
                         "frame_numbers": [info.frame_numbers[0], info.frame_numbers[-1]],
                         "colorspace": project.shot.input_colorspace if project.shot else None}
            server.store.update(job_id, state="ready", media=described)
        return _describe(job_id)

    @app.put("/api/jobs/{job_id}/labelstudio")
    async def labelstudio(job_id: str, request: Request) -> Any:
        server.check_idle(job_id)
        _need_media(job_id)
        target = server.store.folder(job_id) / "labelstudio.json"
        server.begin_upload(job_id)
        try:
            await _body_to(request, target, min(settings.max_upload_bytes, settings.max_json_bytes))
            return await run_in_threadpool(_read_export, job_id, target)
        finally:
            server.end_upload(job_id)

    def _read_export(job_id: str, target: Path) -> Any:
        from sam3roto.interchange.labelstudio import read_export

        try:
            tasks = read_export(target)
        except Sam3RotoError as exc:
            target.unlink(missing_ok=True)
            raise ApiError(400, exc.message, advice=exc.hint_for("cli")) from None
        listed = [{"id": t.id, "summary": t.describe()} for t in tasks]
        if len(tasks) == 1:
            return {"tasks": listed, "imported": _apply_task(job_id, target, None)}
        return {"tasks": listed, "imported": None}

    @app.post("/api/jobs/{job_id}/labelstudio/apply")
    async def labelstudio_apply(job_id: str, request: Request) -> Any:
        server.check_idle(job_id)
        data = await _json(request, 64 * 1024)
        target = server.store.folder(job_id) / "labelstudio.json"
        if not target.is_file():
            raise ApiError(400, "no Label Studio export uploaded", advice="PUT /api/jobs/{id}/labelstudio first")
        task = data.get("task") if isinstance(data, dict) else None
        if task is None or isinstance(task, bool) or not isinstance(task, (int, str)):
            raise ApiError(400, 'give the task to import: {"task": ID}')
        return {"imported": await run_in_threadpool(_apply_task, job_id, target, task)}

    def _apply_task(job_id: str, export: Path, task_id: Any) -> Any:
        from sam3roto.core.project_io import load_project, open_mask_store, save_project
        from sam3roto.interchange.labelstudio import choose_task, decode_task, read_export
        from sam3roto.pipeline.interchange import apply_labelstudio

        path = server.store.project_path(job_id)
        with server.lock(job_id):
            server.check_editable(job_id)  # again under the lock: a run queued since would lose this
            project = load_project(path)
            shot = project.shot
            if shot is None:
                raise ApiError(400, "the job has no media yet")
            try:
                task = choose_task(read_export(export), task_id)
                decoded = decode_task(task, shot.width, shot.height, shot.frame_numbers)
            except Sam3RotoError as exc:
                raise ApiError(400, exc.message, advice=exc.hint_for("cli")) from None
            if not decoded.labels:
                raise ApiError(400, f"task {task.id} has no boxes, points, brush or polygon labels to import")
            summary = apply_labelstudio(project, open_mask_store(path, project), decoded)
            save_project(project, path)
            server.store.update(job_id)  # "updated" moves: pollers see the new objects and masks
        return {"task": task.id, "objects": {label: obj_id for label, obj_id in summary.objects.items()},
                "skipped": dict(decoded.skipped)}

    @app.post("/api/jobs/{job_id}/prompts")
    async def prompts(job_id: str, request: Request) -> Any:
        server.check_idle(job_id)
        _need_media(job_id)
        data = await _json(request, MAX_PROMPTS_BYTES)  # JSON, checked before it is written
        _check_prompt_counts(data)
        body = await request.body()
        return await run_in_threadpool(_apply_prompts, job_id, body)

    def _apply_prompts(job_id: str, body: bytes) -> Any:
        from sam3roto.core.project_io import load_project, save_project
        from sam3roto.interchange.prompts import frame_index, read_prompts
        from sam3roto.pipeline.interchange import ImportSummary, object_named

        target = server.store.folder(job_id) / "prompts.json"
        path = server.store.project_path(job_id)
        with server.lock(job_id):
            server.check_editable(job_id)  # again under the lock: a run queued since would lose this
            target.write_bytes(body)
            project = load_project(path)
            shot = project.shot
            if shot is None:
                raise ApiError(400, "the job has no media yet")
            try:
                items = read_prompts(target, frame_numbers=shot.frame_numbers, size=(shot.width, shot.height))
                summary = ImportSummary()
                for item in items:
                    obj = object_named(project, item.name, summary)
                    for number, given in sorted(item.keyframes.items()):
                        project.set_prompts(obj.id, frame_index(number, shot.frame_numbers, item.name), given)
            except (Sam3RotoError, ValueError) as exc:
                message = exc.message if isinstance(exc, Sam3RotoError) else str(exc)
                raise ApiError(400, _scrub(message, target.parent)) from None
            save_project(project, path)
            server.store.update(job_id)
        return {"objects": dict(summary.objects)}

    def _need_media(job_id: str) -> None:
        if not server.store.project_path(job_id).exists():
            raise ApiError(400, "the job has no media yet", advice="PUT /api/jobs/{id}/media?name=F first")

    # -- frames -----------------------------------------------------------------------------
    def _fit(image: Any, width: int | None, nearest: bool = False) -> Any:
        """``image`` at most ``width`` pixels wide (the page asks for its canvas's width)."""
        import cv2

        if width is None or width >= image.shape[1]:
            return image
        if width < 16:
            raise ApiError(400, "width must be 16 or more")
        height = max(1, round(image.shape[0] * width / image.shape[1]))
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)

    @app.get("/api/jobs/{job_id}/frames/{index}.jpg")
    def frame(job_id: str, index: int, width: int | None = None) -> Any:
        import cv2

        from sam3roto.core.pixels import to_uint8

        server.store.get(job_id)
        _need_media(job_id)
        rgb = _fit(to_uint8(server.sources.frame(job_id, server.store.project_path(job_id), index)), width)
        _, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        return Response(bytes(data), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/overlay/{index}.png")
    def overlay(job_id: str, index: int, width: int | None = None) -> Any:
        import cv2
        import numpy as np

        from sam3roto.core.project_io import load_project, open_mask_store

        _need_media(job_id)
        path = server.store.project_path(job_id)
        with server.lock(job_id):
            project = load_project(path)
            store = open_mask_store(path, project)
        shot = project.shot
        if shot is None or not 0 <= index < shot.frame_count:
            raise ApiError(404, f"frame index {index} is outside the shot")
        if width is not None and width < 16:
            raise ApiError(400, "width must be 16 or more")
        out_w = min(width or shot.width, shot.width)
        out_h = max(1, round(shot.height * out_w / shot.width))
        rgba = np.zeros((out_h, out_w, 4), np.uint8)  # at the size asked for (a 6000x9000 still: its preview)
        for obj in project.objects:
            mask = store.get(obj.id, index)
            if mask is not None:
                if (out_w, out_h) != (shot.width, shot.height):
                    mask = cv2.resize(mask.view(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST) > 0
                rgba[mask] = (*obj.color, 140)
        _, data = cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])
        return Response(bytes(data), media_type="image/png", headers={"Cache-Control": "no-store"})

    # -- runs -------------------------------------------------------------------------------
    @app.post("/api/jobs/{job_id}/track", status_code=202)
    async def track(job_id: str, request: Request) -> Any:
        from sam3roto.backends.registry import engine_class

        data = await _json(request, 64 * 1024, allow_empty=True)
        if not isinstance(data, dict):
            raise ApiError(400, "track options must be a JSON object")
        engine = data.get("engine", "classic")
        direction = data.get("direction", "both")
        mode = data.get("mode", "all")
        try:
            engine_class(str(engine))
        except (ValueError, KeyError) as exc:
            raise ApiError(400, str(exc)) from None
        if direction not in ("forward", "backward", "both"):
            raise ApiError(400, "direction must be forward, backward or both")
        if mode not in ("all", "changed"):
            raise ApiError(400, "mode must be all or changed")
        _start(job_id, {"kind": "track", "engine": engine, "direction": direction, "mode": mode})
        return await run_in_threadpool(_describe, job_id)

    @app.post("/api/jobs/{job_id}/render", status_code=202)
    async def render(job_id: str, request: Request) -> Any:
        from sam3roto.pipeline.render import RenderOptions

        data = await _json(request, 64 * 1024, allow_empty=True)
        if not isinstance(data, dict):
            raise ApiError(400, "render options must be a JSON object")
        options = {k: v for k, v in data.items() if k not in ("part", "version")}
        options.setdefault("outputs", ["mask-zip"])
        try:
            RenderOptions.from_dict(options)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        _start(job_id, {"kind": "render", **options})
        return await run_in_threadpool(_describe, job_id)

    @app.post("/api/jobs/{job_id}/resume", status_code=202)
    def resume(job_id: str) -> Any:
        job = server.store.get(job_id)
        if job.state != "interrupted":
            raise ApiError(409, f"job {job_id} is {job.state}, not interrupted")
        run = {k: v for k, v in job.run.items() if k != "result"}
        if run.get("kind") == "track":
            run["mode"] = "changed"  # the frames it finished are kept; the rest is tracked
        _start(job_id, run)
        return _describe(job_id)

    def _start(job_id: str, run: dict[str, Any]) -> None:
        _need_media(job_id)
        with server.lock(job_id):  # two requests at once queue one run; no edit lands after it
            job = server.store.get(job_id)
            if job.state not in IDLE:
                raise JobBusy(f"job {job_id} is {job.state}: wait for it or cancel it")
            if server.uploading(job_id):
                raise ApiError(409, f"job {job_id} has an upload under way", advice="wait for it to finish")
            server.worker.submit(job_id, run)

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> Any:
        job = server.store.get(job_id)
        if not server.worker.cancel(job_id):
            raise ApiError(409, f"job {job_id} is {job.state}: nothing to cancel")
        return _describe(job_id)

    # -- downloads --------------------------------------------------------------------------
    @app.get("/api/jobs/{job_id}/renders")
    def renders(job_id: str) -> Any:
        server.store.get(job_id)
        root = server.store.folder(job_id) / "renders"
        out = []
        for version in sorted(root.glob("v[0-9][0-9][0-9]*")) if root.is_dir() else []:
            if version.is_dir():
                files = sorted(p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file())
                out.append({"version": version.name, "files": files})
        return out

    @app.get("/api/jobs/{job_id}/renders/{version}/{file_path:path}")
    def download(job_id: str, version: str, file_path: str) -> Any:
        server.store.get(job_id)
        root = (server.store.folder(job_id) / "renders").resolve()
        if not re.match(r"^v\d{3,7}$", version):
            raise ApiError(404, "no such version")
        target = (root / version / file_path).resolve()
        if root not in target.parents or not target.is_file():
            raise ApiError(404, "no such file")
        return FileResponse(target, filename=target.name)

    return app


async def _json(request: Any, limit: int, allow_empty: bool = False) -> Any:
    """The request's JSON body (at most ``limit`` bytes, read no further), or an
    :class:`ApiError`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the JSON body is {int(declared)} bytes, over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the JSON body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # what request.body() gives from now on
    if not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "the request needs a JSON body")
    from sam3roto.core.safejson import loads

    try:
        return loads(body.decode("utf-8"), None)
    except Sam3RotoError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.message[:200]}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


#: Prompts from a client: the body's size and how many points and boxes it may place.
MAX_PROMPTS_BYTES = 4 * 1024**2
MAX_PROMPTS = 10_000


def _check_prompt_counts(data: Any) -> None:
    """At most :data:`MAX_PROMPTS` points and boxes in a prompts body (the shapes are
    checked by the prompts reader)."""
    count = 0
    objects = data.get("objects") if isinstance(data, dict) else None
    for obj in objects if isinstance(objects, list) else []:
        keys = obj.get("keyframes") if isinstance(obj, dict) else None
        for key in keys if isinstance(keys, list) else []:
            if isinstance(key, dict):
                count += sum(len(v) for k in ("points", "boxes") if isinstance(v := key.get(k), list))
    if count > MAX_PROMPTS:
        raise ApiError(413, f"the prompts place {count} points and boxes, over the limit of {MAX_PROMPTS}")


def _same_origin(request: Any) -> bool:
    """A change the page itself sent: its ``Origin`` (or, without one, ``Sec-Fetch-Site``)
    names this server. The host is compared, not the scheme (a TLS proxy in front)."""
    origin = request.headers.get("origin")
    if origin:
        from urllib.parse import urlsplit

        return urlsplit(origin).netloc == request.headers.get("host", "")
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _headers(response: Any) -> Any:
    """Headers every answer carries: no referrer (the page's address may have held the
    token), no sniffing, not framed by other sites."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _scrub(text: str, folder: Path) -> str:
    """``text`` without the server's own folders (a reader's message may hold a file's
    full path): the job's media folder becomes nothing, so the client's file name shows."""
    for prefix in (str(folder.resolve()) + "/", str(folder) + "/"):
        text = text.replace(prefix, "")
    return text


def _clear(folder: Path, keep: list[Path]) -> None:
    """Remove what ``folder`` holds besides ``keep`` (a media upload that failed)."""
    if not folder.is_dir():
        return
    import shutil

    for entry in folder.iterdir():
        if entry in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


_LOGIN = """<!doctype html><meta charset="utf-8"><title>sam3roto</title>
<body style="font-family:sans-serif;margin:3em">
<h1>sam3roto</h1><p>This server needs its access token: open <code>/?token=TOKEN</code>.
The token was printed when the server first started; it is in the file <code>token</code> of its data folder.</p>
<form onsubmit="location.search='?token='+encodeURIComponent(this.t.value);return false">
<input name="t" size="50" placeholder="access token" autofocus> <button>Open</button></form></body>
"""


def settings_from(data: str | Path, *, max_upload_mb: int | None = None, max_frames: int | None = None,
                  device: str | None = None) -> ServerSettings:
    """Settings from the command line's values (None: the defaults)."""
    kwargs: dict[str, Any] = {"data": Path(data)}
    if max_upload_mb is not None:
        kwargs["max_upload_bytes"] = int(max_upload_mb) * 1024**2
    if max_frames is not None:
        kwargs["max_frames"] = int(max_frames)
    if device:
        kwargs["device"] = device
    return ServerSettings(**kwargs)


