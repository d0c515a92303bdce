"""Crash safety of the window's saves: kill -9 in the middle of a save, 100 times.

A child process drives the real window (File > Save, and Save as... with the file dialog
answered) in a loop of saves: the first save of an unsaved project, plain saves, Save as onto
an existing project (another project's, or its own older file) and Save as to a new file,
with objects and masks added between saves. The test kills it with SIGKILL at a random moment
after its first save began, then checks what a person would find:

* every project file there loads and holds either what was last saved there or what the
  interrupted save was writing (never anything else);
* its mask store opens (an interrupted swap is finished) and is consistent: each object of
  the file has every mask it had when that content was saved, each mask is that object's
  own (masks are made from the object's uid), and no ``.incoming``/``.old`` folder is left;
* an unsaved project whose first save did not commit is still offered by ``list_unsaved``
  with its masks; one whose first save committed is no longer offered.

The children are forked from a helper process started for this test (a "zygote": a fresh
Python with Qt and sam3roto imported, single-threaded, no QApplication), not from pytest's
own process. A fork copies only the calling thread: pytest's process may by now hold a
QApplication and the worker threads of Qt, OpenCV, OpenMP or OpenBLAS from earlier tests,
and a child could then wait forever on a lock held by a thread that does not exist in it.
Forking a pristine process keeps each child to ~0.15 s (no interpreter start-up) on 2 cores.
"""

from __future__ import annotations

import collections
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")

from sam3roto.core.maskstore import store_identity
from sam3roto.core.project_io import load_project, mask_store_dir, open_mask_store
from sam3roto.core.workspace import list_unsaved, recover_unsaved

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks and SIGKILLs child processes (Linux)"),
]

ROOT = Path(__file__).resolve().parents[2]
KILLS = 100
WIDTH, HEIGHT, FRAMES = 64, 48, 6
MAX_OBJECTS = 6
SCENARIOS = ("first", "plain", "first", "save_as_other", "save_as_new")  # cycled: first saves weigh double
SEED = 18
EVENT_TIMEOUT_S = 30.0
MAX_LINE = 4000  # below PIPE_BUF: one event is one atomic write to the shared pipe


def mask_for(uid: str, frame: int) -> np.ndarray:
    """The mask object ``uid`` gets on ``frame``: made from the uid, so a mask found under
    another object never passes for that object's."""
    rng = np.random.default_rng([int(uid, 16), frame])
    return rng.random((HEIGHT, WIDTH)) < 0.5


# -- the child: the window in a save loop ---------------------------------------------------------

def _emit(event: dict[str, Any]) -> None:
    line = (json.dumps(event) + "\n").encode()
    if len(line) > MAX_LINE:
        raise RuntimeError(f"event too long for one atomic pipe write ({len(line)} bytes)")
    os.write(1, line)


