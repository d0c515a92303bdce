"""What killed writers leave, and what the next run does with it: staging folders of
renders (live kept, dead removed, another machine's kept until abandoned), dense version
numbers, temporary files of saves and of the mask store, and the words for a full disk."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from sam3roto.core.atomic import (
    TEMP_ABANDONED_AFTER,
    Writer,
    atomic_write_text,
    os_reason,
    process_space,
    remove_stale_temps,
)
from sam3roto.core.depthcache import DepthCache
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.project_io import load_project, mask_store_dir, open_mask_store, save_project
from sam3roto.errors import ProjectError, Sam3RotoError
from sam3roto.export.base import write_atomic
from sam3roto.export.exr import write_exr
from sam3roto.export.naming import (
    ABANDONED_AFTER,
    FARM_ABANDONED_AFTER,
    FARM_FILE,
    ORPHAN_AFTER,
    OWNER_FILE,
    existing_versions,
    is_stale,
    merge_part,
    publish_version,
    remove_stale,
    reserve_part,
    reserve_version,
    settle_parts,
)
from sam3roto.pipeline.render import RenderOptions, publish_parts, render_job
from sam3roto.pipeline.shot import new_project
from tests.export.conftest import RenderShot
from tests.hostile import assert_clean_error, run_cli

DISK_FULL = "disk full (No space left on device)"
OTHER_SPACE = "0badc0de"  # a machine (or container) whose pids mean nothing here


# -- processes to own things ------------------------------------------------------------------

@pytest.fixture
def sleeper() -> Iterator[psutil.Process]:
    """A live process (not this one) to own folders and temporary files."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield psutil.Process(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def gone() -> tuple[int, float]:
    """The pid and start time of a process that has ended (and was reaped)."""
    proc = subprocess.Popen(["sleep", "120"])
    started = psutil.Process(proc.pid).create_time()
    proc.kill()
    proc.wait()
    return proc.pid, started


def hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process holding an exclusive lock on ``path`` until it is killed."""
    code = ("import fcntl, sys, time\nf = open(sys.argv[1], 'r+')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\ntime.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def owned(folder: Path, *, pid: int, started: float, space: str | None = None, host: str = "this-host") -> Path:
    """``folder`` with an owner record naming ``pid`` (of ``space``, this one by default)
    and one file, as a render writing it would have."""
    folder.mkdir(parents=True)
    record = {"host": host, "space": space or process_space(), "pid": pid, "started": started}
    (folder / OWNER_FILE).write_text(json.dumps(record))
    (folder / "exr").mkdir()
    (folder / "exr" / ".shot.1001.exr.partial.exr").write_bytes(b"half an EXR")
    return folder


def age(folder: Path, seconds: float) -> None:
    """Make everything in ``folder`` (itself included) last changed ``seconds`` ago."""
    when = time.time() - seconds
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(path, (when, when), follow_symlinks=False)
    os.utime(folder, (when, when))


# -- staging folders: live kept, dead removed -----------------------------------------------

def test_a_live_owners_folder_is_kept_and_a_dead_ones_removed(tmp_path: Path, sleeper: psutil.Process) -> None:
    root = tmp_path / "renders"
    (root / "v001").mkdir(parents=True)
    live = owned(root / ".v002.partial", pid=sleeper.pid, started=sleeper.create_time())
    dead_pid, dead_started = gone()
    dead = owned(root / ".v003.partial", pid=dead_pid, started=dead_started)
    reused = owned(root / ".v004.partial", pid=sleeper.pid, started=sleeper.create_time() - 3600)  # pid reused
    zombie = subprocess.Popen(["sleep", "0"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:  # ended, not yet reaped
        time.sleep(0.01)
    killed = owned(root / ".v005.partial", pid=zombie.pid, started=psutil.Process(zombie.pid).create_time())

    assert not is_stale(live) and is_stale(dead) and is_stale(reused) and is_stale(killed)
    assert existing_versions(root) == [1, 2]  # leftovers use no number, even before they are removed
    assert sorted(remove_stale(root)) == [dead, reused, killed]
    assert sorted(p.name for p in root.iterdir()) == [".v002.partial", "v001"]
    assert (live / "exr" / ".shot.1001.exr.partial.exr").read_bytes() == b"half an EXR"  # untouched
    assert reserve_version(root)[0] == 3  # after the last finished or live version
    zombie.wait()


def test_a_dead_owner_whose_lock_is_held_is_kept(tmp_path: Path) -> None:
    pid, started = gone()
    folder = owned(tmp_path / ".v001.partial", pid=pid, started=started)
    holder = hold_lock(folder / OWNER_FILE)
    try:
        assert not is_stale(folder)  # something (a process in another namespace?) still works there
        assert remove_stale(tmp_path) == []
    finally:
        holder.kill()
        holder.wait()
    assert is_stale(folder)


def test_another_machines_folder_is_kept_until_abandoned_and_unlocked(tmp_path: Path) -> None:
    folder = owned(tmp_path / ".v001.partial", pid=1, started=0.0, space=OTHER_SPACE, host="render-node-7")
    assert not is_stale(folder)  # its pid means nothing here: a live render over there
    age(folder, ABANDONED_AFTER - 600)
    assert not is_stale(folder)
    age(folder, ABANDONED_AFTER + 600)
    holder = hold_lock(folder / OWNER_FILE)  # the owner holds its lock: alive, however quiet
    try:
        assert not is_stale(folder) and remove_stale(tmp_path) == []
    finally:
        holder.kill()
        holder.wait()
    age(folder, ABANDONED_AFTER + 600)
    assert remove_stale(tmp_path) == [folder] and not folder.exists()


def test_a_folder_without_owner_record_is_removed_when_old(tmp_path: Path) -> None:
    folder = tmp_path / ".v001.partial"  # an older sam3roto's staging folder
    (folder / "person").mkdir(parents=True)
    (folder / "person" / "shot_person.1001.png").write_bytes(b"png")
    assert not is_stale(folder) and existing_versions(tmp_path) == [1]
    age(folder, ORPHAN_AFTER + 60)
    assert existing_versions(tmp_path) == []
    assert reserve_version(tmp_path)[0] == 1


def test_this_process_keeps_its_own_folders_and_publishes_them_without_owner(tmp_path: Path) -> None:
    v1, staging1 = reserve_version(tmp_path)
    v2, _ = reserve_version(tmp_path)
    assert (v1, v2) == (1, 2) and (staging1 / OWNER_FILE).is_file()
    record = Writer.from_dict(json.loads((staging1 / OWNER_FILE).read_text()))
    assert record is not None and record.pid == os.getpid() and record.here and record.alive()
    assert not is_stale(staging1) and remove_stale(tmp_path) == []
    (staging1 / "a.png").write_bytes(b"a")
    final = publish_version(staging1, v1)
    assert sorted(p.name for p in final.iterdir()) == ["a.png"]  # the record is never published
    assert reserve_version(tmp_path)[0] == 3


def test_numbers_stay_dense_after_killed_renders(tmp_path: Path, sleeper: psutil.Process) -> None:
    root = tmp_path
    for n in (1, 2):
        (root / f"v00{n}").mkdir()
    pid, started = gone()
    for n in (3, 4, 5):
        owned(root / f".v00{n}.partial", pid=pid, started=started)
    # killed while its staging folder was being born (no owner record yet), and killed
    # while a leftover was being deleted
    (root / f".v006.new-{process_space()}-{pid}-0123abcd").mkdir()
    (root / ".v007.partial.stale-89abcdef" / "exr").mkdir(parents=True)
    # the same while another process is alive: kept
    (root / f".v008.new-{process_space()}-{sleeper.pid}-0123abcd").mkdir()
    (root / "notes.txt").write_text("not ours")
    assert existing_versions(root) == [1, 2]
    number, staging = reserve_version(root)
    assert number == 3
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [".v003.partial", f".v008.new-{process_space()}-{sleeper.pid}-0123abcd", "notes.txt", "v001", "v002"])
    assert read_pid(staging) == os.getpid()


def read_pid(folder: Path) -> int:
    return int(json.loads((folder / OWNER_FILE).read_text())["pid"])


def test_a_version_asked_for_by_number_reuses_a_dead_renders_folder(tmp_path: Path,
                                                                    sleeper: psutil.Process) -> None:
    pid, started = gone()
    owned(tmp_path / ".v004.partial", pid=pid, started=started)
    assert reserve_version(tmp_path, 4)[0] == 4
    owned(tmp_path / ".v005.partial", pid=sleeper.pid, started=sleeper.create_time())
    with pytest.raises(Sam3RotoError, match="v005 is being written by another render"):
        reserve_version(tmp_path, 5)


# -- farm folders -------------------------------------------------------------------------------

def test_farm_folders_keep_finished_parts_and_retries_replace_killed_tasks(tmp_path: Path,
                                                                           sleeper: psutil.Process) -> None:
    root = tmp_path
    shared, part = reserve_part(root, 3, 0, 4)
    assert (shared / FARM_FILE).is_file() and read_pid(part) == os.getpid()
    (part / "a.png").write_bytes(b"a")
    merge_part(part, shared)
    assert not part.exists() and (shared / "a.png").is_file() and not (shared / OWNER_FILE).exists()
    assert not is_stale(shared) and existing_versions(root) == [3]  # waits for its other tasks
    # a task killed outright, then retried (here, or on another machine)
    pid, started = gone()
    killed = owned(shared / ".part-000005-000009", pid=pid, started=started)
    elsewhere = owned(shared / ".part-000010-000014", pid=1, started=0.0, space=OTHER_SPACE)
    assert reserve_part(root, 3, 5, 9)[1] == killed and read_pid(killed) == os.getpid()
    assert reserve_part(root, 3, 10, 14)[1] == elsewhere and read_pid(elsewhere) == os.getpid()
    # a task still running is never replaced, and holds the publication back
    running = owned(shared / ".part-000015-000019", pid=sleeper.pid, started=sleeper.create_time())
    with pytest.raises(Sam3RotoError, match=r"frame indices 15-19 \(process \d+ on this-host\) of v003 are being "
                                            "rendered by another task"):
        reserve_part(root, 3, 15, 19)
    assert settle_parts(shared)[-1] == f"frame indices 15-19 (process {sleeper.pid} on this-host)"
    assert (running / OWNER_FILE).is_file()
    # a farm folder nobody wrote to for a week, with no task alive, is abandoned
    for p in (killed, elsewhere):
        merge_part(p, shared)
    shutil.rmtree(running)
    age(shared, FARM_ABANDONED_AFTER - 3600)
    assert not is_stale(shared)
    age(shared, FARM_ABANDONED_AFTER + 3600)
    assert remove_stale(root) == [shared] and existing_versions(root) == []


def test_publishing_waits_for_running_tasks_and_drops_killed_ones(render_shot: RenderShot, tmp_path: Path,
                                                                  sleeper: psutil.Process) -> None:
    root = tmp_path / "renders"
    options = RenderOptions(outputs=("png-alpha",), part=True, version=2, indices=tuple(range(8)))
    for _ in render_job(render_shot.project, render_shot.source, render_shot.store, root, options):
        pass
    shared = root / ".v002.partial"
    pid, started = gone()
    killed = owned(shared / ".part-000000-000003", pid=pid, started=started)  # its retry rendered these frames
    running = owned(shared / ".part-000004-000007", pid=sleeper.pid, started=sleeper.create_time())
    with pytest.raises(Sam3RotoError, match=rf"a task is still writing frame indices 4-7 \(process {sleeper.pid} on "
                                            r"this-host\); publish when it has finished"):
        publish_parts(root, 2, range(8))
    assert not killed.exists() and running.exists()
    shutil.rmtree(running)
    final = publish_parts(root, 2, range(8))
    assert sorted(p.name for p in final.iterdir()) == ["2_car", "manifest.json", "person"]
    assert sorted(p.name for p in root.iterdir()) == ["v002"]


def test_a_render_outside_the_farm_job_keeps_its_number(tmp_path: Path) -> None:
    _, staging = reserve_version(tmp_path)
    with pytest.raises(Sam3RotoError, match=r"v001 is being written by a render outside the farm job \(process "):
        reserve_part(tmp_path, 1, 0, 9)
    assert (staging / OWNER_FILE).is_file()


# -- temporary files ----------------------------------------------------------------------------

def _leave_temp(target: Path) -> Path:
    """A process that made ``target``'s temporary file, wrote half of it and was killed."""
    code = ("import os, sys\nfrom pathlib import Path\nfrom sam3roto.core.atomic import temp_for\n"
            "fd, tmp = temp_for(Path(sys.argv[1]))\nos.write(fd, b'x' * 4096)\nprint(tmp, flush=True)\n"
            "os.kill(os.getpid(), 9)")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=root,
                          timeout=60)
    assert proc.returncode == -9, proc.stderr
    left = Path(proc.stdout.strip())
    assert left.is_file() and left.parent == target.parent
    return left


