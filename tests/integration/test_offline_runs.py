"""Offline runs end to end: collect a dataset, train each offline learner on it from a config
with ``dataset:``, load the result, fine-tune it online with ``train.init_from``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nacre
from nacre.cli import main
from nacre.config.run import RunConfig
from nacre.errors import CheckpointError, ConfigError
from nacre.eval.fqe import FQEConfig
from nacre.testing import cartpole_controller_log
from nacre.train.checkpoint import latest_checkpoint, load_checkpoint
from nacre.train.offpolicy import evaluate_offline, table

SMALL = {"actor_hidden": [32, 32], "critic_hidden": [32, 32]}
CONTINUOUS = [("iql", "squashed_gaussian", "squashed"), ("cql", "squashed_gaussian", "squashed"),
              ("td3_bc", "deterministic", "gaussian"), ("bc", "deterministic", "gaussian")]


@pytest.fixture(scope="module")
def pendulum_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pendulum"
    nacre.collect("pendulum-td3", steps=600, out=path, progress=False)
    return path


@pytest.fixture(scope="module")
def cartpole_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "cartpole"
    nacre.collect("cartpole-dqn", steps=800, out=path, progress=False)
    return path


def _config(data: Path, learner: str, network: str, exploration: str, steps: int = 40,
            **extra: Any) -> RunConfig:
    env = "Pendulum-v1" if network != "mlp" else "CartPole-v1"
    net = {"name": network, **(SMALL if network != "mlp" else {"hidden": [32]})}
    return RunConfig.from_dict({
        "env": {"id": env, **extra.pop("env", {})}, "learner": {"name": learner},
        "network": net, "exploration": exploration, "dataset": {"path": str(data)},
        "train": {"steps": steps, "batch_size": 32, "log_every": 20, "eval_episodes": 1,
                  **extra.pop("train", {})}, **extra})


@pytest.mark.parametrize(("learner", "network", "exploration"), CONTINUOUS)
def test_continuous_offline_learners_train_from_a_dataset(
        pendulum_data: Path, tmp_path: Path, learner: str, network: str,
        exploration: str) -> None:
    result = nacre.train(_config(pendulum_data, learner, network, exploration),
                         out=tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["mode"] == "offline" and summary["grad_steps"] == 40
    assert summary["env_steps"] == 0 and summary["transitions"] == 600
    assert np.isfinite(summary["final_eval_return_mean"])
    rows = [json.loads(line) for line in
            (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["grad_steps"] for r in rows] == [20, 40]
    agent = nacre.load(tmp_path / "run")  # the checkpoint loads like any run's
    assert agent.grad_steps == 40 == result.agent.grad_steps


@pytest.mark.parametrize("learner", ["bc", "discrete_cql"])
def test_discrete_offline_learners_train_from_a_dataset(cartpole_data: Path, tmp_path: Path,
                                                        learner: str) -> None:
    cfg = _config(cartpole_data, learner, "mlp", "greedy",
                  train={"target_update_interval": 10})
    result = nacre.train(cfg, out=tmp_path / "run", progress=False)
    assert result.summary["grad_steps"] == 40
    assert result.agent.predict(np.zeros((1, 4), np.float32)).shape == (1,)


def test_offline_to_online_starts_from_the_offline_learner(pendulum_data: Path,
                                                            tmp_path: Path) -> None:
    offline = nacre.train(_config(pendulum_data, "iql", "squashed_gaussian", "squashed"),
                          out=tmp_path / "offline", progress=False)
    online = RunConfig.from_dict({
        "env": {"id": "Pendulum-v1"}, "learner": {"name": "iql"},
        "network": {"name": "squashed_gaussian", **SMALL}, "exploration": "squashed",
        "train": {"steps": 0 + 50, "learning_starts": 10_000, "eval_episodes": 1,
                  "init_from": str(tmp_path / "offline")}})
    result = nacre.train(online, out=tmp_path / "online", progress=False)
    before = offline.agent.learner.state_dict()["actor"]
    after = result.agent.learner.state_dict()["actor"]  # no update yet: learning_starts
    for name, tensor in before.items():
        np.testing.assert_array_equal(after[name].numpy(), tensor.numpy())
    assert result.agent.env_steps == 50 and result.agent.grad_steps == 0


def test_init_from_another_learner_is_refused(pendulum_data: Path, tmp_path: Path) -> None:
    nacre.train(_config(pendulum_data, "td3_bc", "deterministic", "gaussian"),
                out=tmp_path / "td3bc", progress=False)
    cfg = _config(pendulum_data, "iql", "squashed_gaussian", "squashed",
                  train={"init_from": str(tmp_path / "td3bc")})
    with pytest.raises(CheckpointError):
        nacre.train(cfg, out=tmp_path / "iql", progress=False)
    assert not (tmp_path / "iql").exists()  # a failed start leaves nothing behind


def test_normalized_observations_take_the_dataset_statistics(pendulum_data: Path,
                                                            tmp_path: Path) -> None:
    cfg = _config(pendulum_data, "td3_bc", "deterministic", "gaussian",
                  env={"normalize": {"obs": True}})
    result = nacre.train(cfg, out=tmp_path / "run", progress=False)
    obs = nacre.Dataset.load(pendulum_data).arrays()["obs"]
    run, extra = nacre.load_run(tmp_path / "run")
    mean = np.asarray(extra["env_stats"]["obs"]["mean"])
    np.testing.assert_allclose(mean, obs.mean(0), rtol=1e-5, atol=1e-6)
    assert result.summary["grad_steps"] == 40


def test_a_dataset_that_does_not_fit_the_env_is_refused(cartpole_data: Path,
                                                       tmp_path: Path) -> None:
    cfg = _config(cartpole_data, "iql", "squashed_gaussian", "squashed")  # Pendulum's env
    with pytest.raises(ConfigError, match="observations of shape"):
        nacre.train(cfg, out=tmp_path / "run", progress=False)


def test_nacre_collect_on_the_command_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "cartpole-dqn", "--steps", "300", "--out",
                 str(tmp_path / "d"), "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["transitions"] == 300 and printed["env_id"] == "CartPole-v1"
    data = nacre.Dataset.load(tmp_path / "d")
    # an untrained DQN preset explores with ε = 1: every action has propensity 1/2
    assert np.allclose(data.arrays()["propensity"], 0.5)


def test_a_runs_replay_becomes_a_dataset(tmp_path: Path) -> None:
    nacre.train("pendulum-td3", steps=300, out=tmp_path / "run", progress=False)
    assert main(["collect", str(tmp_path / "run"), "--replay", "--out",
                 str(tmp_path / "d")]) == 0
    data = nacre.Dataset.load(tmp_path / "d")
    assert len(data) == 300 and data.info.env_id == "Pendulum-v1"
    actions = data.arrays()["action"]
    assert actions.min() >= -2.0 and actions.max() <= 2.0  # in the env's units ([-2, 2])
    assert np.abs(actions).max() > 1.0  # not the policy's [-1, 1]
    # densities change units with the actions: [-1, 1] → [-2, 2] halves them
    state, _, _ = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    logged = state["buffer"]["tensors"]["propensity"].flatten().numpy()
    assert np.allclose(np.sort(data.arrays()["propensity"]), np.sort(logged) / 2.0)
    # the warm-up acts uniformly: density 1/2 on [-1, 1] is 1/4 on Pendulum's [-2, 2]
    assert np.allclose(logged, 0.5) and np.allclose(data.arrays()["propensity"], 0.25)
    assert main(["collect", str(tmp_path / "run"), "--out", str(tmp_path / "e")]) == 2


def test_a_replay_of_several_envs_keeps_their_episodes_apart(tmp_path: Path) -> None:
    from nacre.train.collect import from_run

    nacre.train("pendulum-td3", steps=300, num_envs=2, out=tmp_path / "run", progress=False)
    data = from_run(tmp_path / "run")  # Pendulum's episodes last 200 steps: none ended
    cols = data.arrays()
    assert len(data) == 300 and data.episode_starts(cols).tolist() == [0, 150]
    assert cols["truncated"].nonzero()[0].tolist() == [149, 299]  # each env's newest row


BANDIT_LOGGER = """
env: {id: bandit/synthetic-linear}
learner: {name: disjoint_linear_bandit, l2: 1.0}
exploration: {name: epsilon_greedy, start: 0.3, end: 0.3}
buffer: {name: online}
train: {steps: 3000, learning_starts: 0, batch_size: 1, eval_episodes: 2000, log_every: 1000}
"""


def test_nacre_ope_estimates_a_bandit_policy_from_a_log(tmp_path: Path) -> None:
    (tmp_path / "logger.yaml").write_text(BANDIT_LOGGER)
    policy = nacre.train(tmp_path / "logger.yaml", out=tmp_path / "policy", progress=False)
    truth = policy.summary["final_eval_return_mean"]  # the greedy policy, 2,000 fresh users
    nacre.collect(tmp_path / "logger.yaml", 4000, tmp_path / "log", seed=1, progress=False)
    assert main(["ope", str(tmp_path / "log"), "--policy", str(tmp_path / "policy")]) == 0
    result = json.loads((tmp_path / "policy" / "ope.json").read_text())
    assert result["one_step"] and result["transitions"] == 4000
    by_name = {e["name"]: e for e in result["estimates"]}
    assert set(by_name) == {"ips", "snips", "dm", "dr", "switch_dr"}
    for name in ("ips", "snips", "dr"):  # unbiased: the truth within the interval (or close)
        e = by_name[name]
        assert e["low"] - 0.05 <= truth <= e["high"] + 0.05, (name, e, truth)


def test_nacre_ope_estimates_a_sequential_policy_with_fqe(tmp_path: Path) -> None:
    data = cartpole_controller_log(3000)
    data.save(tmp_path / "log")
    nacre.train(_config(tmp_path / "log", "bc", "mlp", "greedy", steps=300),
                out=tmp_path / "bc", progress=False)
    result = evaluate_offline(data, tmp_path / "bc", fqe_config=FQEConfig(steps=300))
    names = [e["name"] for e in result["estimates"]]
    assert names == ["pdis", "wpdis", "fqe"] and not result["one_step"]
    assert all(np.isfinite(e["value"]) for e in result["estimates"])


def test_nacre_ope_estimates_a_continuous_policy_with_fqe(tmp_path: Path) -> None:
    # a policy's own greedy log: FQE of that policy must find the logged discounted return
    nacre.train("pendulum-td3", steps=300, out=tmp_path / "run", progress=False)
    data = nacre.collect(tmp_path / "run", steps=2000, exploit=True, progress=False)
    result = evaluate_offline(data, tmp_path / "run", gamma=0.9, fqe_config=FQEConfig(
        steps=3000, target_every=50))
    (fqe,) = result["estimates"]
    assert fqe["name"] == "fqe" and result["episodes"] == 10 and result["max_weight"] is None
    assert fqe["value"] == pytest.approx(result["behaviour_value"], rel=0.05)
    assert "importance weight" not in table(result)
    noisy = evaluate_offline(data, tmp_path / "run", gamma=0.9, exploring=True,
                             fqe_config=FQEConfig(steps=50))  # π given by 10 samples a state
    assert noisy["policy"] == "exploring" and np.isfinite(noisy["estimates"][0]["value"])
    with pytest.raises(ConfigError, match="shape"):  # CartPole's log, Pendulum's policy
        evaluate_offline(cartpole_controller_log(200), tmp_path / "run")


@pytest.mark.parametrize("accelerate", ["auto", "off"])
def test_offline_runs_apply_the_process_settings_when_accelerated(
        pendulum_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        accelerate: str) -> None:
    calls: list[int] = []
    loop = importlib.import_module("nacre.train.offline")  # nacre.train is also a function
    monkeypatch.setattr(loop, "apply_process_settings", lambda: calls.append(1))
    nacre.train(_config(pendulum_data, "iql", "squashed_gaussian", "squashed", steps=20,
                        train={"accelerate": accelerate}), out=tmp_path / "run", progress=False)
    assert calls == ([1] if accelerate == "auto" else [])


def test_an_offline_run_checkpoints_and_resumes(pendulum_data: Path, tmp_path: Path) -> None:
    cfg = _config(pendulum_data, "td3_bc", "deterministic", "gaussian",
                  train={"checkpoint_every": 20, "keep_checkpoints": 5})
    nacre.train(cfg, out=tmp_path / "run", progress=False)
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step_000000000020", "step_000000000040"]
    result = nacre.resume(tmp_path / "run", steps=60, progress=False)
    assert result.agent.grad_steps == 60 and result.summary["grad_steps"] == 60
    rows = [json.loads(line) for line in
            (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["grad_steps"] for r in rows] == [20, 40, 60]
    with pytest.raises(ConfigError, match="already at 60 updates"):
        nacre.resume(tmp_path / "run", steps=60, progress=False)


@pytest.mark.parametrize(("extra", "match"), [
    ({"buffer": {"name": "replay", "n_step": 3}}, "one step per transition"),
    ({"env": {"normalize": {"reward": True}}}, "normalize.reward"),
])
def test_what_the_offline_loop_cannot_honour_is_refused(pendulum_data: Path, tmp_path: Path,
                                                        extra: dict[str, Any],
                                                        match: str) -> None:
    cfg = _config(pendulum_data, "td3_bc", "deterministic", "gaussian", **extra)
    with pytest.raises(ConfigError, match=match):
        nacre.train(cfg, out=tmp_path / "run", progress=False)


def test_init_from_a_run_normalized_otherwise_is_refused(pendulum_data: Path,
                                                         tmp_path: Path) -> None:
    nacre.train(_config(pendulum_data, "td3_bc", "deterministic", "gaussian",
                        env={"normalize": {"obs": True}}), out=tmp_path / "norm", progress=False)
    cfg = _config(pendulum_data, "td3_bc", "deterministic", "gaussian",
                  train={"init_from": str(tmp_path / "norm")})
    with pytest.raises(ConfigError, match="env.normalize.obs: true"):
        nacre.train(cfg, out=tmp_path / "plain", progress=False)
