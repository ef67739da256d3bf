"""The callback API of the training loop: hooks, their order and counts, stopping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nacre
from nacre.envs.base import ActionResult

FAST = ["train.learn_threads=1", "train.log_every=200"]


class Recorder(nacre.Callback):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.steps = 0

    def on_training_start(self, training: nacre.Training) -> None:
        self.events.append(("start", training.env_steps))

    def on_step(self, training: nacre.Training, result: ActionResult) -> None:
        self.steps += 1

    def on_rollout_end(self, training: nacre.Training) -> None:
        self.events.append(("rollout_end", training.env_steps))

    def on_train(self, training: nacre.Training, metrics: dict[str, Any]) -> None:
        assert "loss" in metrics
        self.events.append(("train", training.env_steps))

    def on_log(self, training: nacre.Training, row: dict[str, Any]) -> None:
        assert row["env_steps"] == training.env_steps
        self.events.append(("log", training.env_steps))

    def on_eval(self, training: nacre.Training, returns: list[float]) -> None:
        assert len(returns) == training.config.eval_episodes
        self.events.append(("eval", training.env_steps))

    def on_checkpoint(self, training: nacre.Training, path: Path) -> None:
        assert (path / "model.safetensors").is_file()
        self.events.append(("checkpoint", training.env_steps))

    def on_training_end(self, training: nacre.Training) -> None:
        self.events.append(("end", training.env_steps))


def names(rec: Recorder, name: str) -> list[int]:
    return [step for event, step in rec.events if event == name]


def test_every_hook_is_called_when_its_event_happens(tmp_path: Path) -> None:
    rec = Recorder()
    nacre.train("cartpole-dqn", steps=1_200, out=tmp_path / "run", callbacks=[rec],
                overrides=[*FAST, "train.eval_every=600", "train.checkpoint_every=400",
                           "train.eval_episodes=2"])
    assert rec.events[0] == ("start", 0) and rec.events[-1] == ("end", 1_200)
    assert rec.steps == 1_200  # one on_step per environment step (B = 1)
    # train_freq 256 after learning_starts 1000: rounds at 1024 (and none at 256..768)
    assert names(rec, "rollout_end") == names(rec, "train") == [1024]
    assert names(rec, "log") == [200, 400, 600, 800, 1000, 1200]
    assert names(rec, "eval") == [600, 1200]
    assert names(rec, "checkpoint") == [400, 800, 1200]


def test_only_callbacks_that_override_on_step_are_called_per_step(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    calls = []
    monkeypatch.setattr(nacre.Callback, "on_step", lambda *a: calls.append(1))

    class EvalOnly(nacre.Callback):
        def on_eval(self, training: nacre.Training, returns: list[float]) -> None:
            pass

    # the base class's on_step was replaced after EvalOnly was defined: if the loop called it
    # per step, `calls` would fill up
    nacre.train("cartpole-dqn", steps=300, out=tmp_path / "run", callbacks=[EvalOnly()],
                overrides=[*FAST, "train.eval_episodes=1"])
    assert calls == []


def test_a_callback_stops_training_and_the_run_still_finishes_cleanly(tmp_path: Path) -> None:
    class StopAt(nacre.Callback):
        def on_step(self, training: nacre.Training, result: ActionResult) -> None:
            if training.env_steps == 250:
                training.stop("enough")

    result = nacre.train("cartpole-dqn", steps=5_000, out=tmp_path / "run", callbacks=[StopAt()],
                         overrides=[*FAST, "train.eval_episodes=2"])
    assert result.summary["env_steps"] == 250
    assert result.summary["stop_reason"] == "enough"
    assert result.summary["final_eval_return_mean"] is not None  # evaluated at the stop
    assert (tmp_path / "run" / "checkpoints" / "step_000000000250").is_dir()
    resumed = nacre.resume(tmp_path / "run", steps=400, progress=False)
    assert resumed.summary["env_steps"] == 400


def test_stop_on_reward_stops_at_the_first_evaluation_that_reaches_the_threshold(
        tmp_path: Path) -> None:
    seen: list[float] = []

    class Watch(nacre.Callback):
        def on_eval(self, training: nacre.Training, returns: list[float]) -> None:
            seen.append(float(np.mean(returns)))

    result = nacre.train("cartpole-dqn", steps=3_000, out=tmp_path / "run",
                         callbacks=[Watch(), nacre.StopOnReward(threshold=5.0)],
                         overrides=[*FAST, "train.eval_every=500", "train.eval_episodes=2"])
    assert seen[0] >= 5.0  # any CartPole episode lasts >= 8 steps
    assert result.summary["env_steps"] == 500
    assert "5.0" in result.summary["stop_reason"]


def test_stop_on_reward_without_reaching_it_trains_the_whole_budget(tmp_path: Path) -> None:
    result = nacre.train("cartpole-dqn", steps=600, out=tmp_path / "run",
                         callbacks=[nacre.StopOnReward(threshold=1e9)],
                         overrides=[*FAST, "train.eval_every=300", "train.eval_episodes=1"])
    assert result.summary["env_steps"] == 600 and result.summary["stop_reason"] is None


def test_on_rollout_end_comes_before_each_on_policy_round(tmp_path: Path) -> None:
    rec = Recorder()
    nacre.train("cartpole-ppo", steps=768, out=tmp_path / "run", callbacks=[rec],
                overrides=[*FAST, "train.eval_episodes=1"])
    assert names(rec, "rollout_end") == names(rec, "train") == [256, 512, 768]
    order = [event for event, _ in rec.events if event in ("rollout_end", "train")]
    assert order == ["rollout_end", "train"] * 3


def test_plain_functions_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(nacre.InputError, match="nacre.Callback"):
        nacre.train("cartpole-dqn", steps=100, out=tmp_path / "run",
                    callbacks=[lambda event, row: None])  # type: ignore[list-item]


def test_an_error_in_a_callback_still_closes_the_run(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from nacre.train import plots

    made: list[plots.Plotter] = []
    original = plots.Plotter.__init__

    def recording(self: plots.Plotter) -> None:
        original(self)
        made.append(self)

    monkeypatch.setattr(plots.Plotter, "__init__", recording)

    class Broken(nacre.Callback):
        def on_step(self, training: nacre.Training, result: ActionResult) -> None:
            if training.env_steps == 450:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        nacre.train("cartpole-dqn", steps=1_000, out=tmp_path / "run", callbacks=[Broken()],
                    overrides=FAST)
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert '"interrupted": true' in summary and '"env_steps": 450' in summary
    assert made and all(p._helper is None for p in made)  # the plot helper did not outlive it
    assert (tmp_path / "run" / "plots" / "learning_curve.png").is_file()