def test_temp_file_rules(tmp_path: Path, sleeper: psutil.Process) -> None:
    here = process_space()
    dead, _ = gone()
    names = {
        f".shot.sam3roto.{here}-{dead}.abcd_123.tmp": True,  # its writer is gone
        f".shot.sam3roto.{here}-{sleeper.pid}.abcd_123.tmp": False,  # a live writer's
        f".shot.sam3roto.{here}-{os.getpid()}.abcd_123.tmp": False,  # this process's own
        f".shot.sam3roto.{OTHER_SPACE}-{dead}.abcd_123.tmp": False,  # another machine's, recent
        ".shot.sam3roto.k2j4h5g6.tmp": False,  # an older sam3roto's, recent
        f".other.sam3roto.{here}-{dead}.abcd_123.tmp": False,  # not a name asked about
        "notes.tmp": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path, ["shot.sam3roto"])
    assert sorted(p.name for p in removed) == sorted(n for n, gone_ in names.items() if gone_)
    old = time.time() - TEMP_ABANDONED_AFTER - 60
    for name in (f".shot.sam3roto.{OTHER_SPACE}-{dead}.abcd_123.tmp", ".shot.sam3roto.k2j4h5g6.tmp",
                 "shot.sam3roto.k2j4h5g6.tmp", f".shot.sam3roto.{here}-{sleeper.pid}.abcd_123.tmp"):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    assert sorted(p.name for p in remove_stale_temps(tmp_path, ["shot.sam3roto"])) == sorted(
        [f".shot.sam3roto.{OTHER_SPACE}-{dead}.abcd_123.tmp", ".shot.sam3roto.k2j4h5g6.tmp",
         "shot.sam3roto.k2j4h5g6.tmp"])  # a live writer's is kept however old
    (tmp_path / "masks.k2j4h5g6.tmp").write_bytes(b"x")
    os.utime(tmp_path / "masks.k2j4h5g6.tmp", (old, old))
    # without names (a folder only sam3roto writes): every dotted name of ours, no other
    assert [p.name for p in remove_stale_temps(tmp_path)] == [f".other.sam3roto.{here}-{dead}.abcd_123.tmp"]


