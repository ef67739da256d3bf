"""Dynamic action sets end to end: the presets train from YAML alone, every learner kind acts
only among the available actions, and a run over catalogue candidates is reproducible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nacre

SHORT = ["train.eval_episodes=2", "train.log_every=200", "train.learn_threads=1"]
PRESET_RUNS = {
    "recsys-two-tower-dqn": ["train.learning_starts=100", "train.eval_every=300",
                             "env.kwargs={n_items: 2000}", *SHORT],
    "recsys-masked-ppo": ["train.train_freq=128", "env.num_envs=4", "learner.epochs=2",
                          "train.eval_every=300", "env.kwargs={n_items: 2000, min_k: 12}", *SHORT],
    "recsys-neural-linucb": ["train.eval_every=300", "env.kwargs={n_items: 2000}", *SHORT],
    "taxi-masked-dqn": ["train.learning_starts=100", "train.eval_every=300", *SHORT],
}


def rows(run: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("time_s", "env_steps_per_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("preset", sorted(PRESET_RUNS))
def test_presets_train_from_yaml_alone(preset: str, tmp_path: Path) -> None:
    # the adapters refuse an unavailable action: finishing means none was taken
    result = nacre.train(preset, steps=600, out=tmp_path / "run", progress=False,
                         overrides=PRESET_RUNS[preset])
    assert result.summary["env_steps"] == 600
    assert np.isfinite(result.summary["final_eval_return_mean"])


def test_a_catalogue_run_is_reproducible(tmp_path: Path) -> None:
    overrides = PRESET_RUNS["recsys-two-tower-dqn"]
    for name in ("a", "b"):
        nacre.train("recsys-two-tower-dqn", steps=500, seed=3, out=tmp_path / name,
                    progress=False, overrides=overrides)
    assert rows(tmp_path / "a") == rows(tmp_path / "b")


LEARNERS = {
    "dqn": ("cartpole-dqn", ["train.learning_starts=100", "train.train_freq=4"]),
    "ppo": ("cartpole-ppo", ["env.num_envs=2", "train.train_freq=64", "learner.epochs=2"]),
    "sac_discrete": ("cartpole-dqn", [
        "learner={name: sac_discrete}", "exploration={name: policy}",
        "network={name: categorical_twin_q, actor_hidden: [16], critic_hidden: [16]}",
        "train.learning_starts=100", "train.train_freq=4"]),
}


@pytest.mark.parametrize("learner", sorted(LEARNERS))
def test_learners_act_only_among_the_available_actions(learner: str, tmp_path: Path) -> None:
    preset, extra = LEARNERS[learner]
    env = nacre.make_env("nacre/CartPole-Dynamic-v0")
    env.reset(seed=0)
    assert env.available is not None and not bool(env.available.mask.all())  # masks in play
    # the adapter refuses an action outside the set it offered: finishing means none was taken
    nacre.train(preset, steps=800, out=tmp_path / "run", progress=False,
                overrides=["env.id=nacre/CartPole-Dynamic-v0", "train.eval_every=400",
                           *SHORT, *extra])
