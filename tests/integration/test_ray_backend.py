"""Scale-out with collectors (nacre.distributed): the same learner in process and on Ray, the
in-process loop reproduced, run folders, and the configs that are refused.

Ray is started once for the module (``num_cpus=2``, no dashboard); tests that need no Ray run
without it.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import nacre
from nacre.config import yaml_io
from nacre.config.run import RunConfig, TrainConfig
from nacre.data import StepBatch
from nacre.data.batch import StepChunk
from nacre.distributed import ChunkRecorder, make_collectors
from nacre.errors import ConfigError
from nacre.train.checkpoint import flatten_tree
from nacre.train.run import load_run_config

SRC = Path(__file__).resolve().parents[2] / "src" / "nacre"

DQN_SMALL = [
    "network.hidden=[32, 32]",
    "train.steps=1600",
    "train.learning_starts=200",
    "exploration.steps=200",
    "train.train_freq=4",
    "train.gradient_steps=1",
    "train.target_update_interval=100",
    "train.eval_every=800",
    "train.eval_episodes=2",
    "train.log_every=400",
    "buffer.capacity=2000",
    "train.learn_threads=1",
]
PPO_SMALL = [
    "network.hidden=[16, 16]",
    "env.num_envs=2",
    "train.steps=1024",
    "train.train_freq=128",  # rollouts of 32 steps × 2 collectors × 2 envs
    "train.batch_size=64",
    "learner.epochs=2",
    "train.eval_every=0",
    "train.eval_episodes=2",
    "train.log_every=256",
    "train.learn_threads=1",
]


def config(preset: str, small: list[str], **train: Any) -> RunConfig:
    return nacre.load_preset(preset).with_overrides(
        [*small, *(f"train.{k}={v}" for k, v in train.items())])


def learner_tensors(result: nacre.TrainResult) -> dict[str, torch.Tensor]:
    return flatten_tree(result.agent.learner.state_dict())[1]


def assert_same_learner(a: nacre.TrainResult, b: nacre.TrainResult) -> None:
    ta, tb = learner_tensors(a), learner_tensors(b)
    assert ta.keys() == tb.keys()
    different = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not different, different
    for key in ("env_steps", "grad_steps", "episodes", "final_eval_returns"):
        assert a.summary[key] == b.summary[key], key


def rows(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without its timings."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in ("time_s", "env_steps_per_s")}
            for line in lines]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ the same result


def test_one_collector_syncing_every_step_is_the_in_process_loop(tmp_path: Path) -> None:
    in_process = nacre.train(config("cartpole-dqn", DQN_SMALL), out=tmp_path / "loop",
                             progress=False)
    collected = nacre.train(config("cartpole-dqn", DQN_SMALL, sync_every=1),
                            out=tmp_path / "collected", progress=False)
    assert_same_learner(in_process, collected)
    assert rows(tmp_path / "loop") == rows(tmp_path / "collected")


def test_ray_collectors_give_the_in_process_result(tmp_path: Path, ray_cluster: Any) -> None:
    schedule = {"num_collectors": 2, "sync_every": 200}
    local = nacre.train(config("cartpole-dqn", DQN_SMALL, **schedule), out=tmp_path / "local",
                        progress=False)
    on_ray = nacre.train(config("cartpole-dqn", DQN_SMALL, backend="ray", **schedule),
                         out=tmp_path / "ray", progress=False)
    assert_same_learner(local, on_ray)
    assert rows(tmp_path / "local") == rows(tmp_path / "ray")
    assert local.summary["grad_steps"] == (1600 - 200) // 4  # the schedule of train_freq
    # two collectors are not one env: their own acting streams give another run
    single = nacre.train(config("cartpole-dqn", DQN_SMALL, sync_every=200),
                         out=tmp_path / "single", progress=False)
    assert not torch.equal(learner_tensors(single)["q/head.mlp.0.weight"],
                           learner_tensors(local)["q/head.mlp.0.weight"])


def test_ppo_on_ray_matches_in_process(tmp_path: Path, ray_cluster: Any) -> None:
    schedule = {"num_collectors": 2, "sync_every": 128}
    local = nacre.train(config("cartpole-ppo", PPO_SMALL, **schedule), out=tmp_path / "local",
                        progress=False)
    on_ray = nacre.train(config("cartpole-ppo", PPO_SMALL, backend="ray", **schedule),
                         out=tmp_path / "ray", progress=False)
    assert_same_learner(local, on_ray)
    assert local.summary["grad_steps"] > 0


def test_a_ray_run_folder_is_a_run_folder_and_resumes(tmp_path: Path,
                                                      ray_cluster: Any) -> None:
    out = tmp_path / "run"
    cfg = config("cartpole-dqn", DQN_SMALL, backend="ray", num_collectors=2, sync_every=200,
                 checkpoint_every=800)
    first = nacre.train(cfg, out=out, progress=False)
    assert first.summary["env_steps"] == 1600
    assert (out / "summary.json").is_file() and (out / "plots" / "learning_curve.png").is_file()
    assert [json.loads(line)["env_steps"] for line in
            (out / "metrics.jsonl").read_text().splitlines()] == [400, 800, 800, 1200, 1600, 1600]
    assert load_run_config(out / "config.yaml") == cfg
    with pytest.warns(UserWarning, match="fresh episodes"):
        resumed = nacre.resume(out, steps=2000, progress=False)
    assert resumed.summary["env_steps"] == 2000
    assert resumed.summary["grad_steps"] == (2000 - 200) // 4
    assert nacre.load(out).predict(torch.zeros(4).numpy()).shape == ()


def test_errors_inside_collectors_are_raised_as_themselves(tmp_path: Path,
                                                          ray_cluster: Any) -> None:
    dynamic = config("cartpole-dqn", DQN_SMALL, backend="ray", num_collectors=2,
                     sync_every=200)
    dynamic = RunConfig.from_dict({**dynamic.to_dict(), "env": {"id": "nacre/CartPole-Dynamic-v0"}})
    with pytest.raises(ConfigError, match="dynamic action sets"):
        nacre.train(dynamic, progress=False, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_more_collectors_than_ray_cpus_is_refused(ray_cluster: Any) -> None:
    cfg = config("cartpole-dqn", DQN_SMALL, backend="ray", num_collectors=3, sync_every=300)
    with pytest.raises(ConfigError, match="3 collectors take one CPU each"):
        make_collectors(cfg)


def test_chunks_join_side_by_side_in_env_order() -> None:
    def chunk(b: int, base: float, episodes: list[tuple[int, float, int]]) -> StepChunk:
        recorder = ChunkRecorder()
        recorder.begin(3)
        for t in range(3):
            obs = np.full((b, 2), base + t, np.float32)
            recorder.add(StepBatch(obs, torch.zeros(b, dtype=torch.int64), np.ones(b, np.float32),
                                   obs + 1, np.zeros(b, bool), np.zeros(b, bool),
                                   cost=None if t == 0 else np.ones(b)))
        return recorder.chunk(np.zeros((b, 2), np.float32), episodes, [(2, f"fault {base}")])

    joined = StepChunk.concat([chunk(1, 0.0, [(1, 5.0, 5), (2, 7.0, 7)]),
                               chunk(2, 10.0, [(1, 6.0, 6)])])
    assert (joined.steps, joined.num_envs) == (3, 3)
    assert joined.step(2).obs[:, 0].tolist() == [2.0, 12.0, 12.0]
    assert joined.columns["cost"][:, 0].tolist() == [0.0, 1.0, 1.0]  # not reported: no cost
    assert joined.episodes(1) == ([5.0, 6.0], [5, 6]) and joined.episodes(0) == ([], [])
    assert joined.faults == [(2, "fault 0.0"), (2, "fault 10.0")]


# ------------------------------------------------------------------ configs


@pytest.mark.parametrize(("train", "match"), [
    ({"backend": "ray"}, "train.backend: ray runs collectors.*set it"),
    ({"num_collectors": 2}, "train.num_collectors: 2 runs collectors.*train.sync_every"),
    ({"num_collectors": 0, "sync_every": 10}, "train.num_collectors: must be >= 1"),
    ({"sync_every": -1}, "train.sync_every: must be >= 0"),
    ({"backend": "spark", "sync_every": 10}, "train.backend: expected 'local' or 'ray'"),
])
def test_collector_settings_are_checked(train: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**train)


def test_a_collector_config_round_trips_through_yaml() -> None:
    cfg = config("cartpole-dqn", DQN_SMALL, backend="ray", num_collectors=4, sync_every=1000)
    again = RunConfig.from_dict(yaml_io.loads(cfg.to_yaml()))
    assert again == cfg and again.train.backend == "ray"
    assert again.train.chunk_steps(cfg.env.num_envs) == 250
    with pytest.raises(ConfigError, match="train.backend: expected one of 'local', 'ray'"):
        cfg.with_overrides(["train.backend=spark"])


@pytest.mark.parametrize(("preset", "small", "changes", "match"), [
    ("cartpole-ppo", PPO_SMALL, ["train.sync_every=96"],
     "must divide train.train_freq \\(128\\)"),
    ("cartpole-ppo", PPO_SMALL, ["env.normalize={obs: true}"],
     "env.normalize: each collector would keep its own statistics"),
    ("digits-linucb", [], [], "contextual bandit"),
    ("cartpole-dqn", DQN_SMALL, ["dataset={path: somewhere}"], "offline run"),
    ("cartpole-dqn", DQN_SMALL, ["env.id=nacre/CliffWalking-Cost-v1", "safety=cost_filter"],
     "safety 'cost_filter' learns"),
])
def test_what_collectors_cannot_gather_for_is_refused(preset: str, small: list[str],
                                                     changes: list[str], match: str) -> None:
    cfg = nacre.load_preset(preset).with_overrides(
        [*small, "train.num_collectors=2", "train.sync_every=64", *changes])
    with pytest.raises(ConfigError, match=match):
        nacre.build(cfg)


def test_fit_does_not_run_collectors() -> None:
    cfg = config("cartpole-dqn", DQN_SMALL, num_collectors=2, sync_every=200)
    run = nacre.build(cfg)
    with pytest.raises(ConfigError, match="use nacre.train"):
        nacre.fit(run.agent, run.env, cfg.train)
    run.env.close()


def test_without_ray_the_ray_backend_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    monkeypatch.delitem(sys.modules, "nacre.distributed.ray_backend", raising=False)
    cfg = config("cartpole-dqn", DQN_SMALL, backend="ray", num_collectors=2, sync_every=200)
    with pytest.raises(ConfigError, match=r"pip install 'nacre\[ray\]'"):
        make_collectors(cfg)


def test_only_nacre_distributed_imports_ray() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "ray" or n.startswith("ray.") for n in names):
                offenders.append(str(path.relative_to(SRC)))
    assert sorted(set(offenders)) == ["distributed/ray_backend.py"]
