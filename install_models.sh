#!/usr/bin/env bash
# Installs the ML stack for sam3roto (torch, torchvision, transformers, Depth Anything 3
# without its heavy optional dependencies) and fetches model weights where a network exists.
#
#   ./install_models.sh [--venv DIR] [--sam3-id ID] [--da3-id ID] [--no-weights] [--index-url URL]
#
# Idempotent: re-running checks what is there and installs only what is missing. Every
# step prints one line starting with "[install]" (the GUI streams them). Exits non-zero
# with a message on the first failure.
set -euo pipefail

SAM3_ID="facebook/sam3"
DA3_ID="depth-anything/DA3-SMALL"
VENV=""
WEIGHTS=1
INDEX_URL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --sam3-id) SAM3_ID="$2"; shift 2 ;;
    --da3-id) DA3_ID="$2"; shift 2 ;;
    --no-weights) WEIGHTS=0; shift ;;
    --index-url) INDEX_URL="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "[install] error: unknown option $1 (see --help)"; exit 2 ;;
  esac
done

say() { echo "[install] $*"; }
fail() { echo "[install] error: $*"; exit 1; }

PY="${PYTHON:-python3}"
if [ -n "$VENV" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV" || fail "could not create $VENV"
  fi
  PY="$VENV/bin/python"
fi
say "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

PIP=("$PY" -m pip install --progress-bar off)
[ -n "$INDEX_URL" ] && PIP+=(--extra-index-url "$INDEX_URL")

# torch and torchvision must be a matching pair: torchvision 0.28.0 requires torch 2.13.0.
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
  say "torch $("$PY" -c 'import torch; print(torch.__version__)') and torchvision already import"
else
  say "installing torch 2.13.0 + torchvision 0.28.0 (for a CPU-only machine pass --index-url https://download.pytorch.org/whl/cpu)"
  "${PIP[@]}" "torch==2.13.0" "torchvision==0.28.0" 2>&1 | sed 's/^/[install]   /' || fail "pip could not install torch/torchvision"
fi

say "installing transformers 5.23.0 and the Hugging Face hub client"
"${PIP[@]}" "transformers==5.23.0" "huggingface_hub" "safetensors" 2>&1 | sed 's/^/[install]   /' \
  || fail "pip could not install transformers"

say "installing depth-anything-3 0.1.1 without its optional exporters (no gsplat/COLMAP/open3d)"
"${PIP[@]}" --no-deps "depth-anything-3==0.1.1" 2>&1 | sed 's/^/[install]   /' || fail "pip could not install depth-anything-3"
"${PIP[@]}" "omegaconf==2.4.0" "addict==2.4.0" "einops==0.8.2" 2>&1 | sed 's/^/[install]   /' || fail "pip could not install DA3's dependencies"

say "checking that every Depth Anything 3 preset's network builds (on the meta device: no weights, no memory)"
"$PY" - <<'PYEOF' 2>&1 | sed 's/^/[install]   /' || fail "depth-anything-3 does not build a preset's network (missing omegaconf/addict/einops?)"
from sam3roto.backends.da3 import PRESETS, build_network
for model_name in dict.fromkeys(p.model_name for p in PRESETS.values()):
    build_network(model_name, meta=True)
    print("ok:", model_name, "(presets", ", ".join(n for n, p in PRESETS.items() if p.model_name == model_name) + ")")
PYEOF

say "checking that the SAM3 classes import"
"$PY" -c "from transformers import Sam3Model, Sam3TrackerVideoModel" 2>&1 | sed 's/^/[install]   /' \
  || fail "transformers' SAM3 classes do not import (torch/torchvision mismatch?)"

if [ "$WEIGHTS" -eq 1 ]; then
  # Only the files the app reads: for SAM3 the config, processor, tokenizer and safetensors
  # files (ALLOW_PATTERNS; not the original 3.45 GB sam3.pt), for Depth Anything 3 what
  # sam3roto/backends/da3.py loads (config.json + model.safetensors).
  for KIND in sam3 da3; do
    if [ "$KIND" = sam3 ]; then ID="$SAM3_ID"; else ID="$DA3_ID"; fi
    say "fetching weights $ID into the Hugging Face cache"
    if ! "$PY" - "$ID" "$KIND" <<'PYEOF' 2>&1 | sed 's/^/[install]   /'
import sys
from huggingface_hub import snapshot_download
from sam3roto.backends.sam3_models import ALLOW_PATTERNS
patterns = list(ALLOW_PATTERNS) if sys.argv[2] == "sam3" else ["config.json", "model.safetensors"]
path = snapshot_download(sys.argv[1], allow_patterns=patterns)
print("stored in", path)
PYEOF
    then
      fail "could not download $ID (no network, a gated model: accept its license on huggingface.co and run 'hf auth login', or a wrong id)"
    fi
  done
  say "verifying the SAM3 weights"
  "$PY" - "$SAM3_ID" <<'PYEOF' 2>&1 | sed 's/^/[install]   /' || fail "the SAM3 weights are incomplete; delete the cache folder and re-run"
import sys
from sam3roto.backends.sam3 import resolve_model_dir
print("ok:", resolve_model_dir(sys.argv[1]))
PYEOF
  say "verifying the Depth Anything 3 weights"
  "$PY" - "$DA3_ID" <<'PYEOF' 2>&1 | sed 's/^/[install]   /' || fail "the Depth Anything 3 weights are incomplete; delete the cache folder and re-run"
import sys
from sam3roto.backends.da3 import PRESETS, load_network, resolve_model_dir
names = [n for n, p in PRESETS.items() if p.repo_id == sys.argv[1]]
if not names:
    sys.exit(f"{sys.argv[1]} is not a known preset repository ({', '.join(p.repo_id for p in PRESETS.values())})")
folder = resolve_model_dir(names[0])
load_network(folder)
print("ok:", folder, "preset", names[0])
PYEOF
  # ViTMatte, for the "vitmatte" edge refine method: its config, image processor settings and
  # safetensors weights (sam3roto/post/vitmatte.py ALLOW_PATTERNS); VITMATTE_ID=... picks another.
  VITMATTE_ID="${VITMATTE_ID:-hustvl/vitmatte-small-composition-1k}"
  say "fetching weights $VITMATTE_ID into the Hugging Face cache"
  "$PY" - "$VITMATTE_ID" <<'PYEOF' 2>&1 | sed 's/^/[install]   /' || fail "could not download $VITMATTE_ID (no network or a wrong id)"
import sys
from huggingface_hub import snapshot_download
from sam3roto.post.vitmatte import ALLOW_PATTERNS
print("stored in", snapshot_download(sys.argv[1], allow_patterns=list(ALLOW_PATTERNS)))
PYEOF
  say "verifying the ViTMatte weights"
  "$PY" - "$VITMATTE_ID" <<'PYEOF' 2>&1 | sed 's/^/[install]   /' || fail "the ViTMatte weights are incomplete; delete the cache folder and re-run"
import sys
from sam3roto.pipeline.post import vitmatte_status
from sam3roto.post.vitmatte import INSTALL_HINT, load
folder = vitmatte_status(sys.argv[1]).resolved(INSTALL_HINT)
load(folder)
print("ok:", folder)
PYEOF
else
  say "skipping weights (--no-weights); point the app at a local folder with config.json + model.safetensors"
fi
say "done"
