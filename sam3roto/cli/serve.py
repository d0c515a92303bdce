"""``serve [--host 127.0.0.1] [--port 8000] [--data DIR]``: the web app for annotation
teams (seed 002), one process, runs on one worker that owns the device."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sam3roto.errors import Sam3RotoError


def default_data() -> Path:
    """``sam3roto-serve`` in the user's data folder (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("sam3roto", appauthor=False)) / "serve"


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise Sam3RotoError("serve needs fastapi and uvicorn", hint="pip install -r requirements.txt") from None
    from sam3roto.server.app import create_app, settings_from
    from sam3roto.server.store import access_token

    if args.max_upload_mb is not None and args.max_upload_mb < 1:
        print("error: --max-upload-mb must be 1 or more", file=sys.stderr)
        return 2
    if args.max_frames is not None and args.max_frames < 1:
        print("error: --max-frames must be 1 or more", file=sys.stderr)
        return 2
    data = Path(args.data) if args.data else default_data()
    try:
        token, made = access_token(data)
    except OSError as exc:
        raise Sam3RotoError(f"cannot write the access token ({exc.strerror or exc})", path=data) from None
    settings = settings_from(data, max_upload_mb=args.max_upload_mb, max_frames=args.max_frames, device=args.device)
    app = create_app(settings, token)
    where = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/"
    if made:
        print(f"access token (printed this once; it is also in {data / 'token'}, readable by you only):\n  {token}")
    print(f"sam3roto serve: jobs in {data}; open {where}?token=<access token> (API docs at {where}docs)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}: anyone who can reach this port and holds the token can use it; "
              "put it behind a reverse proxy with TLS (README: serve)", flush=True)
    # no access log unless asked: it would write ?token= query strings into the log
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=args.access_log)
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="the web app for annotation teams: upload, propagate, download masks in a browser",
        description="Serve seed 002's web app and its JSON API (FastAPI; API docs at /docs): upload a video, a ZIP of "
        "frames or images and a Label Studio export (or place points and boxes on a frame), propagate, scrub the "
        "masks, download a mask ZIP or any render output. Jobs run one at a time on a worker that owns the device, "
        "the others queued. Every request needs the access token made at the first start (DATA/token).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", help="folder for the jobs and the token (default: sam3roto/serve in the user data folder)")
    p.add_argument("--max-upload-mb", type=int, dest="max_upload_mb", help="largest upload in MB (default 8192)")
    p.add_argument("--max-frames", type=int, dest="max_frames", help="most frames a job's media may have "
                   "(default 100000)")
    p.add_argument("--device", help="the worker's device for the engines (cuda, cpu; default: the engine's choice)")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    p.add_argument("--access-log", action="store_true", dest="access_log",
                   help="log every request (its address holds the token when a client sends it as ?token=)")
    p.set_defaults(func=cmd_serve)
