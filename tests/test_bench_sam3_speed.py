"""bench/sam3_speed.py end to end on tiny models (the bench itself builds full-size ones)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

# torch and transformers are test requirements (requirements-dev.txt): a missing install fails loudly
import torch  # noqa: F401
import transformers  # noqa: F401

from tests.benchload import load_bench


def _bench() -> ModuleType:
    return load_bench("sam3_speed")


def test_synthetic_clip_boxes_hold_the_discs() -> None:
    bench = _bench()
    for objects in (1, 8):
        frames, boxes = bench.synthetic_clip(3, 160, 90, objects)
        assert frames.shape == (3, 90, 160, 3) and frames.dtype == np.uint8
        assert len(boxes) == objects
        background = frames[0].copy()
        for b in boxes:
            x0, y0, x1, y1 = (int(v) for v in b.xyxy_px)
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 90
            background[y0:y1 + 1, x0:x1 + 1] = 0
        # outside the boxes frame 0 is the plain gradient (blue channel 90)
        assert set(np.unique(background[..., 2])) <= {0, 90}
        assert not np.array_equal(frames[0], frames[-1])  # the discs move


def test_runs_on_tiny_models_and_reports_identical_masks(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    from tests.backends.sam3_tiny import build_tiny_models

    monkeypatch.setattr(bench, "build_full_size", lambda detector=True: build_tiny_models(text=detector))
    assert bench.main(["--device", "cpu", "--frames", "5", "--batch", "2", "--width", "64", "--height", "48"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT device=cpu fps_1obj_1080=")
    kv = dict(item.split("=", 1) for item in last.split()[1:])
    assert list(kv)[:7] == ["device", "fps_1obj_1080", "fps_8obj_1080", "fps_1obj_4k", "p95_ratio", "gpu_mem_gb",
                            "identical"]
    for key in ("fps_1obj_1080", "fps_8obj_1080", "fps_1obj_4k", "p95_ratio", "model_gb_bf16"):
        assert float(kv[key]) > 0
    assert kv["gpu_mem_gb"] == "na" and kv["identical"] == "1"
    # the backbone is shared: counted once, less than tracker + detector separately
    assert float(kv["model_gb_bf16"]) <= float(kv["model_gb_bf16_unshared"])
    assert "backbone shared:" in out


def test_unknown_case_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _bench().main(["--cases", "2obj_720"])
    assert "unknown case" in capsys.readouterr().err
