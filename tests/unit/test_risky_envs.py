"""The risk environments: Pearl's mean-variance bandit and the risky-route MDP."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import nacre  # noqa: F401  (registers the nacre/... ids)
from nacre.envs import MeanVarianceBanditEnv, RiskyRouteEnv


def test_both_pass_gymnasiums_checker() -> None:
    check_env(MeanVarianceBanditEnv(), skip_render_check=True)
    check_env(RiskyRouteEnv(), skip_render_check=True)


def test_the_bandit_arms_have_their_means_and_variances() -> None:
    env = gym.make("nacre/MeanVarianceBandit-v0")
    env.reset(seed=0)
    for arm, (mean, variance) in enumerate([(6.0, 1.0), (10.0, 9.0)]):
        rewards = []
        for _ in range(4000):
            _, reward, terminated, truncated, info = env.step(np.int64(arm))
            assert terminated and not truncated
            rewards.append(reward)
        assert (info["mean"], info["variance"]) == (mean, variance)
        assert np.mean(rewards) == pytest.approx(mean, abs=4 * np.sqrt(variance / 4000))
        assert np.var(rewards) == pytest.approx(variance, rel=0.1)


def test_the_safe_route_pays_exactly_and_the_risky_one_on_average() -> None:
    env = RiskyRouteEnv(length=3)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [1.0, 0.0, 0.0]
    steps = [env.step(np.int64(a)) for a in (0, 1, 1)]  # after the first, actions do not matter
    assert [s[1] for s in steps] == [1.0, 1.0, 1.0]
    assert [s[2] for s in steps] == [False, False, True]
    assert steps[0][0].tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert {s[4]["route"] for s in steps} == {0}
    returns = []
    for _ in range(3000):
        env.reset()
        returns.append(sum(env.step(np.int64(1))[1] for _ in range(3)))
    assert np.mean(returns) == pytest.approx(4.5, abs=0.3)  # 3 · 1.5, sd 3·√3 ≈ 5.2
    assert np.std(returns) == pytest.approx(3 * np.sqrt(3), rel=0.1)


@pytest.mark.parametrize("make", [
    lambda: MeanVarianceBanditEnv(means=(1.0,), variances=(1.0,)),
    lambda: MeanVarianceBanditEnv(means=(1.0, 2.0), variances=(1.0,)),
    lambda: MeanVarianceBanditEnv(variances=(1.0, -1.0)),
    lambda: RiskyRouteEnv(length=0),
    lambda: RiskyRouteEnv(risky_std=-1.0),
    lambda: RiskyRouteEnv(safe_reward=float("nan")),
])
def test_bad_arguments_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_bad_actions_are_refused() -> None:
    for env in (MeanVarianceBanditEnv(), RiskyRouteEnv()):
        env.reset(seed=0)
        with pytest.raises(ValueError, match="not in"):
            env.step(np.int64(2))
