"""Whether a model's weights are present and where (what Settings shows), without torch:
an empty Hugging Face cache reports them missing, a snapshot with config.json +
model.safetensors present with its folder, a zero-byte model.safetensors incomplete; a
given folder is checked the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sam3roto.backends import da3, sam3
from sam3roto.backends.weights import find_weights
from sam3roto.errors import ModelNotInstalledError


def fake_snapshot(cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache entry for ``repo_id`` (``refs/main`` -> one snapshot folder)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return snapshot


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "hf"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    return folder


def test_an_empty_cache_reports_the_weights_missing_and_where_it_looked(cache: Path) -> None:
    status = sam3.weights_status("facebook/sam3")
    assert not status.present and status.folder is None and status.in_cache
    assert status.looked_in == cache / "models--facebook--sam3"
    assert status.describe() == f"no weights: looked in {cache / 'models--facebook--sam3'} " \
        "(missing: a downloaded snapshot)"
    status = da3.weights_status("small")
    assert not status.present and status.looked_in == cache / "models--depth-anything--DA3-SMALL"
    with pytest.raises(ModelNotInstalledError, match="DA3-SMALL' are not in the Hugging Face cache") as e:
        da3.resolve_model_dir("small")
    assert e.value.path == cache / "models--depth-anything--DA3-SMALL"


def test_a_complete_snapshot_is_present_with_its_folder(cache: Path) -> None:
    files = {"config.json": b"{}", "model.safetensors": b"weights"}
    snap = fake_snapshot(cache, "facebook/sam3", files)
    status = sam3.weights_status("facebook/sam3")
    assert status.present and status.folder == snap and status.missing == ()
    assert status.describe() == f"weights found in {snap}"
    assert sam3.resolve_model_dir("facebook/sam3") == snap
    snap = fake_snapshot(cache, "depth-anything/DA3-BASE", files)
    assert da3.weights_status("base").folder == snap  # a preset name
    assert da3.weights_status("depth-anything/DA3-BASE").present  # a repository id (Settings' field)


def test_a_zero_byte_weights_file_is_incomplete(cache: Path) -> None:
    snap = fake_snapshot(cache, "depth-anything/DA3-SMALL", {"config.json": b"{}", "model.safetensors": b""})
    status = da3.weights_status("small")
    assert not status.present and status.folder == snap
    assert status.missing == ("model.safetensors (model.safetensors is empty: incomplete download?)",)
    assert status.describe().startswith(f"no weights: looked in {snap} (missing: model.safetensors")
    with pytest.raises(ModelNotInstalledError, match=r"no model\.safetensors .*empty") as e:
        da3.resolve_model_dir("small")
    assert e.value.path == snap


def test_a_given_folder(tmp_path: Path) -> None:
    status = sam3.weights_status(model_dir=tmp_path / "nowhere")
    assert not status.present and status.folder is None and not status.in_cache
    assert status.describe() == f"no weights: looked in {tmp_path / 'nowhere'} (missing: the folder itself)"
    folder = tmp_path / "w"
    folder.mkdir()
    assert sam3.weights_status(model_dir=folder).missing == ("config.json", "model.safetensors")
    (folder / "config.json").write_text("{}")
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"x")  # SAM3 takes shards
    assert sam3.weights_status(model_dir=folder).present
    assert not da3.weights_status("small", folder).present  # DA3 needs model.safetensors itself
    assert find_weights("X", "a/b", folder, weight_patterns=("*.bin",), weight_words="pytorch_model.bin").missing \
        == ("pytorch_model.bin",)


def test_looking_for_weights_imports_no_torch() -> None:
    code = ("import sys; from sam3roto.backends import da3, sam3; sam3.weights_status(); da3.weights_status(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
