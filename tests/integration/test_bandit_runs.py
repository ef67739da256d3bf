"""Bandit runs end to end: the presets, the loop's bandit metrics, masks through the config,
every row learned once by the loop, exact resume and evaluation of a run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import nacre
from nacre.config.run import TrainConfig
from nacre.data.batch import TransitionBatch
from nacre.data.online import OnlineBuffer
from nacre.envs.bandits import SyntheticLinearBandit
from nacre.exploration.bandit import SquareCB
from nacre.learners.bandits.linear import DisjointLinearBandit
from nacre.train.checkpoint import latest_checkpoint, load_tensors

BANDIT_KEYS = ("bandit/cumulative_reward", "bandit/average_reward", "bandit/cumulative_regret",
               "bandit/average_regret")
PRESETS = ["digits-linucb", "digits-neural-lints", "digits-squarecb", "synthetic-lints"]


def rows(run: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("time_s", "env_steps_per_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_train_and_report_bandit_metrics(preset: str, tmp_path: Path) -> None:
    steps = 300
    result = nacre.train(preset, steps=steps, out=tmp_path / "run", progress=False,
                         overrides=["train.log_every=100", "train.eval_episodes=32"])
    summary = result.summary
    assert summary["env_steps"] == steps
    for key in BANDIT_KEYS:
        assert key in summary, key
    assert summary["bandit/average_reward"] == pytest.approx(
        summary["bandit/cumulative_reward"] / steps)
    assert summary["bandit/average_regret"] == pytest.approx(
        summary["bandit/cumulative_regret"] / steps)
    assert summary["bandit/cumulative_regret"] >= 0
    if preset.startswith("digits"):  # reward 1 for the label, else 0; regret is the miss
        assert summary["bandit/cumulative_reward"] + summary["bandit/cumulative_regret"] == steps
        assert 0.0 <= summary["final_eval_return_mean"] <= 1.0
    assert len(summary["final_eval_returns"]) == 32
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {k: on_disk[k] for k in BANDIT_KEYS} == {k: summary[k] for k in BANDIT_KEYS}
    logged = [r for r in rows(tmp_path / "run") if "bandit/cumulative_regret" in r]
    assert [r["env_steps"] for r in logged] == [100, 200, 300]
    regrets = [r["bandit/cumulative_regret"] for r in logged]
    assert regrets == sorted(regrets) and regrets[-1] == summary["bandit/cumulative_regret"]
    for r in logged:
        assert r["bandit/average_reward"] == pytest.approx(
            r["bandit/cumulative_reward"] / r["env_steps"])


def test_bandit_metrics_count_every_decision_of_a_batch(tmp_path: Path) -> None:
    result = nacre.train("synthetic-lints", steps=400, num_envs=8, out=tmp_path / "run",
                         progress=False, overrides=["train.log_every=200",
                                                    "train.eval_episodes=4"])
    # 50 steps of 8 decisions
    assert result.summary["bandit/average_reward"] == pytest.approx(
        result.summary["bandit/cumulative_reward"] / 400)


EXPLORATIONS = [
    ("disjoint_linear_bandit", "{name: ucb, alpha: 1.0}"),
    ("disjoint_linear_bandit", "{name: thompson, scale: 0.5}"),
    ("disjoint_linear_bandit", "squarecb"),
    ("disjoint_linear_bandit", "fastcb"),
    ("disjoint_linear_bandit", "{name: epsilon_greedy, start: 0.5, end: 0.1}"),
    ("disjoint_linear_bandit", "boltzmann"),
    ("disjoint_linear_bandit", "greedy"),
    ("neural_linear_bandit", "thompson"),
    ("neural_bandit", "squarecb"),
    ("neural_bandit", "{name: epsilon_greedy, start: 0.5, end: 0.1}"),
]


@pytest.mark.parametrize(("learner", "exploration"), EXPLORATIONS)
def test_masked_runs_only_take_available_actions(learner: str, exploration: str,
                                                 tmp_path: Path) -> None:
    # the env raises on an unavailable action: a finished run never took one, in training or
    # in its (batched) evaluation
    hidden = ", hidden: [16]" if learner.startswith("neural") else ""
    result = nacre.train(
        "synthetic-lints", steps=400, num_envs=8, out=tmp_path / "run", progress=False,
        overrides=["env.kwargs={n_actions: 5, context_dim: 8, available_prob: 0.3}",
                   f"learner={{name: {learner}{hidden}}}", f"exploration={exploration}",
                   "train.eval_episodes=16", "train.log_every=200"])
    assert result.summary["env_steps"] == 400
    assert len(result.summary["final_eval_returns"]) == 16
    assert result.summary["bandit/cumulative_regret"] >= 0


def test_the_loop_learns_each_row_once_in_order() -> None:
    seen: list[TransitionBatch] = []

    class Recording(DisjointLinearBandit):
        def learn_batch(self, batch: TransitionBatch) -> Any:
            seen.append(batch)
            return super().learn_batch(batch)

    env = SyntheticLinearBandit(n_actions=4, context_dim=3, num_envs=3)
    agent = nacre.Agent(Recording(3, 4), exploration=SquareCB(), buffer=OnlineBuffer(), seed=0)
    train = TrainConfig(steps=300, learning_starts=20, train_freq=7, batch_size=4,
                        log_every=1000)
    nacre.fit(agent, env, train, seed=5, progress=False)
    learned = len(torch.cat([b.action for b in seen]))
    assert agent.buffer is not None
    assert learned > 250 and learned + len(agent.buffer) == 300  # the rest still waits
    assert all(len(b) <= 4 for b in seen)
    # replaying the learned actions on the same stream gives back exactly the learned rows:
    # nothing skipped, nothing twice, in order
    replay = SyntheticLinearBandit(n_actions=4, context_dim=3, num_envs=3)
    obs = replay.reset(seed=5)
    action = torch.cat([b.action for b in seen]).reshape(-1, 3)
    contexts, rewards = [], []
    for a in action:
        contexts.append(obs)
        result = replay.step(a)
        rewards.append(result.reward)
        obs = result.obs
    assert torch.equal(torch.cat([b.obs for b in seen]), torch.from_numpy(np.concatenate(contexts)))
    assert torch.equal(torch.cat([b.reward for b in seen]),
                       torch.from_numpy(np.concatenate(rewards)))


def test_resume_continues_a_bandit_run_exactly(tmp_path: Path) -> None:
    # 4 decisions per step, learning every 7 steps: the checkpoint at 300 holds waiting rows
    extra = ["env.num_envs=4", "train.train_freq=7", "train.batch_size=3", "train.log_every=100",
             "train.checkpoint_every=300", "train.eval_episodes=8"]
    full = tmp_path / "full"
    nacre.train("digits-linucb", steps=600, out=full, progress=False, overrides=extra)
    ckpt = full / "checkpoints" / "step_000000000300"
    assert load_tensors(ckpt / "model.safetensors")["buffer/reward"].shape[0] > 0
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    (part / "config.yaml").write_text((full / "config.yaml").read_text())
    shutil.copytree(ckpt, part / "checkpoints" / ckpt.name)
    (part / "metrics.jsonl").write_text("".join(
        line + "\n" for line in (full / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["env_steps"] <= 300))
    resumed = nacre.resume(part, steps=600, progress=False)
    assert rows(part) == rows(full)
    final_full = load_tensors(latest_checkpoint(full) / "model.safetensors")
    final_part = load_tensors(latest_checkpoint(part) / "model.safetensors")
    assert final_full.keys() == final_part.keys()
    for key in final_full:
        assert torch.equal(final_full[key], final_part[key]), key
    summary = json.loads((full / "summary.json").read_text())
    for key in (*BANDIT_KEYS, "final_eval_returns"):
        assert resumed.summary[key] == summary[key], key


def test_evaluate_run_on_a_bandit_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    nacre.train("digits-squarecb", steps=500, out=run, progress=False,
                overrides=["train.eval_episodes=8"])
    result = nacre.evaluate_run(run, episodes=40, seed=1)
    assert result["episodes"] == 40 and len(result["returns"]) == 40
    assert set(result["returns"]) <= {0.0, 1.0}
    assert result["env_steps"] == 500
    assert result["return_mean"] > 0.3  # greedy after 500 decisions; random is 0.1
    assert json.loads((run / "eval.json").read_text()) == result
    assert nacre.evaluate_run(run, episodes=40, seed=1)["returns"] == result["returns"]


def test_evaluation_follows_the_drift_of_the_training_problem() -> None:
    from nacre.envs.bandits import SyntheticLinearBandit

    train_env = SyntheticLinearBandit(n_actions=3, context_dim=2, drift=0.5)
    eval_env = SyntheticLinearBandit(n_actions=3, context_dim=2, drift=0.5)
    train_env.reset(seed=0)
    for _ in range(20):
        train_env.step(np.zeros(1, dtype=np.int64))
    assert not np.allclose(train_env.weights, eval_env.weights)
    agent = nacre.Agent(DisjointLinearBandit(2, 3), buffer=OnlineBuffer())
    nacre.fit(agent, train_env, TrainConfig(steps=5, learning_starts=0, batch_size=1,
                                            eval_episodes=2), eval_env=[eval_env],
              progress=False)
    np.testing.assert_array_equal(eval_env.weights, train_env.weights)