def test_a_killed_save_leaves_nothing_after_the_next_save(tmp_path: Path, sleeper: psutil.Process) -> None:
    target = tmp_path / "shot.sam3roto"
    atomic_write_text(target, "one")
    left = _leave_temp(target)
    live = tmp_path / f".shot.sam3roto.{process_space()}-{sleeper.pid}.abcd_123.tmp"
    live.write_bytes(b"being written")
    atomic_write_text(target, "two")  # a record or autosave write does not list the folder
    assert left.exists()
    atomic_write_text(target, "three", sweep=True)  # a save (save_project) does
    assert not left.exists() and live.is_file() and target.read_text() == "three"


def test_leftovers_of_the_store_and_project_go_when_it_is_opened(tmp_path: Path, plate: Path,
                                                                 sleeper: psutil.Process) -> None:
    project, source = new_project(plate)
    source.close()
    obj = project.add_object("disc")
    path = save_project(project, tmp_path / "shot.sam3roto")
    store = open_mask_store(path, project)
    store.put(obj.id, 0, np.ones((240, 320), bool))
    store.key_masks().put(obj.id, 0, np.ones((240, 320), bool))
    store.record_track(obj.id, {0: (1.0, "k0")})
    left = [_leave_temp(store.path(obj.id, 1)), _leave_temp(store.key_masks().path(obj.id, 2)),
            _leave_temp(mask_store_dir(path) / "obj_0001" / "track.json"), _leave_temp(path)]
    live = store.path(obj.id, 3).with_name(f".000003.png.{process_space()}-{sleeper.pid}.abcd_123.tmp")
    live.write_bytes(b"being written")
    reopened = open_mask_store(path, load_project(path))
    assert not any(p.exists() for p in left) and live.is_file()
    assert reopened.frames(obj.id) == [0] and reopened.track_records(obj.id) == {0: (1.0, "k0")}


