"""Run folders, determinism, exact resume in a fresh process, safe loading, the CLI."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nacre
from nacre.errors import CheckpointError, ConfigError
from nacre.train.checkpoint import latest_checkpoint, load_checkpoint, load_tensors

SMALL = [
    "network.hidden=[32, 32]",
    "train.learning_starts=200",
    "train.train_freq=16",
    "train.gradient_steps=8",
    "train.target_update_interval=50",
    "train.eval_every=400",
    "train.eval_episodes=2",
    "train.log_every=200",
    "buffer.capacity=500",
    "train.learn_threads=1",
]


PPO_SMALL = [
    "network.hidden=[16, 16]",
    "env.num_envs=4",
    "train.train_freq=64",  # rollouts of 16 steps × 4 envs
    "train.batch_size=32",
    "learner.epochs=2",
    "train.eval_every=400",
    "train.eval_episodes=2",
    "train.log_every=200",
    "train.learn_threads=1",
]


CONTINUOUS_SMALL = [
    "network.actor_hidden=[16, 16]",
    "network.critic_hidden=[16, 16]",
    "train.learning_starts=200",
    "exploration.steps=200",
    "train.batch_size=32",
    "train.eval_every=400",
    "train.eval_episodes=2",
    "train.log_every=200",
    "buffer.capacity=2000",
    "train.learn_threads=1",
]
SMALL_OVERRIDES = {
    "cartpole-dqn": SMALL,
    "cartpole-ppo": PPO_SMALL,
    "cartpole-reinforce": [*PPO_SMALL, "learner={name: reinforce, lr: 0.003}"],
    "cartpole-ppo-normalized": [*PPO_SMALL, "env.normalize={obs: true, reward: true}"],
    "pendulum-td3": CONTINUOUS_SMALL,
    "pendulum-sac": CONTINUOUS_SMALL,
    "pendulum-ddpg": [*CONTINUOUS_SMALL, "learner={name: ddpg}", "network.n_critics=1"],
    "cartpole-sac-discrete": [
        *SMALL, "learner={name: sac_discrete}", "exploration={name: policy}",
        "network={name: categorical_twin_q, actor_hidden: [16], critic_hidden: [16]}",
        "train.train_freq=1", "train.gradient_steps=1",
    ],
    # a sequence summarizer: its window (with the actions taken, for SAC), weights and
    # prediction head resume mid-episode, bit for bit
    "cartpole-po-lstm-dqn": [*SMALL, "env.id=nacre/CartPole-PO-v0",
                             "history={name: lstm, length: 4, hidden: 8, predict: 2}"],
    "pendulum-po-lstm-sac": [*CONTINUOUS_SMALL, "env.id=nacre/Pendulum-PO-v0",
                             "history={name: lstm, length: 3, hidden: 8, actions: true}"],
    # windows in rollouts: the checkpoint inside a rollout keeps the context rows too
    "cartpole-po-lstm-ppo": [*PPO_SMALL, "env.id=nacre/CartPole-PO-v0",
                             "history={name: lstm, length: 3, hidden: 8}"],
    # a carried LSTM state: the agent's states and the rollout's starting ones resume exactly
    "cartpole-po-recurrent-ppo": [*PPO_SMALL, "history={name: recurrent, hidden: 8}"],
    # return quantiles on the QR-DQN kernel
    "cartpole-qrdqn": SMALL,
    # the members followed mid-episode, the bootstrap masks and their generator resume exactly
    "deepsea-bootstrapped-dqn": [
        "env.kwargs={size: 7}", "network.shared=[16]", "network.hidden=[8]",
        "train.learning_starts=100", "train.train_freq=4", "train.gradient_steps=2",
        "train.batch_size=32", "train.eval_every=400", "train.eval_episodes=2",
        "train.log_every=200", "buffer.capacity=500", "buffer.p=0.5", "train.learn_threads=1"],
    # the measured cost rate: λ and the episodes in flight (130 steps: cut at 600) resume
    "pendulum-cost-rctd3": [*CONTINUOUS_SMALL, "env.kwargs={max_episode_steps: 130}",
                            "safety.lagrange_lr=0.05"],
    # a dynamic action set: the masks of the ring, its pending set, the agent's current set and
    # the wrapper's generator resume exactly
    "cartpole-dynamic-dqn": [*SMALL, "env.id=nacre/CartPole-Dynamic-v0"],
}
PRESET_OF = {"cartpole-reinforce": "cartpole-ppo", "cartpole-ppo-normalized": "cartpole-ppo",
             "pendulum-ddpg": "pendulum-td3", "cartpole-sac-discrete": "cartpole-dqn",
             "cartpole-po-lstm-dqn": "cartpole-dqn", "pendulum-po-lstm-sac": "pendulum-sac",
             "cartpole-po-lstm-ppo": "cartpole-ppo", "cartpole-dynamic-dqn": "cartpole-dqn"}


def small_run(out: Path, steps: int = 1200, seed: int = 0, extra: tuple[str, ...] = (),
              preset: str = "cartpole-dqn"):
    base = SMALL_OVERRIDES[preset]
    name = PRESET_OF.get(preset, preset)
    return nacre.train(name, steps=steps, seed=seed, out=out, progress=False,
                       overrides=[*base, *extra])


def strip_times(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time_s", "env_steps_per_s")} for r in rows]


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return strip_times([json.loads(x) for x in lines])


def params(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_tensors(latest_checkpoint(run_dir) / "model.safetensors")


def test_run_folder_layout(tmp_path: Path) -> None:
    result = small_run(tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "plots/learning_curve.png"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    for key in ("final_eval_return_mean", "final_eval_return_std", "env_steps", "wall_time_s",
                "env_steps_per_s", "seed"):
        assert key in summary, key
    assert summary["env_steps"] == 1200 == result.summary["env_steps"]
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "eval/return_mean" in r]
    best = max(evals, key=lambda r: r["eval/return_mean"])  # first of the best, as in the loop
    assert summary["best_eval_return_mean"] == best["eval/return_mean"]
    assert summary["best_eval_env_steps"] == best["env_steps"]
    assert summary["best_eval_return_mean"] >= summary["final_eval_return_mean"]
    ckpt = latest_checkpoint(run)
    assert {p.name for p in ckpt.iterdir()} == {"model.safetensors", "config.yaml", "state.json"}
    state = json.loads((ckpt / "state.json").read_text())
    assert state["versions"]["torch"] == torch.__version__
    with pytest.raises(ConfigError, match="already holds a run"):
        small_run(run)


FIRST_WEIGHT = {"cartpole-dqn": "learner/q/head.mlp.0.weight",
                "cartpole-ppo": "learner/net/actor.0.weight",
                "cartpole-reinforce": "learner/net/actor.0.weight",
                "cartpole-ppo-normalized": "learner/net/actor.0.weight",
                "pendulum-td3": "learner/actor/mlp.0.weight",
                "pendulum-sac": "learner/actor/trunk.0.weight",
                "pendulum-ddpg": "learner/actor/mlp.0.weight",
                "cartpole-sac-discrete": "learner/net/actor.0.weight",
                "cartpole-po-lstm-dqn": "learner/q/encoder.lstm.cell.weight_ih",
                "pendulum-po-lstm-sac": "learner/actor/encoder.lstm.cell.weight_ih",
                "cartpole-po-lstm-ppo": "learner/net/encoder.lstm.cell.weight_ih",
                "cartpole-po-recurrent-ppo": "learner/lstm/weight_ih_l0",
                "cartpole-qrdqn": "learner/q/head.mlp.0.weight",
                "deepsea-bootstrapped-dqn": "learner/q/head.body.torso.0.weight",
                "pendulum-cost-rctd3": "learner/actor/mlp.0.weight",
                "cartpole-dynamic-dqn": "learner/q/head.mlp.0.weight"}


@pytest.mark.parametrize("preset", sorted(SMALL_OVERRIDES))
def test_same_seed_same_metrics_and_parameters(tmp_path: Path, preset: str) -> None:
    small_run(tmp_path / "a", seed=3, preset=preset)
    small_run(tmp_path / "b", seed=3, preset=preset)
    small_run(tmp_path / "c", seed=4, preset=preset)
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    pa, pb, pc = params(tmp_path / "a"), params(tmp_path / "b"), params(tmp_path / "c")
    assert pa.keys() == pb.keys()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key
    weight = FIRST_WEIGHT[preset]
    assert not torch.equal(pa[weight], pc[weight])


@pytest.mark.parametrize("preset", sorted(SMALL_OVERRIDES))
def test_resume_in_a_fresh_process_is_exact(tmp_path: Path, preset: str) -> None:
    # cartpole-ppo: the checkpoint at 600 steps falls inside a 64-step rollout
    full = tmp_path / "full"
    small_run(full, steps=1200, extra=("train.checkpoint_every=600",), preset=preset)
    part = tmp_path / "part"
    part.mkdir()
    (part / "config.yaml").write_text((full / "config.yaml").read_text())
    ckpt = full / "checkpoints" / "step_000000000600"
    (part / "checkpoints").mkdir()
    import shutil

    shutil.copytree(ckpt, part / "checkpoints" / ckpt.name)
    rows = [line for line in (full / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["env_steps"] <= 600]
    (part / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "nacre.cli", "train", "--resume", str(part), "--steps", "1200",
         "--no-progress"], capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    pf, pp = params(full), params(part)
    for key in pf:
        if key.startswith(("learner/", "buffer/", "generator")):
            assert torch.equal(pf[key], pp[key]), key
    assert metrics(full) == metrics(part)


def test_resume_needs_more_steps(tmp_path: Path) -> None:
    small_run(tmp_path / "r", steps=400)
    with pytest.raises(ConfigError, match="already at 400 steps"):
        nacre.resume(tmp_path / "r", steps=400)


def test_resume_to_a_larger_budget_keeps_the_epsilon_schedule(tmp_path: Path) -> None:
    run = tmp_path / "r"
    small_run(run, steps=400, extra=("exploration.steps=50",))
    eps = nacre.load_run(run)[0].agent.exploration.inner.epsilon
    assert eps.steps == 64 and eps(400) == eps.end  # 16 % of 400 steps: decay finished
    nacre.resume(run, steps=800, progress=False)
    cfg = nacre.load_config(run / "config.yaml")
    assert (cfg.train.steps, cfg.train.schedule_steps) == (800, 400)
    resumed = nacre.load_run(run)[0].agent.exploration.inner.epsilon
    assert resumed.steps == 64 and resumed(400) == resumed.end  # ε does not jump back up


def test_resuming_a_checkpoint_without_best_eval_starts_from_its_last_eval(
        tmp_path: Path) -> None:
    run = tmp_path / "r"
    small_run(run, steps=400)
    state_path = latest_checkpoint(run) / "state.json"
    state = json.loads(state_path.read_text())
    del state["extra"]["loop"]["best_eval"]  # as written before best_eval existed
    state["extra"]["loop"]["last_eval"]["returns"] = [1000.0, 1000.0]  # unbeatable on CartPole
    state_path.write_text(json.dumps(state))
    summary = nacre.resume(run, steps=800, progress=False).summary
    assert (summary["best_eval_return_mean"], summary["best_eval_env_steps"]) == (1000.0, 400)


class _Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(MARKER),))


MARKER = ""


def test_a_pickled_checkpoint_is_refused(tmp_path: Path) -> None:
    global MARKER
    small_run(tmp_path / "r", steps=400)
    ckpt = latest_checkpoint(tmp_path / "r")
    MARKER = str(tmp_path / "pwned")
    (ckpt / "model.safetensors").write_bytes(pickle.dumps({"w": _Boom()}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(ckpt)
    with pytest.raises(CheckpointError):
        nacre.evaluate_run(tmp_path / "r")
    assert not Path(MARKER).exists()


def test_no_unsafe_loading_in_the_source() -> None:
    src = Path(nacre.__file__).parent
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nacre.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_train_eval_presets(tmp_path: Path) -> None:
    out = cli("train", "cartpole-dqn", "--steps", "400", "--seed", "1", "--out",
              str(tmp_path / "r"), "--no-progress", "--set", *SMALL)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["env_steps"] == 400
    ev = cli("eval", str(tmp_path / "r"), "--episodes", "3")
    assert ev.returncode == 0, ev.stderr
    assert json.loads((tmp_path / "r" / "eval.json").read_text())["episodes"] == 3
    pr = cli("presets")
    assert "cartpole-dqn" in pr.stdout and "frozenlake-tabular" in pr.stdout


def test_cli_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    out = cli("train", "no-such-preset")
    assert out.returncode == 2
    assert "nacre: error: unknown preset" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: CartPole-v1}\nlearner: {name: dqn, lr: [}\n")
    out = cli("train", str(bad))
    assert out.returncode == 2 and "line 2" in out.stderr and "Traceback" not in out.stderr
    out = cli("eval", str(tmp_path))
    assert out.returncode == 2 and "not a run folder" in out.stderr


def test_batched_evaluation_matches_one_episode_at_a_time(tmp_path: Path) -> None:
    small_run(tmp_path / "r", steps=800)
    run, _ = nacre.load_run(tmp_path / "r")
    one_by_one = nacre.evaluate(run.agent, run.make_eval_env(), 5, seed=7)
    side_by_side = nacre.evaluate(run.agent, [run.make_eval_env() for _ in range(3)], 5, seed=7)
    assert one_by_one == side_by_side


def test_tensorboard_logging(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    small_run(tmp_path / "r", steps=400, extra=("train.tensorboard=true",))
    events = list((tmp_path / "r" / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_the_first_row_after_a_resume_reports_the_checkpoints_training_round(
        tmp_path: Path) -> None:
    # the checkpoint at 592 follows a training round (every 16 steps); the next row (600) comes
    # before the next round (608), so it can only report the round the checkpoint saw
    full = tmp_path / "full"
    small_run(full, steps=1200, extra=("train.checkpoint_every=592", "train.keep_checkpoints=0"))
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    (part / "config.yaml").write_text((full / "config.yaml").read_text())
    import shutil

    ckpt = full / "checkpoints" / "step_000000000592"
    shutil.copytree(ckpt, part / "checkpoints" / ckpt.name)
    rows = [line for line in (full / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["env_steps"] <= 592]
    (part / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    nacre.resume(part, steps=1200, progress=False)
    resumed = {r["env_steps"]: r for r in metrics(part)}
    assert "loss" in resumed[600]
    assert metrics(full) == metrics(part)
