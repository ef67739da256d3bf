"""A user's first hour (issue #12): progress in a log file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nacre.cli import main

SMALL = ["network.hidden=[16]", "train.learning_starts=100", "train.train_freq=16",
         "train.gradient_steps=4", "train.log_every=100", "buffer.capacity=500",
         "train.eval_episodes=2", "train.learn_threads=1"]


def test_a_run_logged_to_a_file_writes_a_progress_line_per_tenth(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with open(log, "w") as fh:  # `nacre train ... > log 2>&1`: no terminal
        done = subprocess.run(
            [sys.executable, "-m", "nacre.cli", "train", "cartpole-dqn", "--steps", "2000",
             "--out", str(tmp_path / "run"), "--set", *SMALL, "train.eval_every=1000"],
            stdout=fh, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text  # lines, not a redrawn bar
    steps = [int(m) for m in re.findall(r"^nacre: step (\d+)/2000 \(\d+%\) · \d+ steps/s · ",
                                        text, flags=re.M)]
    assert {10 * step // 2000 for step in steps} == set(range(1, 11)), text
    assert steps == sorted(steps) and steps[-1] == 2000
    assert re.search(r"^nacre: step 1200/2000 \(60%\) · .* · ETA \d+:\d\d:\d\d · eval [\d.]+$",
                     text, flags=re.M), text


@pytest.mark.parametrize("flag", ["--quiet", "--no-progress"])
def test_quiet_writes_no_progress(tmp_path: Path, flag: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "cartpole-dqn", "--steps", "300", "--out", str(tmp_path / "r"),
                 flag, "--set", *SMALL]) == 0
    assert "nacre: step" not in capsys.readouterr().err