def test_a_killed_depth_runs_temporary_files_go_when_the_cache_is_opened(tmp_path: Path) -> None:
    cache = DepthCache(tmp_path / "shot.depth")
    cache.put(0, np.ones((4, 4), np.float32), np.ones((4, 4), np.float32))
    left = _leave_temp(cache.path(1))
    DepthCache(tmp_path / "shot.depth")
    assert not left.exists() and cache.path(0).is_file()


# -- a full disk --------------------------------------------------------------------------------

def _enospc(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_os_reasons_are_said_in_words() -> None:
    assert os_reason(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) == DISK_FULL
    assert os_reason(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))) == "disk quota exceeded (Disk quota exceeded)"
    assert os_reason(OSError(errno.EACCES, os.strerror(errno.EACCES))) == "Permission denied"
    assert os_reason(RuntimeError('Failed to write "a.exr". No space left on device.')) == DISK_FULL
    assert os_reason(RuntimeError("bad header")) == "bad header"


def test_output_files_on_a_full_disk_are_named_with_the_reason(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "shot.1001.png"
    monkeypatch.setattr("sam3roto.export.base.os.replace", _enospc)
    with pytest.raises(Sam3RotoError) as err:
        write_atomic(target, b"png")
    assert str(err.value) == (f"{target}: could not write the file: {DISK_FULL} (free space on that disk or render "
                              "to another folder; no version was published)")
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()

    import OpenEXR

    class FullDisk:  # the bindings report a full disk as a RuntimeError with the system's words
        def __init__(self, *_: object) -> None:
            pass

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def write(self, name: str) -> None:
            raise RuntimeError(f'Failed to write pixel data to image file "{name}". No space left on device.')

    monkeypatch.setattr(OpenEXR, "File", FullDisk)
    exr = tmp_path / "shot.1001.exr"
    with pytest.raises(Sam3RotoError, match=rf"^{exr}: could not write the EXR: disk full \(No space left on device\)"):
        write_exr(exr, {"A": np.zeros((2, 2), np.float16)}, "zip", {})


def test_a_render_whose_folder_cannot_be_made_names_it(render_shot: RenderShot, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"

    def no_folder(self: object, frame: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / ".v001.partial" / "person"))

    monkeypatch.setattr("sam3roto.export.png.PngAlpha.write", no_folder)
    job = render_job(render_shot.project, render_shot.source, render_shot.store, root,
                     RenderOptions(outputs=("png-alpha",)))
    with pytest.raises(Sam3RotoError) as err:
        for _ in job:
            pass
    assert str(err.value).startswith(f"{root / '.v001.partial' / 'person'}: cannot be written: {DISK_FULL}")
    assert list(root.iterdir()) == []


def test_a_save_on_a_full_disk_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "shot.sam3roto"
    monkeypatch.setattr("sam3roto.core.atomic.os.fsync", _enospc)
    with pytest.raises(OSError) as err:
        atomic_write_text(target, "{}")
    assert err.value.errno == errno.ENOSPC and err.value.strerror == DISK_FULL
    assert err.value.filename == str(target) and not list(tmp_path.iterdir())
    with pytest.raises(ProjectError, match=re.escape(f"shot.sam3roto: cannot be written: {DISK_FULL}")):
        save_project(Project(), target)
    with pytest.raises(ProjectError, match=r"track.json: the mask store record cannot be written: disk full"):
        MaskStore(tmp_path / "masks").record_track(1, {0: (1.0, "k0")})


# -- a real full disk (a tiny tmpfs; needs root) ------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount(options)``: a fresh tmpfs mounted with ``options`` (``size=64k``); skips
    where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small tmpfs needs root")
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"a tmpfs cannot be mounted here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` with a file, then free ``leave`` bytes of it."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        written = 0
        while True:
            try:
                written += os.write(fd, b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        os.ftruncate(fd, max(0, written - leave))
    finally:
        os.close(fd)


@pytest.fixture
def tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    from tests.export.test_kill_render import tiny_project

    path = tiny_project(tmp_path / "tiny", frames=6)
    capsys.readouterr()
    return path


def test_renders_on_a_full_disk_name_the_file_and_say_disk_full(tiny: Path,
                                                                small_disk: Callable[[str], Path]) -> None:
    # no room for the files, then for the manifest, then no inode left for a folder
    for options, outputs in (("size=64k", "png-alpha,exr"), ("size=8k", "exr"), ("size=4m,nr_inodes=4", "exr")):
        out = small_disk(options) / "renders"
        proc = run_cli("render", tiny, "--outputs", outputs, "--out", out, "--quiet")
        text = assert_clean_error(proc, str(out / ".v001.partial"), DISK_FULL)
        assert "[Errno" not in text and "Traceback" not in text
        assert not out.exists() or [p.name for p in out.iterdir()] == []  # nothing half-written stays


def test_a_track_on_a_full_disk_says_disk_full_and_resumes_once_there_is_room(
        tiny: Path, small_disk: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    disk = small_disk("size=512k")
    project = disk / "shot.sam3roto"
    plate, prompts = tiny.parent / "plate", tiny.parent / "prompts.json"
    from sam3roto.cli import main

    assert main(["track", str(plate), "--project", str(project), "--prompts", str(prompts), "--frames", "1001",
                 "--quiet"]) == 0
    _fill(disk, leave=20 * 1024)  # room for the project file and a few masks, not for all
    proc = run_cli("track", project, "--quiet")
    # the first failure is reported (the store's file), not the project save failing after it
    text = assert_clean_error(proc, "shot.masks", DISK_FULL)
    assert "disk full (disk full" not in text
    assert "[Errno" not in text
    (disk / "filler").unlink()
    assert not [p for p in disk.rglob("*.tmp")]
    capsys.readouterr()
    assert main(["track", str(project), "--quiet"]) == 0
    assert "object 1 'disc': frames 1001-1006" in capsys.readouterr().out


def test_saved_files_get_the_mode_new_files_get_not_a_private_temp_mode(tmp_path: Path) -> None:
    from sam3roto.core.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        target = tmp_path / "shot.sam3roto"
        atomic_write_text(target, "{}")
        assert target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_farm_job_takes_over_a_killed_renders_folder_of_its_version(tmp_path: Path) -> None:
    """`farm` gives the job the number a killed render freed (leftovers use no number); its
    tasks replace that leftover instead of each refusing the version."""
    root = tmp_path / "renders"
    (root / "v001").mkdir(parents=True)
    pid, started = gone()
    owned(root / ".v002.partial", pid=pid, started=started)
    assert existing_versions(root) == [1]
    shared, part = reserve_part(root, 2, 0, 4)
    assert part.parent == shared and part.is_dir()
    assert shared == root / ".v002.partial" and (shared / FARM_FILE).is_file()
    assert not (shared / OWNER_FILE).exists() and not (shared / "exr").exists()  # the leftover is gone
    assert reserve_part(root, 2, 5, 9)[0] == shared  # the next task joins it


def test_a_live_farm_version_is_judged_without_listing_every_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A farm folder that changed recently is live after a few lstat calls, not one per file."""
    shared = tmp_path / ".v003.partial"
    shared.mkdir()
    (shared / FARM_FILE).write_text("{}")
    for i in range(300):
        (shared / f"shot.{i:04d}.exr").write_bytes(b"x")
    calls = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    assert not is_stale(shared)
    assert len(calls) < 5, len(calls)
