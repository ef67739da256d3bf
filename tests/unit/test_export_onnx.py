"""ONNX export (nacre.export): the written graphs, run in onnxruntime on 10,000 random raw
observations, against the agent's own act path — ``agent.predict`` / ``agent.decide`` (which
normalize, score and explore in torch) and the exploration module's ``distribution``, never the
export's wrapper modules."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import nacre
from nacre.agent import Agent
from nacre.data import TransitionBatch
from nacre.exploration import means
from nacre.export import cli as export_cli
from nacre.export import export_onnx
from nacre.export.plan import plan
from nacre.spaces import AvailableActions, BoxActionSpace, DiscreteActionSpace
from nacre.types import ActionDistribution

N = 10_000
TOL = 1e-5


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(path: Path, **feed: np.ndarray) -> dict[str, np.ndarray]:
    session = _session(path)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


def _raw_obs(agent: Agent, n: int = N, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    assert agent.observation_shape is not None
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, *agent.observation_shape))).astype(np.float32)


def _scores(agent: Agent, raw: np.ndarray, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The scores the agent's act path computes (normalization, then the engine's scores)."""
    batch, _ = agent.observations(raw)
    space = agent.action_space
    features = space.features if isinstance(space, DiscreteActionSpace) else None
    with torch.inference_mode():
        return agent.engine.scores(torch.as_tensor(batch), features)


def _check_discrete(agent: Agent, out: Path, raw: np.ndarray, mask: np.ndarray | None = None
                    ) -> dict[str, float]:
    """Greedy actions equal the agent's (but where its scores tie); the exploring graph's
    probabilities equal the exploration's distribution and the propensities ``decide`` reports
    for the actions it samples. Returns the max abs differences."""
    feed = {"obs": raw} if mask is None else {"obs": raw, "mask": mask}
    mask_t = None if mask is None else torch.from_numpy(mask)
    available = None if mask_t is None else AvailableActions(mask_t)
    greedy = _run(out / "policy.onnx", **feed)["action"]
    batch, _ = agent.observations(raw)
    expected, _ = agent.decide(batch, available, exploit=True)
    mu = means(_scores(agent, raw)).numpy()
    differ = np.nonzero(greedy != expected.numpy())[0]
    rows = np.arange(len(raw))
    ties = np.abs(mu[differ, greedy[differ]] - mu[differ, expected.numpy()[differ]])
    assert greedy.dtype == np.int64 and greedy.shape == (len(raw),)
    assert (ties <= 1e-6).all(), f"{len(differ)} greedy actions differ where scores do not tie"
    assert mask is None or mask[rows, greedy].all()

    got = _run(out / "exploring.onnx", **feed)
    probs = got["probabilities"]
    diffs = {"scores": float(np.abs(got["scores"] - mu).max())}
    agent.generator.manual_seed(1)
    action, propensity = agent.decide(batch, available, exploit=False)
    diffs["propensity"] = float(np.abs(probs[rows, action.numpy()] - propensity.numpy()).max())
    if isinstance(agent.exploration, ActionDistribution):
        reference = agent.exploration.distribution(_scores(agent, raw), mask_t, agent.env_steps)
        diffs["probabilities"] = float(np.abs(probs - reference.numpy()).max())
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert max(diffs.values()) <= TOL, diffs
    return diffs


def _check_continuous(agent: Agent, out: Path, raw: np.ndarray) -> dict[str, float]:
    """The greedy graph's actions equal ``agent.predict``; the exploring graph, given the
    standard-normal draws the agent's generator makes, returns the action and propensity
    ``agent.decide`` samples with that generator."""
    space = agent.action_space
    assert isinstance(space, BoxActionSpace)
    greedy = _run(out / "policy.onnx", obs=raw)["action"]
    diffs = {"greedy": float(np.abs(greedy - agent.predict(raw)).max())}
    noise = torch.randn(len(raw), *space.shape, generator=torch.Generator().manual_seed(7))
    got = _run(out / "exploring.onnx", obs=raw, noise=noise.numpy())
    batch, _ = agent.observations(raw)
    agent.generator.manual_seed(7)
    action, propensity = agent.decide(batch, exploit=False)
    diffs["action"] = float(np.abs(got["action"] - action.numpy()).max())
    rel = np.abs(got["propensity"] - propensity.numpy()) / np.maximum(propensity.numpy(), 1e-3)
    diffs["propensity_rel"] = float(rel.max())
    scores = _scores(agent, raw).numpy()
    kind = json.loads((out / "export.json").read_text())["scores_kind"]
    if kind == "action":  # a deterministic actor: its action is the noise's mean
        diffs["mean"] = float(np.abs(got["mean"] - scores).max())
    else:  # (μ, log σ): channels 0, 1 of a Gaussian's scores, 1, 2 of a squashed one's
        at = 1 if kind == "squashed" else 0
        diffs["mean"] = float(np.abs(got["mean"] - scores[:, at]).max())
        diffs["log_std"] = float(np.abs(got["log_std"] - scores[:, at + 1]).max())
    assert max(diffs.values()) <= TOL, diffs
    return diffs