class _Child:
    """Builds the scenario's state and saves through the window until killed (or, when
    calibrating, for a few saves). Every save is announced (``begin``, with the content it
    writes and where) right before the menu action is triggered, and confirmed (``end``)."""

    def __init__(self, cmd: dict[str, Any]) -> None:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication, QFileDialog

        from sam3roto.ui import main_window

        self.app = QApplication.instance() or QApplication(["sam3roto-crash-child"])
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, cmd["settings"])
        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, cmd["settings"])
        self.cmd, self.seq, self.frames = cmd, 0, {}  # frames: object uid -> frames with a mask
        self.folder = Path(cmd["dir"])
        self.folder.mkdir(parents=True)
        self.P, self.Q = self.folder / "p.sam3roto", self.folder / "q.sam3roto"
        self.answer: Path | None = None  # what the patched Save dialog answers

        def save_dialog(*args: Any, **kwargs: Any) -> tuple[str, str]:
            if self.answer is None:
                self.fail("the Save dialog opened where no dialog was expected")
            return str(self.answer), "sam3roto project (*.sam3roto)"

        def show_error(window: Any, error: BaseException, title: str = "") -> None:
            self.fail(f"the window reported an error ({title}): {type(error).__name__}: {error}\n"
                      + "".join(traceback.format_exception(error)))

        QFileDialog.getSaveFileName = staticmethod(save_dialog)
        main_window.MainWindow.show_error = show_error
        self.MainWindow = main_window.MainWindow

    def fail(self, message: str) -> None:
        _emit({"ev": "error", "message": message[-(MAX_LINE - 200):]})
        os._exit(3)

    # state ------------------------------------------------------------------------------------
    def put(self, doc: Any, obj_id: int, frame: int) -> None:
        uid = doc.project.object_uid(obj_id)
        doc.store.put(obj_id, frame, mask_for(uid, frame))
        self.frames.setdefault(uid, set()).add(frame)

    def add_object(self, doc: Any, name: str, frames: range) -> None:
        doc.add_object(name)
        for f in frames:
            self.put(doc, doc.project.active_object, f)

    def content(self, doc: Any) -> dict[str, Any]:
        p = doc.project
        return {"uid": p.uid, "seq": self.seq,
                "objects": [[o.id, o.uid, o.name] for o in p.objects],
                "masks": {o.uid: sorted(self.frames.get(o.uid, ())) for o in p.objects}}

    def bump(self, doc: Any) -> None:
        """A change a save must write: the content's number (what the checks recognise)."""
        self.seq += 1
        doc.project.settings["crash_seq"] = self.seq
        doc.mark_modified()

    def saved_project(self, path: Path, names: tuple[str, ...]) -> None:
        """A project saved at ``path`` (outside the window) with objects and masks."""
        from sam3roto.ui.document import Document

        doc = Document.open_media(self.cmd["media"], path)
        for name in names:
            self.add_object(doc, name, range(3))
        self.bump(doc)
        _emit({"ev": "begin", "seq": self.seq, "kind": "setup", "target": str(path), "content": self.content(doc),
               "t": time.monotonic()})
        doc.save()
        _emit({"ev": "end", "seq": self.seq, "t": time.monotonic()})
        doc.close()

    # the loop ---------------------------------------------------------------------------------
    def plan(self, scenario: str) -> Any:
        """(kind, Save-as target) for each save: kinds cycle through plain saves, Save as onto
        another project's file, Save as to a new file and Save as back onto the first file."""
        cycle = [("save", None), ("save_as", self.Q), ("save", None), ("save_as", "new"), ("save", None),
                 ("save_as", self.P)]
        start = {"first": 0, "plain": 0, "save_as_other": 1, "save_as_new": 3}[scenario]
        if scenario == "first":
            yield "first", self.P
        n = start
        while True:
            kind, target = cycle[n % len(cycle)]
            yield kind, (self.folder / f"new{n}.sam3roto" if target == "new" else target)
            n += 1

    def run(self) -> None:
        from sam3roto.ui.document import Document

        scenario = self.cmd["scenario"]
        self.saved_project(self.Q, ("other",))  # another project's file, for Save as onto it
        if scenario == "first":
            doc = Document.open_media(self.cmd["media"])  # unsaved: masks in the data folder
            self.add_object(doc, "a", range(3))
            self.add_object(doc, "b", range(3))
            doc.autosave()
            _emit({"ev": "unsaved", "content": self.content(doc), "folder": str(doc.store.root.parent)})
        else:
            self.saved_project(self.P, ("a", "b"))
            doc = Document.open_project(self.P)
            self.add_object(doc, "c", range(2))
        win = self.MainWindow(doc)
        saves = self.cmd["saves"]
        for j, (kind, target) in enumerate(self.plan(scenario)):
            if j == saves:
                if self.cmd["calibrate"]:
                    return
                time.sleep(3600)  # the kill comes later than planned: wait for it, nothing else
            if j > 0:  # edits between saves: a new object, or another mask of a kept one
                objects = doc.project.objects
                if j % 2 and len(objects) < MAX_OBJECTS:
                    self.add_object(doc, f"o{j}", range(2))
                else:
                    obj = objects[j % len(objects)]
                    if len(self.frames.get(obj.uid, ())) < FRAMES:
                        self.put(doc, obj.id, len(self.frames.get(obj.uid, ())))
            self.bump(doc)
            expected = doc.path if kind == "save" else target
            _emit({"ev": "begin", "seq": self.seq, "kind": kind, "target": str(expected),
                   "content": self.content(doc), "t": time.monotonic()})
            self.answer = target  # File > Save on an unsaved project asks where: this answers
            win.menu_actions["save" if kind in ("save", "first") else "save_as"].trigger()
            self.answer = None
            if doc.path is None or doc.path != expected or doc.dirty:
                self.fail(f"save {self.seq} ({kind}) did not save to {expected}: the document is at {doc.path}, "
                          f"dirty={doc.dirty}")
            _emit({"ev": "end", "seq": self.seq, "t": time.monotonic()})


