"""Learning-curve plots (needs matplotlib: ``pip install 'nacre[plot]'``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def plot_learning_curve(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> bool:
    """Training and evaluation return against environment steps; False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed: skipping plots (pip install 'nacre[plot]')",
                      stacklevel=2)
        return False
    train = [(r["env_steps"], r["train/return_mean"]) for r in rows
             if r.get("train/return_mean") is not None]
    evals = [(r["env_steps"], r["eval/return_mean"], r.get("eval/return_std") or 0.0)
             for r in rows if r.get("eval/return_mean") is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train episodes", alpha=0.7)
    if evals:
        xs, means, stds = zip(*evals, strict=True)
        ax.errorbar(xs, means, yerr=stds, fmt="o-", label="evaluation (exploit)", capsize=3)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