def _build(preset: str, *overrides: str, env_steps: int = 0) -> Agent:
    cfg = nacre.load_preset(preset)
    agent = nacre.build(cfg.with_overrides(list(overrides)) if overrides else cfg).agent
    agent.env_steps = env_steps
    return agent


def test_dqn_epsilon_greedy_and_warmup(tmp_path: Path) -> None:
    # ε is mid-schedule at step 5,000 (1.0 → 0.04 over 8,000 steps after a 1,000-step warm-up)
    agent = _build("cartpole-dqn", "network.hidden=[32, 32]", env_steps=5_000)
    out = export_onnx(agent, tmp_path / "eps")
    meta = json.loads((out / "export.json").read_text())
    assert meta["exploration"]["kind"] == "epsilon_greedy"
    assert meta["exploration"]["parameters"]["epsilon"] == pytest.approx(1.0 - 0.96 * 5 / 8)
    assert meta["exploration"]["frozen_at_step"] == 5_000
    _check_discrete(agent, out, _raw_obs(agent))
    agent.env_steps = 10  # still warming up: uniform over the actions (the same graph)
    warm = plan(agent).exploring
    assert warm.kind == "uniform" and isinstance(warm.module, ActionDistribution)
    np.testing.assert_array_equal(warm.module.distribution(torch.zeros(3, 2), None, 10),
                                  np.full((3, 2), 0.5, np.float32))


def test_dqn_boltzmann_with_action_masks(tmp_path: Path) -> None:
    agent = _build("taxi-masked-dqn", "network.hidden=[32]",
                   "exploration={name: boltzmann, temperature: 0.5}")
    out = export_onnx(agent, tmp_path / "x", mask=True)
    meta = json.loads((out / "export.json").read_text())
    assert [i["name"] for i in meta["graphs"]["exploring"]["inputs"]] == ["obs", "mask"]
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 500, N)  # Taxi's states: Discrete(500) observations
    mask = rng.random((N, 6)) < 0.5
    mask[np.arange(N), rng.integers(0, 6, N)] = True
    diffs = _check_discrete(agent, out, raw, mask)
    assert (_run(out / "exploring.onnx", obs=raw, mask=mask)["probabilities"][~mask] == 0).all()
    assert diffs["probabilities"] <= TOL


def test_ppo_discrete(tmp_path: Path) -> None:
    agent = _build("cartpole-ppo")
    out = export_onnx(agent, tmp_path / "x")
    diffs = _check_discrete(agent, out, _raw_obs(agent))
    # the categorical policy itself: softmax of the actor's logits
    logits = _scores(agent, _raw_obs(agent))
    probs = _run(out / "exploring.onnx", obs=_raw_obs(agent))["probabilities"]
    assert np.abs(probs - torch.softmax(logits, 1).numpy()).max() <= TOL
    assert diffs["propensity"] <= TOL


def test_linucb_bonus_in_graph(tmp_path: Path) -> None:
    agent = _build("digits-linucb")
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):  # a posterior away from the prior: A⁻¹ and θ differ per arm
        obs = torch.randn(200, 64, generator=rng)
        action = torch.randint(10, (200,), generator=rng)
        reward = (obs[:, 0] * (action - 4.5) > 0).float()
        agent.learn_batch(TransitionBatch(obs, action, reward, obs, torch.ones(200)))
    out = export_onnx(agent, tmp_path / "x")
    raw = _raw_obs(agent)
    diffs = _check_discrete(agent, out, raw)
    scores = _scores(agent, raw)
    alpha = json.loads((out / "export.json").read_text())["exploration"]["parameters"]["alpha"]
    got = _run(out / "exploring.onnx", obs=raw)
    ucb = scores[..., 0] + alpha * scores[..., 1]
    assert np.abs(got["ucb"] - ucb.numpy()).max() <= TOL
    assert np.abs(got["std"] - scores[..., 1].numpy()).max() <= TOL
    assert scores[..., 1].std() > 0.01  # the bonus differs between arms and contexts
    agent.generator.manual_seed(0)
    explored, propensity = agent.decide(agent.observations(raw)[0])
    assert (got["probabilities"].argmax(1) == explored.numpy()).mean() > 0.999
    assert (propensity == 1).all() and diffs["propensity"] == 0.0


