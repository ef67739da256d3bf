"""The learning-curve plot of a run folder (``plots/learning_curve.png``), drawn with matplotlib.

matplotlib is imported inside :func:`plot_learning_curve`, not here: importing it takes a good
fraction of a second, which ``import nacre`` and runs that never reach the plot should not pay.
The figure is drawn with :class:`matplotlib.figure.Figure` on an Agg canvas directly, so nacre
never touches pyplot's global figure list or switches the backend a user chose in their process.
For publication figures, read ``metrics.jsonl`` into the plotting tool of your choice.

A training run draws its curve through a :class:`Plotter`: a helper process (this file run as a
script: it imports nothing of nacre, nor torch) that imports matplotlib while the run trains, on
a core the run mostly leaves idle, and draws when the run ends — the ≈ 0.3 s import is then off
the run's wall time. Where the helper cannot start or fails, the curve is drawn in-process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGSIZE = (7.2, 4.2)  # inches
DPI = 100  # so the PNG is 720 x 420 pixels
# Values are clipped this far inside the float limits, so that mean ± std and the axis spans
# matplotlib computes stay finite (past them it warns about overflow and drops the points).
_BIG = 1e300


def plot_learning_curve(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> bool:
    """Write training and evaluation return against environment steps as a PNG at ``path``.

    ``rows`` are metric rows as logged to ``metrics.jsonl``; values that are missing or not
    finite are skipped. Returns False, writing nothing, when no row has anything to plot.
    """
    fig = learning_curve_figure(rows, title)
    if fig is None:
        return False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # a reader never sees a half-written PNG
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    # Without pyplot there is no global registry to close the figure in: dropping the last
    # reference frees it. clear() releases the artists now rather than at garbage collection.
    fig.clear()
    return True


def learning_curve_figure(rows: list[dict[str, Any]], title: str = "") -> Figure | None:
    """The figure :func:`plot_learning_curve` saves (None when there is nothing to plot).

    The legend sits below the axes, outside them, so that it hides no part of a curve; the
    constrained layout makes room for it within the figure's fixed size.
    """
    train = [(_clip(r["env_steps"]), _clip(r["train/return_mean"])) for r in rows
             if _finite(r.get("env_steps")) and _finite(r.get("train/return_mean"))]
    evals = [(_clip(r["env_steps"]), _clip(r["eval/return_mean"]), _std(r)) for r in rows
             if _finite(r.get("env_steps")) and _finite(r.get("eval/return_mean"))]
    if not train and not evals:
        return None

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself to the figure; savefig then renders with Agg
    ax = fig.add_subplot()
    if train:
        steps, returns = zip(*train, strict=True)
        ax.plot(steps, returns, color="tab:blue", alpha=0.6, linewidth=1.2,
                label="training episodes")
    if evals:
        steps, means, stds = zip(*evals, strict=True)
        ax.errorbar(steps, means, yerr=stds, color="tab:orange", marker="o", markersize=4,
                    linewidth=1.5, capsize=3, label="evaluation (mean ± 1 std)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return fig


def _read_rows(metrics: Path) -> list[dict[str, Any]]:
    with open(metrics) as fh:
        return [json.loads(line) for line in fh if line.strip()]


class Plotter:
    """Draws one run's learning curve, its matplotlib import overlapped with training."""

    def __init__(self) -> None:
        self._helper: subprocess.Popen[str] | None = None
        try:
            # its own session: a Ctrl-C meant for the run does not kill the plot of its end
            self._helper = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, start_new_session=True)
        except OSError:  # no way to start a process here: draw in-process at the end
            self._helper = None

    def draw(self, metrics: Path, path: Path, title: str = "") -> bool:
        """Draw ``metrics`` (a ``metrics.jsonl``) into ``path``; True when a PNG was written."""
        helper, self._helper = self._helper, None
        if helper is not None and helper.stdin is not None and helper.stdout is not None:
            try:
                request = {"metrics": str(metrics), "path": str(path), "title": title}
                reply, _ = helper.communicate(json.dumps(request) + "\n", timeout=120)
                if reply.strip() in ("True", "False"):
                    return reply.strip() == "True"
            except (OSError, subprocess.SubprocessError):
                helper.kill()
                helper.wait()
        return plot_learning_curve(_read_rows(metrics), path, title)

    def close(self) -> None:
        """Stop the helper without drawing (e.g. a run that wrote no metrics)."""
        if self._helper is not None:
            self._helper.kill()
            self._helper.wait()
            self._helper = None


def _serve() -> None:
    """The helper process: import matplotlib now, then draw the one request on stdin."""
    import matplotlib.backends.backend_agg  # noqa: F401 - the import this process exists for
    import matplotlib.figure  # noqa: F401

    line = sys.stdin.readline()  # EOF (the run ended without asking) -> nothing to do
    if line:
        request = json.loads(line)
        drawn = plot_learning_curve(_read_rows(Path(request["metrics"])), request["path"],
                                    request["title"])
        sys.stdout.write(f"{drawn}\n")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clip(value: float) -> float:
    return max(-_BIG, min(_BIG, float(value)))


def _std(row: dict[str, Any]) -> float:
    """The evaluation std of a row; 0 (no error bar) when it is missing or not finite."""
    std: Any = row.get("eval/return_std")
    return _clip(abs(std)) if _finite(std) else 0.0


if __name__ == "__main__":  # the helper process of Plotter
    _serve()
