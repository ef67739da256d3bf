"""Observation normalization and reward scaling."""

from __future__ import annotations

import numpy as np

import nacre
from nacre.envs import make_env
from nacre.envs.normalize import Normalize, NormalizeConfig, RunningMeanStd


def test_running_mean_std_equals_the_statistics_of_everything_seen() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 2)) for n in (1, 7, 50, 3)]
    rms = RunningMeanStd((2,))
    for b in batches:
        rms.update(b)
    data = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-3)
    twin = RunningMeanStd((2,))
    twin.load(rms.state())
    np.testing.assert_array_equal(twin.mean, rms.mean)


def test_training_env_normalizes_and_scales_eval_env_is_frozen_and_raw() -> None:
    cfg = NormalizeConfig(obs=True, reward=True, gamma=0.9)
    env = Normalize(make_env("Pendulum-v1", 2), cfg)
    obs = env.reset(seed=0)
    rng = np.random.default_rng(0)
    seen, rewards, raw_returns = [obs], [], []
    for _ in range(600):
        r = env.step(rng.uniform(-2, 2, size=(2, 1)).astype(np.float32))
        seen.append(r.next_obs)
        rewards.append(r.reward)
        raw_returns += list(r.episode_returns)
    late = np.concatenate(seen[300:])
    assert np.all(np.abs(late.mean(0)) < 0.5) and np.all(np.abs(late.std(0) - 1) < 0.5)
    assert raw_returns and min(raw_returns) < -200  # episode returns stay in env units
    assert np.abs(np.concatenate(rewards[300:])).max() < 20  # scaled (Pendulum: down to −16)
    before = env.obs_stats.state()
    frozen = env.frozen(make_env("Pendulum-v1", 1, "none"))
    raw = make_env("Pendulum-v1", 1, "none")
    np.testing.assert_allclose(frozen.reset(seed=1), env.normalize_obs(raw.reset(seed=1)))
    zero = np.zeros((1, 1), np.float32)
    r, r_raw = frozen.step(zero), raw.step(zero)
    assert env.obs_stats.state() == before  # evaluation does not update the statistics
    assert r.reward[0] == r_raw.reward[0]  # evaluation rewards are not scaled
    np.testing.assert_allclose(r.obs, env.normalize_obs(r_raw.obs))


def test_normalized_runs_checkpoint_and_reload_their_statistics(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "run"
    nacre.train("pendulum-ppo", steps=2048, seed=0, out=run_dir, progress=False,
                overrides=["env.normalize={obs: true, reward: true}", "train.train_freq=1024",
                           "train.eval_every=0", "train.eval_episodes=2",
                           "network.hidden=[16, 16]", "train.learn_threads=1"])
    run, extra = nacre.load_run(run_dir)
    assert isinstance(run.env, Normalize) and "env_stats" in extra
    assert run.env.obs_stats.state() == extra["env_stats"]["obs"]
    assert run.env.obs_stats.count > 2000  # restored, not fresh
    eval_env = run.make_eval_env()
    assert isinstance(eval_env, Normalize) and eval_env.obs_stats is run.env.obs_stats
    result = nacre.evaluate_run(run_dir, episodes=2)
    assert np.isfinite(result["return_mean"])
