"""Process-wide settings that make the accelerated kernels faster, applied only on request.

Nothing here runs at import time. :func:`apply` is called once per process by
:func:`nacre.train` (and :func:`nacre.fit`) when the run's ``train.accelerate`` is ``auto``;
with ``accelerate: off`` the process is left exactly as torch configured it. Each setting:

* **oneDNN for large fp32 products** (:func:`onednn_linear`). Torch's ``mm`` goes to MKL, which
  takes its AVX2 code path on AMD processors; oneDNN's fp32 linear picks the widest vector unit
  the CPU reports. On this project's 2-core AMD EPYC (AVX-512) a 256 × 400 × 300 product takes
  ≈ 175 µs instead of ≈ 350 µs, in full fp32 (docs/design/performance.md). Only the kernels of
  :mod:`nacre.accel` route products through it, and only large ones. ``NACRE_ONEDNN=0`` keeps
  it off.
* **Denormals flushed to zero** (``torch.set_flush_denormal``). Denormal floats
  (|x| < 1.2e-38) appear in trained networks and make CPU kernels several times slower;
  flushing them changes no result that matters at float32 precision.
* **glibc's malloc keeps freed memory** (:func:`tune_allocator`). By default glibc serves every
  block above a (dynamic) threshold with a fresh ``mmap`` and returns freed memory at the top of
  the heap to the kernel, so the ~1 MB temporaries of each update of a 400-300 network are
  faulted in page by page, every update (≈ 470 minor page faults per TD3 update). Raising the
  mmap and trim thresholds and padding heap growth keeps those pages mapped.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

_MB = 1 << 20


@dataclass
class _Settings:
    applied: bool = False
    onednn: Callable[..., Tensor] | None = None  # oneDNN's fp32 linear, once enabled


SETTINGS = _Settings()


def apply() -> None:
    """Apply the process-wide settings above (idempotent)."""
    if SETTINGS.applied:
        return
    SETTINGS.applied = True
    SETTINGS.onednn = _probe_onednn()
    torch.set_flush_denormal(True)
    tune_allocator()


def onednn_linear() -> Callable[..., Tensor] | None:
    """oneDNN's fused fp32 linear (``x Wᵀ + b``, optional ReLU), when enabled by :func:`apply`
    and this torch build has it."""
    return SETTINGS.onednn


def _probe_onednn() -> Callable[..., Tensor] | None:
    if os.environ.get("NACRE_ONEDNN", "1") == "0" or not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return None
    op: Callable[..., Tensor] | None = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None:  # a torch build without it
        return None
    try:
        a, w = torch.ones(2, 3), torch.ones(4, 3)
        ok = bool(torch.equal(op(a, w, None, "none", [], ""), torch.full((2, 4), 3.0)))
    except (RuntimeError, TypeError):
        return None
    return op if ok else None


def tune_allocator() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; True where it applied.

    Large one-off allocations (replay storage, > 32 MB) are still mapped and unmapped on their
    own. No-op outside glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    # glibc refuses an mmap threshold above 32 MiB on 64-bit systems
    results = [mallopt(option, value) for option, value in (
        (m_mmap_threshold, 32 * _MB), (m_trim_threshold, 256 * _MB), (m_top_pad, 64 * _MB))]
    return all(r == 1 for r in results)


__all__ = ["SETTINGS", "apply", "onednn_linear", "tune_allocator"]
