"""A user's first hour (issue #12): progress in a log file, failed starts that leave no dead
folder, missing extras in one line, evaluation that cannot vanish silently."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import nacre
from nacre.cli import main
from nacre.config.build import Run
from nacre.errors import MissingExtraError, NacreError
from nacre.train import latest_checkpoint

SMALL = ["network.hidden=[16]", "train.learning_starts=100", "train.train_freq=16",
         "train.gradient_steps=4", "train.log_every=100", "buffer.capacity=500",
         "train.eval_episodes=2", "train.learn_threads=1"]
NO_TENSORBOARD = "torch.utils.tensorboard"  # None in sys.modules: importing it fails


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


def test_a_missing_extra_is_one_line_and_the_same_out_works_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs" / "first"
    args = ["train", "cartpole-dqn", "--steps", "300", "--out", str(out), "--quiet",
            "--set", *SMALL]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, NO_TENSORBOARD, None)
        assert main([*args, "train.tensorboard=true"]) == 2
    assert capsys.readouterr().err == (
        'nacre: error: tensorboard is not installed: pip install "nacre[tensorboard]"\n')
    assert not out.exists() and (tmp_path / "runs").is_dir()  # only what the run created
    assert main(args) == 0
    assert (out / "summary.json").is_file()


def test_a_failed_start_keeps_what_was_in_the_folder(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    monkeypatch.setitem(sys.modules, NO_TENSORBOARD, None)
    with pytest.raises(MissingExtraError) as caught:
        nacre.train("cartpole-dqn", steps=300, out=out, progress=False,
                    overrides=[*SMALL, "train.tensorboard=true"])
    assert isinstance(caught.value, NacreError) and isinstance(caught.value, ImportError)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


class _FailAt(nacre.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, training: nacre.Training, result: object) -> None:
        if training.env_steps == self.step:
            raise RuntimeError("the environment broke")


def test_a_run_that_fails_mid_way_is_removed_only_without_a_checkpoint(tmp_path: Path) -> None:
    common = {"steps": 400, "progress": False,
              "overrides": [*SMALL, "train.checkpoint_every=200"]}
    with pytest.raises(RuntimeError):
        nacre.train("cartpole-dqn", out=tmp_path / "early", callbacks=[_FailAt(150)], **common)
    assert not (tmp_path / "early").exists()
    with pytest.raises(RuntimeError):
        nacre.train("cartpole-dqn", out=tmp_path / "late", callbacks=[_FailAt(250)], **common)
    kept = tmp_path / "late"
    assert latest_checkpoint(kept).name == "step_000000000200"
    assert (kept / "metrics.jsonl").is_file()  # resumable as it is
    result = nacre.resume(kept, progress=False)
    assert result.summary["env_steps"] == 400


def _small_run() -> Run:
    return nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(SMALL))


@pytest.mark.parametrize("asked", [{"eval_every": 100}, {"eval_episodes": 5}],
                         ids=["eval_every", "eval_episodes"])
def test_fit_warns_when_evaluation_is_asked_for_without_an_eval_env(
        asked: dict[str, int]) -> None:
    run = _small_run()
    train = nacre.TrainConfig(steps=200, learning_starts=100, **asked)
    with pytest.warns(UserWarning, match=r"evaluation asked for \(train\.eval_\w+=\d+\) but "
                      r"fit got no eval_env") as caught:
        result = nacre.fit(run.agent, run.env, train, progress=False)
    assert caught[0].filename == __file__  # points at the call
    assert result.summary["final_eval_return_mean"] is None


def test_fit_is_silent_without_evaluation_asked_for_or_with_an_eval_env() -> None:
    run = _small_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nacre.fit(run.agent, run.env, nacre.TrainConfig(steps=150, learning_starts=100),
                  progress=False)
        result = nacre.fit(run.agent, run.env, nacre.TrainConfig(
            steps=300, learning_starts=100, eval_every=100, eval_episodes=2),
            eval_env=run.make_eval_env(), progress=False)
    assert result.summary["final_eval_return_mean"] is not None