# Thompson sampling's propensities are a quadrature costing B × K² × (32 + 13K) per call: fewer
# rows keep the reference quick
@pytest.mark.parametrize(("preset", "rows"), [("digits-squarecb", N), ("synthetic-lints", 500)])
def test_bandit_explorers(tmp_path: Path, preset: str, rows: int) -> None:
    agent = _build(preset, env_steps=1_000)
    dim = agent.observation_shape[0] if agent.observation_shape else 0
    rng = torch.Generator().manual_seed(1)
    obs = torch.randn(300, dim, generator=rng)
    action = torch.randint(agent.action_space.n, (300,), generator=rng)  # type: ignore[union-attr]
    agent.learn_batch(TransitionBatch(obs, action, obs[:, 0] * action, obs, torch.ones(300)))
    out = export_onnx(agent, tmp_path / "x", verify=rows == N)  # (checked here, on more rows)
    _check_discrete(agent, out, _raw_obs(agent, rows))


def test_ppo_continuous_from_a_run_folder_with_normalization(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    nacre.train("pendulum-ppo", steps=256, out=run_dir, progress=False,
                overrides=["env.normalize={obs: true}", "train.train_freq=128",
                           "train.batch_size=64", "learner.epochs=1", "network.hidden=[16]"])
    parser = argparse.ArgumentParser()
    export_cli.add_arguments(parser)
    assert export_cli.run(parser.parse_args([str(run_dir)])) == 0
    out = run_dir / "export"
    meta = json.loads((out / "export.json").read_text())
    norm = meta["observation"]["normalization"]
    assert norm is not None and norm["mean"] != [0.0, 0.0, 0.0]
    assert meta["source"] == str(run_dir) and meta["exploration"]["kind"] == "policy"
    agent = nacre.load(run_dir)
    # raw observations on Pendulum's scale, some beyond the clip of the normalization
    _check_continuous(agent, out, _raw_obs(agent, scale=3.0))


def test_sac_squashed_gaussian_and_torchscript(tmp_path: Path) -> None:
    agent = _build("pendulum-sac", "network.actor_hidden=[32, 32]",
                   "network.critic_hidden=[32]", env_steps=500)  # past its 100-step warm-up
    out = export_onnx(agent, tmp_path / "x", torchscript=True)
    raw = _raw_obs(agent)
    _check_continuous(agent, out, raw)
    meta = json.loads((out / "export.json").read_text())
    assert meta["exploration"]["distribution"] == "squashed_gaussian"
    with warnings.catch_warnings():  # torch ≥ 2.10 deprecates TorchScript (and loading it)
        warnings.simplefilter("ignore", DeprecationWarning)
        script = torch.jit.load(str(out / "policy.pt"))  # type: ignore[no-untyped-call]
    with torch.no_grad():
        ts_action = script(torch.from_numpy(raw))
    assert np.abs(ts_action.numpy() - agent.predict(raw)).max() <= TOL


def test_td3_gaussian_noise(tmp_path: Path) -> None:
    agent = _build("pendulum-td3", "network.actor_hidden=[32]", "network.critic_hidden=[32]",
                   env_steps=20_000)
    out = export_onnx(agent, tmp_path / "x")
    _check_continuous(agent, out, _raw_obs(agent))
    one = _run(out / "policy.onnx", obs=_raw_obs(agent, 1))["action"]  # a batch of one works
    assert one.shape == (1, 1)


@pytest.mark.parametrize(("preset", "overrides", "env_steps", "why"), [
    ("cartpole-po-stack-dqn", (), 0, "history"),
    ("deepsea-bootstrapped-dqn", (), 0, "per episode"),
    ("pendulum-sac", (), 0, "warm-up"),
    ("digits-squarecb", ("exploration={name: fastcb}",), 0, "FastCB"),
    ("digits-ensemble-ucb", (), 0, "no action distribution"),
])
def test_refuses_what_a_graph_cannot_reproduce(tmp_path: Path, preset: str,
                                               overrides: tuple[str, ...], env_steps: int,
                                               why: str) -> None:
    agent = _build(preset, *overrides, env_steps=env_steps)
    with pytest.raises(nacre.ConfigError, match=why):
        export_onnx(agent, tmp_path / "x")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
