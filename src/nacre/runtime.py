"""Process-wide torch settings, chosen in one place.

Small networks (the MLPs of classic-control RL) run fastest on one CPU thread: multithreaded
kernels cost more in synchronisation than they save at these sizes. ``train.torch_threads``
overrides it for larger networks.
"""

from __future__ import annotations

import torch


def configure_torch(threads: int = 1) -> None:
    """Set the intra-op thread count used for acting and learning."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