def _zygote_main() -> None:
    """Fork one child per command line on stdin; report each child's end."""
    # what the children use, imported once here (a child forks in ~5 ms, an import costs 0.5 s)
    import sam3roto.core.workspace
    import sam3roto.pipeline.shot
    import sam3roto.ui.document
    import sam3roto.ui.errors
    import sam3roto.ui.main_window  # noqa: F401

    _emit({"ev": "zygote", "pid": os.getpid(), "threads": len(os.listdir("/proc/self/task"))})
    for line in sys.stdin.buffer:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _emit({"ev": "start", "pid": os.getpid(), "t": time.monotonic()})
                _Child(cmd).run()
            except BaseException as exc:
                _emit({"ev": "error", "message": "".join(traceback.format_exception(exc))[-(MAX_LINE - 200):]})
                code = 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        _emit({"ev": "reaped", "pid": pid, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
               "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None})


# -- the test process: starts the zygote, kills children, checks the files -----------------------

class _Zygote:
    def __init__(self, tmp: Path) -> None:
        env = dict(os.environ)
        env.update(QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", XDG_CONFIG_HOME=str(tmp / "config"),
                   PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))
        self.stderr_path = tmp / "zygote.stderr"
        code = "from tests.ui.test_crash_safety import _zygote_main; _zygote_main()"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, cwd=ROOT, env=env)
        self.buf = b""

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()

    def event(self, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"no event from the zygote in {timeout} s; stderr: {self.stderr()}")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError(f"the zygote ended (rc {self.proc.poll()}); stderr: {self.stderr()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _run_child(zygote: _Zygote, cmd: dict[str, Any], delay: float | None) -> tuple[list[dict[str, Any]], float]:
    """Run one child; with ``delay``, SIGKILL it ``delay`` s after its first save began.
    Returns its events and the delay actually waited (s)."""
    zygote.send(cmd)
    events: list[dict[str, Any]] = []
    pid, waited = None, 0.0
    while True:
        ev = zygote.event()
        events.append(ev)
        if ev["ev"] == "start":
            pid = ev["pid"]
        elif ev["ev"] == "begin" and ev["kind"] != "setup" and delay is not None and pid is not None:
            t0 = time.monotonic()
            while time.monotonic() - t0 < delay:  # spin: sleep() is too coarse for sub-ms delays
                pass
            waited = time.monotonic() - t0
            os.kill(pid, signal.SIGKILL)
            pid = None
        elif ev["ev"] == "reaped":
            return events, waited
        elif ev["ev"] == "error" and pid is not None:
            os.kill(pid, signal.SIGKILL)
            pid = None


def _phase(inflight: dict[str, Any] | None, unsaved: Path | None) -> str:
    """Where the kill landed, from the files left (read before anything opens them)."""
    if inflight is None:
        return "between saves"
    target = Path(inflight["target"])
    try:
        seq = json.loads(target.read_text(encoding="utf-8"))["settings"].get("crash_seq")
    except FileNotFoundError:
        seq = None
    except (OSError, ValueError, KeyError):
        return "unreadable project file"
    incoming = mask_store_dir(target).with_name(f".{mask_store_dir(target).name}.incoming").is_dir()
    if inflight["kind"] == "save":
        return "plain save: after commit" if seq == inflight["seq"] else "plain save: before commit"
    if seq != inflight["seq"]:
        return f"{inflight['kind']}: staging" if incoming else f"{inflight['kind']}: before staging"
    if incoming:
        return f"{inflight['kind']}: committed, not swapped"
    if inflight["kind"] == "first" and unsaved is not None and unsaved.is_dir():
        return "first: swapped, unsaved folder not removed"
    return f"{inflight['kind']}: swapped (window bookkeeping)"


def _check(events: list[dict[str, Any]], media: str) -> tuple[str, list[str]]:
    """The phase the kill hit and what is wrong with the files it left."""
    errors = [ev["message"] for ev in events if ev["ev"] == "error"]
    versions = {ev["seq"]: ev for ev in events if ev["ev"] == "begin"}
    ended = {ev["seq"] for ev in events if ev["ev"] == "end"}
    committed: dict[str, int] = {}
    inflight = None
    for seq, ev in versions.items():
        if seq in ended:
            committed[ev["target"]] = seq
        else:
            inflight = ev
    unsaved = next((ev for ev in events if ev["ev"] == "unsaved"), None)
    phase = _phase(inflight, Path(unsaved["folder"]) if unsaved is not None else None)
    acceptable = {path: {seq} for path, seq in committed.items()}
    if inflight is not None:
        acceptable.setdefault(inflight["target"], set()).add(inflight["seq"])
    for path_text, seqs in sorted(acceptable.items()):
        path = Path(path_text)
        name = path.name
        if not path.is_file():
            if path_text in committed:
                errors.append(f"{name}: saved (content {committed[path_text]}) but the file is gone")
            continue
        try:
            project = load_project(path)
        except Exception as exc:
            errors.append(f"{name}: does not load: {type(exc).__name__}: {exc}")
            continue
        seq = project.settings.get("crash_seq")
        if seq not in seqs:
            errors.append(f"{name}: holds content {seq}, expected one of {sorted(seqs)} (old or new)")
            continue
        content = versions[seq]["content"]
        objects = [[o.id, o.uid, o.name] for o in project.objects]
        if project.uid != content["uid"] or objects != content["objects"]:
            errors.append(f"{name}: content {seq} loads as project {project.uid} objects {objects}, saved as "
                          f"{content['uid']} {content['objects']}")
            continue
        try:
            store = open_mask_store(path, project)
        except Exception as exc:
            errors.append(f"{name}: its mask store does not open: {type(exc).__name__}: {exc}")
            continue
        root = mask_store_dir(path)
        for leftover in (root.with_name(f".{root.name}.incoming"), root.with_name(f".{root.name}.old")):
            if leftover.exists():
                errors.append(f"{name}: {leftover.name} is left after opening")
        ident = store_identity(root)
        if root.is_dir() and (ident is None or ident.get("project") != project.uid
                              or ident.get("token") != project.store_token):
            errors.append(f"{name}: store.json {ident} is not the project's ({project.uid}, {project.store_token})")
        for obj in project.objects:
            stored = store.frames(obj.id)
            missing = sorted(set(content["masks"][obj.uid]) - set(stored))
            if missing:
                errors.append(f"{name}: object {obj.name} lost its masks on frames {missing} (has {stored})")
            for f in stored:
                got = store.get(obj.id, f)
                if got is None or not np.array_equal(got, mask_for(obj.uid, f)):
                    errors.append(f"{name}: object {obj.name} frame {f}: the mask is not this object's")
    if unsaved is not None:
        content = unsaved["content"]
        first = next(ev for ev in versions.values() if ev["kind"] == "first")
        target = Path(first["target"])
        saved = target.is_file() and load_project(target).uid == content["uid"]
        listed = [u for u in list_unsaved(media) if u.uid == content["uid"]]
        if saved and listed:
            errors.append(f"the first save committed ({target.name} is the project) but the unsaved project is "
                          f"still offered for recovery ({listed[0].describe()})")
        elif not saved and not listed:
            errors.append(f"the first save did not commit and the unsaved project is no longer offered "
                          f"(folder {unsaved['folder']}: {_tree(Path(unsaved['folder']))})")
        elif not saved:
            project, store = recover_unsaved(listed[0])
            objects = [[o.id, o.uid, o.name] for o in project.objects]
            if objects != content["objects"]:
                errors.append(f"the unsaved project recovers objects {objects}, had {content['objects']}")
            for obj in project.objects:
                for f in content["masks"].get(obj.uid, ()):
                    got = store.get(obj.id, f)
                    if got is None or not np.array_equal(got, mask_for(obj.uid, f)):
                        errors.append(f"the unsaved project's object {obj.name} frame {f}: mask lost or wrong")
    return phase, errors


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.is_dir() else ["(absent)"]


def _clip(folder: Path) -> str:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        cv2.imwrite(str(folder / f"plate.{1001 + i}.png"), rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    return str(folder / "plate.####.png")


@pytest.mark.timeout(60)
def test_kill_during_window_saves_leaves_old_or_new_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    monkeypatch.setenv("SAM3ROTO_DATA_DIR", str(tmp_path / "data"))
    media = _clip(tmp_path / "plate")
    base = {"media": media, "settings": str(tmp_path / "qsettings")}
    zygote = _Zygote(tmp_path)
    try:
        hello = zygote.event()
        assert hello["ev"] == "zygote" and hello["threads"] == 1, hello  # forks copy one thread: no others
        # calibration: each scenario saved 3 times, not killed; the files must check out too
        first_save, three_saves = {}, {}
        for scenario in sorted(set(SCENARIOS)):
            cmd = {**base, "scenario": scenario, "dir": str(tmp_path / f"calibrate-{scenario}"), "saves": 3,
                   "calibrate": True}
            events, _ = _run_child(zygote, cmd, None)
            phase, errors = _check(events, media)
            assert not errors and events[-1]["code"] == 0, (scenario, errors, events[-1], zygote.stderr())
            begins = [ev for ev in events if ev["ev"] == "begin" and ev["kind"] != "setup"]
            ends = {ev["seq"]: ev["t"] for ev in events if ev["ev"] == "end"}
            first_save[scenario] = ends[begins[0]["seq"]] - begins[0]["t"]
            three_saves[scenario] = ends[begins[-1]["seq"]] - begins[0]["t"]

        rng = random.Random(SEED)
        phases: collections.Counter[str] = collections.Counter()
        failures, delays = [], []
        for i in range(KILLS):
            scenario = SCENARIOS[i % len(SCENARIOS)]
            # half the kills in the first save's file work (its first ~60%: staging, commit, swap),
            # a quarter over the whole first save, a quarter over three saves and the edits between
            share = rng.random()
            span = first_save[scenario] * (0.6 if share < 0.5 else 1.2) if share < 0.75 else three_saves[scenario]
            delay = rng.uniform(0, span)
            cmd = {**base, "scenario": scenario, "dir": str(tmp_path / f"kill{i:03d}"), "saves": 60,
                   "calibrate": False}
            events, waited = _run_child(zygote, cmd, delay)
            delays.append(waited)
            reaped = events[-1]
            phase, errors = _check(events, media)
            if reaped["signal"] != signal.SIGKILL:
                errors.append(f"the child was not killed: {reaped}")
            phases[f"{scenario:13s} {phase}"] += 1
            if errors:
                failures.append(f"kill {i}, scenario {scenario}, {waited * 1000:.2f} ms after the first save began, "
                                f"phase {phase!r}: " + "; ".join(errors))
    finally:
        zygote.close()
    elapsed = time.monotonic() - started
    ms = sorted(d * 1000 for d in delays)
    print(f"\n{KILLS} kills in {elapsed:.1f} s; first save took "
          + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sorted(first_save.items()))
          + f"; delays {ms[0]:.2f}..{ms[-1]:.2f} ms (median {ms[len(ms) // 2]:.2f})")
    for key, count in sorted(phases.items()):
        print(f"  {count:3d}  {key}")
    assert not failures, f"{len(failures)} of {KILLS} kills left a broken project:\n" + "\n".join(failures[:20])
