"""Ctrl-C and kill -9 at unplanned moments of `nacre train`, each in a fresh process: the run
resumes and finishes, and after Ctrl-C it ends exactly where an uninterrupted run ends."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_runs import SMALL, metrics, params, small_run

from nacre.errors import CheckpointError
from nacre.train.checkpoint import latest_checkpoint, read_state

STEPS = 6000


def start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nacre.cli", "train", "cartpole-dqn", "--out", str(out),
         "--steps", str(STEPS), "--no-progress", "--set", *SMALL, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(out: Path, rows: int, proc: subprocess.Popen[str]) -> None:
    """Until the run has logged ``rows`` metrics rows (it is then well inside training)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        path = out / "metrics.jsonl"
        if path.exists() and len(path.read_text().splitlines()) >= rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"the run logged fewer than {rows} rows: {proc.communicate()}")


def resume(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nacre.cli", "train", "--resume", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_at_an_unplanned_moment_then_resume_is_exact(tmp_path: Path, sig: int) -> None:
    part = tmp_path / "part"
    proc = start(part)
    wait_for_rows(part, 6, proc)
    time.sleep(random.Random().uniform(0.0, 0.3))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    ckpt = latest_checkpoint(part)
    stopped_at = read_state(ckpt).agent["env_steps"]
    assert isinstance(stopped_at, int) and 0 < stopped_at < STEPS
    assert json.loads((part / "summary.json").read_text())["interrupted"] is True

    out = resume(part)
    assert out.returncode == 0, out.stderr
    full = tmp_path / "full"
    small_run(full, steps=STEPS)
    pf, pp = params(full), params(part)
    for key in pf:
        if key.startswith(("learner/", "buffer/", "generator")):
            assert torch.equal(pf[key], pp[key]), (key, stopped_at)
    assert metrics(full) == metrics(part)


# The presets' cadence (a minute or 5 % of the run; in a run this short the 50× save-cost
# stretch decides) and a step interval, under which the loss has an exact bound.
CADENCES = {"default": [], "every 500 steps": ["train.checkpoint_every=500"]}


def logged_steps(out: Path) -> list[int]:
    return [r["env_steps"] for r in metrics(out) if "grad_steps" in r]


def kill_and_resume(tmp_path: Path, seed: int, cadence: str) -> None:
    out = tmp_path / f"killed-{seed}"
    rng = random.Random(seed)
    proc = start(out, *CADENCES[cadence])
    wait_for_rows(out, rng.randint(1, 25), proc)
    time.sleep(rng.uniform(0.0, 0.2))
    proc.kill()
    proc.communicate()
    try:
        saved = read_state(latest_checkpoint(out)).agent["env_steps"]
    except CheckpointError:  # killed before the first checkpoint: the resume starts over
        saved = 0
    reached = max(logged_steps(out), default=0)  # the run got at least this far
    assert isinstance(saved, int)
    if cadence == "every 500 steps":
        assert reached - saved <= 500, (reached, saved)  # at most one interval lost

    done = resume(out)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == STEPS and summary["interrupted"] is False
    assert read_state(latest_checkpoint(out)).agent["env_steps"] == STEPS
    assert not list((out / "checkpoints").glob(".step_*"))  # no temporary folder left
    steps = logged_steps(out)  # the rows after the checkpoint were dropped, then written again
    assert steps == sorted(set(steps)) and steps[-1] == STEPS
    assert (out / "plots" / "learning_curve.png").stat().st_size > 0


@pytest.mark.parametrize("cadence", sorted(CADENCES))
def test_kill_9_then_resume_finishes(tmp_path: Path, cadence: str) -> None:
    kill_and_resume(tmp_path, random.Random().randrange(1000), cadence)


@pytest.mark.slow
@pytest.mark.parametrize("cadence", sorted(CADENCES))
@pytest.mark.parametrize("seed", range(5))
def test_kill_9_at_five_random_points(tmp_path: Path, seed: int, cadence: str) -> None:
    kill_and_resume(tmp_path, seed, cadence)
