"""Gymnasium adapters: single and vector envs, autoreset modes, refusals."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import nacre
from nacre.envs import GymEnv, GymVectorEnv
from nacre.errors import ConfigError, InputError, SpaceError


def test_single_env_resets_in_the_same_step_and_keeps_the_final_obs() -> None:
    env = nacre.make_env("CartPole-v1")
    obs = env.reset(seed=0)
    assert obs.shape == (1, 4)
    for _ in range(500):
        r = env.step(torch.tensor([0]))
        if r.terminated[0] or r.truncated[0]:
            assert not np.array_equal(r.obs, r.next_obs)  # new episode vs true final obs
            assert r.episode_lengths and r.episode_returns[0] == r.episode_lengths[0]
            return
    pytest.fail("CartPole never ended")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_same_step_final_obs(mode: str) -> None:
    env = nacre.make_env("CartPole-v1", num_envs=3, vectorization=mode)
    obs = env.reset(seed=0)
    assert obs.shape == (3, 4)
    ended = 0
    for _ in range(200):
        r = env.step(np.zeros(3, dtype=np.int64))
        assert r.valid is None
        done = r.terminated | r.truncated
        for i in np.flatnonzero(done):
            assert abs(r.next_obs[i, 2]) > 0.2 or abs(r.next_obs[i, 0]) > 2.4  # terminal state
            ended += 1
    env.close()
    assert ended > 0


def test_next_step_mode_marks_reset_steps_invalid() -> None:
    vec = SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2,
                        autoreset_mode=AutoresetMode.NEXT_STEP)
    env = GymVectorEnv(vec)
    env.reset(seed=0)
    saw_done = False
    done_idx = np.zeros(0, dtype=np.int64)
    for _ in range(100):
        r = env.step(np.zeros(2, dtype=np.int64))
        assert r.valid is not None
        if saw_done:
            assert not r.valid[done_idx].any()  # the step after a done is a reset step
            assert (r.reward[done_idx] == 0).all()
            break
        done_idx = np.flatnonzero(r.terminated | r.truncated)
        saw_done = done_idx.size > 0
    assert saw_done


def test_disabled_autoreset_is_refused() -> None:
    vec = SyncVectorEnv([lambda: gym.make("CartPole-v1")], autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ConfigError, match="autoreset_mode .* not supported"):
        GymVectorEnv(vec)


def test_unsupported_spaces_are_refused_with_what_is_supported() -> None:
    class GraphObs(gym.Env):  # type: ignore[type-arg]
        observation_space = gym.spaces.Text(5)
        action_space = gym.spaces.Discrete(2)

    class DictOfText(gym.Env):  # type: ignore[type-arg]
        observation_space = gym.spaces.Dict({"a": gym.spaces.Text(5)})
        action_space = gym.spaces.Discrete(2)

    class TwoDimMultiAction(gym.Env):  # type: ignore[type-arg]
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.MultiDiscrete([[2, 2], [2, 2]])

    with pytest.raises(SpaceError, match="supports Box, Discrete, Dict and Tuple observations"):
        GymEnv(GraphObs())
    with pytest.raises(SpaceError, match=r"observation\['a'\].*may hold Box, Discrete"):
        GymEnv(DictOfText())
    with pytest.raises(SpaceError, match="supports Discrete, Box, MultiDiscrete and MultiBinary"):
        GymEnv(TwoDimMultiAction())


def test_unknown_env_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown Gymnasium environment 'CartPol-v1'"):
        nacre.make_env("CartPol-v1")


@pytest.mark.parametrize("bad", [torch.tensor([2]), torch.tensor([-1]), np.array([0.5]),
                                 np.array([0, 1])])
def test_actions_outside_the_space_are_refused(bad: object) -> None:
    env = nacre.make_env("CartPole-v1")
    env.reset(seed=0)
    with pytest.raises(InputError, match="action"):
        env.step(bad)


class _NaNReward(gym.Wrapper):  # type: ignore[type-arg]
    def step(self, action):  # type: ignore[no-untyped-def]
        obs, _, term, trunc, info = self.env.step(action)
        return obs, float("nan"), term, trunc, info


def test_nan_reward_is_refused_at_observe() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn"))
    env = GymEnv(_NaNReward(gym.make("CartPole-v1")))
    run.agent.reset(env.reset(seed=0), env.action_space)
    with pytest.raises(InputError, match="reward: contains NaN"):
        run.agent.observe(env.step(run.agent.act()))


def test_agent_checks_call_order_and_batch_shape() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn"))
    with pytest.raises(InputError, match="before agent.act"):
        run.agent.act()
    with pytest.raises(InputError, match="expected a batch"):
        run.agent.reset(np.float32(1.0), run.env.action_space)  # type: ignore[arg-type]


def test_nacre_sync_envs_step_exactly_like_gymnasium_same_step_vector_env() -> None:
    from nacre.envs import make_env
    from nacre.envs.sync import SyncEnvs

    ours = make_env("CartPole-v1", 3, "sync")
    assert isinstance(ours, SyncEnvs)
    theirs = GymVectorEnv(gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync",
                                       vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}))
    np.testing.assert_array_equal(ours.reset(seed=5), theirs.reset(seed=5))
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(300):
        action = torch.from_numpy(rng.integers(0, 2, 3))
        a, b = ours.step(action), theirs.step(action)
        for name in ("obs", "next_obs", "reward", "terminated", "truncated"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert list(a.episode_returns) == list(b.episode_returns)
        assert list(a.episode_lengths) == list(b.episode_lengths)
        ended += len(a.episode_returns)
    assert ended > 10  # episodes ended (and were reset) along the way
    with pytest.raises(InputError):
        ours.step(torch.tensor([0, 1]))  # wrong batch size
    ours.close()
    theirs.close()
