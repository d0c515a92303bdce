"""How the command line ends on errors it did not plan for: one bounded line, exit 1."""

from __future__ import annotations

import argparse

import pytest

from sam3roto import cli
from sam3roto.errors import MediaError


def _main_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> int:
    def boom(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(cli, "cmd_info", boom)
    return cli.main(["info", "x.mp4"])


def test_a_huge_error_message_is_cut_to_one_readable_line(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    choices = ", ".join(str(n) for n in range(600_000))
    assert _main_with(monkeypatch, MediaError(f"pick one of {choices}", path="export.json", hint="--task ID")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: export.json: pick one of 0, 1, 2")
    assert err.rstrip().endswith("599999 (--task ID)")
    assert "characters left out" in err
    assert len(err) < cli.MAX_ERROR_CHARS + 100


def test_running_out_of_memory_is_an_error_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _main_with(monkeypatch, MemoryError()) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ran out of memory") and "SAM3ROTO_MAX_FRAME_BYTES" in err
    assert "Traceback" not in err
