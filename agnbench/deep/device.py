"""Device, precision and threads for the deep tracks."""

from __future__ import annotations

import contextlib
import logging

import torch

from agnbench.errors import AgnbenchError
from agnbench.threads import usable_threads

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit device that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise AgnbenchError(f"device={name} was requested but this torch ({torch.__version__}) sees no {name} device; "
                            "use --device cpu or auto")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full fp32. ``auto``: bf16 on CUDA GPUs that support it, else fp32."""
    if name == "fp32":
        return None
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if name == "fp16" and device.type == "cpu":
        raise AgnbenchError("precision=fp16 is for GPUs; on the CPU use fp32 (or bf16 on CPUs that support it)")
    return torch.bfloat16 if name == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` on ``device`` (a no-op context for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def set_threads(threads: int) -> int:
    """Set torch's intra-op CPU threads explicitly (results on CPU are reproducible for a fixed count).

    ``threads`` is capped by ``$AGNBENCH_MAX_THREADS`` (:func:`agnbench.threads.usable_threads`).
    """
    torch.set_num_threads(usable_threads(threads))
    return torch.get_num_threads()
