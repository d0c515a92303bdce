"""Device, dtype and thread choices for the torch engines.

CUDA runs bf16. The CPU runs bf16 only where the processor has native bf16 (AVX512-BF16 or
AMX), fp32 otherwise, and never fp16 (3-4x slower on CPUs without native fp16). Apple MPS
runs fp32.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from sam3roto.errors import EngineError, Hint

DEVICES = ("auto", "cpu", "cuda", "mps")
#: When the chosen accelerator is not there: the CPU always is.
USE_CPU_HINT = Hint(cli="use --device cpu",
                    window='choose cpu in Edit > Settings... > "Device (segmentation and depth)"')


@cache
def cpu_has_bf16() -> bool:
    """True when /proc/cpuinfo lists avx512_bf16 or amx_bf16."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(preference: str | None = None) -> str:
    """``cuda`` / ``mps`` when present and asked for (or ``auto``), else ``cpu``."""
    import torch

    pref = (preference or "auto").lower()
    if pref.split(":")[0] not in DEVICES:
        raise EngineError(f"unknown device {preference!r}", hint=f"choose one of: {', '.join(DEVICES)}")
    if pref == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("CUDA was requested but no CUDA device is available", hint=USE_CPU_HINT)
    if pref == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EngineError("Apple MPS was requested but is not available", hint=USE_CPU_HINT)
    return pref


def pick_dtype(device: str) -> Any:
    """bf16 on CUDA and on CPUs with native bf16; fp32 elsewhere. Never fp16.
    ``SAM3ROTO_DTYPE=float32`` forces fp32."""
    import torch

    if os.environ.get("SAM3ROTO_DTYPE", "").lower() in ("float32", "fp32"):
        return torch.float32
    if device.startswith("cuda"):
        return torch.bfloat16
    if device == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return torch.float32


def set_threads(device: str) -> None:
    """Leave one core for the UI when inference runs on the CPU."""
    import torch

    if device == "cpu":
        cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, cores - 1))
