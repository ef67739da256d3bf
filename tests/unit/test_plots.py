"""The learning-curve plot: a PNG drawn with matplotlib, only when there is something to show."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import nacre
from nacre.train.callbacks import Training
from nacre.train.events import LearningCurve
from nacre.train.plots import learning_curve_figure, plot_learning_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TRAIN = [{"env_steps": 100 * i, "train/return_mean": float(i)} for i in range(1, 200)]
EVAL = [{"env_steps": 5000 * i, "eval/return_mean": 40.0 * i, "eval/return_std": 5.0}
        for i in range(1, 5)]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("rows", [TRAIN + EVAL, TRAIN, EVAL, EVAL[:1]],
                         ids=["train+eval", "train-only", "eval-only", "one-eval"])
def test_a_png_is_written(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "plots" / "curve.png"
    assert plot_learning_curve(rows, path, title="cartpole-dqn")
    assert png_size(path) == (720, 420)
    assert path.stat().st_size > 5_000  # axes, labels and curves, not a blank image
    assert sorted(p.name for p in path.parent.iterdir()) == ["curve.png"]  # no temp file left


@pytest.mark.parametrize("rows", [
    [],
    [{"env_steps": 10, "loss": 0.5}],
    [{"env_steps": 10, "train/return_mean": None, "eval/return_mean": None}],
    [{"env_steps": 10, "train/return_mean": math.nan},
     {"env_steps": math.inf, "eval/return_mean": 1.0, "eval/return_std": 0.1},
     {"env_steps": None, "train/return_mean": 1.0}],
])
def test_nothing_is_written_without_data(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "plots" / "curve.png"
    assert not plot_learning_curve(rows, path)
    assert not path.parent.exists()


def test_non_finite_values_are_skipped(tmp_path: Path) -> None:
    clean, noisy = tmp_path / "clean.png", tmp_path / "noisy.png"
    junk = [{"env_steps": 150, "train/return_mean": math.nan},
            {"env_steps": 250, "train/return_mean": -math.inf},
            {"env_steps": math.nan, "train/return_mean": 3.0},
            {"env_steps": 7000, "eval/return_mean": math.inf, "eval/return_std": 1.0},
            {"env_steps": 350, "train/return_mean": None}]
    assert plot_learning_curve(TRAIN + EVAL, clean, title="t")
    assert plot_learning_curve(TRAIN + junk + EVAL, noisy, title="t")
    assert noisy.read_bytes() == clean.read_bytes()  # the same picture: the junk was dropped


def test_missing_or_non_finite_std_draws_without_error_bars(tmp_path: Path) -> None:
    rows = [{"env_steps": 5, "eval/return_mean": 1.0, "eval/return_std": None},
            {"env_steps": 9, "eval/return_mean": 2.0, "eval/return_std": math.nan},
            {"env_steps": 12, "eval/return_mean": 3.0}]
    assert plot_learning_curve(rows, tmp_path / "p.png")
    assert png_size(tmp_path / "p.png") == (720, 420)


def test_extreme_values_draw_instead_of_overflowing(tmp_path: Path) -> None:
    rows = [{"env_steps": 1, "train/return_mean": 1.7e308},
            {"env_steps": 2, "train/return_mean": -1.7e308},
            {"env_steps": 3, "eval/return_mean": 1e308, "eval/return_std": 1e308}]
    assert plot_learning_curve(rows, tmp_path / "big.png")  # mean + std overflows float64
    assert png_size(tmp_path / "big.png") == (720, 420)


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import nacre.train.plots, sys; assert 'matplotlib' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_plotting_leaves_pyplot_and_the_backend_alone(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')  # the user's own choice\n"
        "from nacre.train.plots import plot_learning_curve\n"
        "assert plot_learning_curve([{'env_steps': 1, 'train/return_mean': 2.0}], sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_SIGNATURE


def test_the_legend_sits_outside_the_axes(tmp_path: Path) -> None:
    fig = learning_curve_figure(TRAIN + EVAL, title="CartPole-v1 · dqn · seed 0")
    assert fig is not None
    fig.canvas.draw()
    (ax,) = fig.axes
    (legend,) = fig.legends
    assert not ax.get_legend()
    axes_box, legend_box = ax.get_window_extent(), legend.get_window_extent()
    assert legend_box.y1 < axes_box.y0  # wholly below the data area
    assert legend_box.x0 >= 0 and legend_box.x1 <= fig.bbox.x1  # and within the figure
    assert [t.get_text() for t in legend.get_texts()] == ["training episodes",
                                                          "evaluation (mean ± 1 std)"]
    assert ax.get_title() == "CartPole-v1 · dqn · seed 0"


def test_a_run_is_titled_by_its_env_learner_and_seed(tmp_path: Path) -> None:
    config = nacre.load_preset("cartpole-dqn").to_yaml()
    training = cast(Training, SimpleNamespace(run_dir=tmp_path / "my-run", seed=3))
    assert LearningCurve(config).title(training) == "CartPole-v1 · dqn · seed 3"
    # nacre.fit given a run folder but no config
    assert LearningCurve("").title(training) == "my-run · seed 3"
