"""Partial-observability wrappers and nacre's registered ids (issue #13, item 4)."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nacre
from nacre.config import yaml_io
from nacre.envs import VELOCITY_FREE, PartialObservation, without_velocities
from nacre.envs.registration import BITFLIP_ID, PARTIAL_IDS, register_envs
from nacre.errors import SpaceError


def test_keep_selects_components_and_their_bounds() -> None:
    env = PartialObservation(gym.make("CartPole-v1"), keep=(0, 2))
    full = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=3)
    full_obs, _ = full.reset(seed=3)
    np.testing.assert_array_equal(obs, full_obs[[0, 2]])
    for _ in range(5):
        obs, *_ = env.step(1)
        full_obs, *_ = full.step(1)
        np.testing.assert_array_equal(obs, full_obs[[0, 2]])
    np.testing.assert_array_equal(env.observation_space.low, full.observation_space.low[[0, 2]])
    assert env.observation_space.dtype == np.float32


@pytest.mark.parametrize("every", [2, 3])
def test_every_nth_step_shows_the_observation_and_zeros_between(every: int) -> None:
    env = PartialObservation(gym.make("Acrobot-v1"), keep=VELOCITY_FREE["Acrobot-v1"],
                             every=every)
    full = gym.make("Acrobot-v1")
    obs, _ = env.reset(seed=0)
    full_obs, _ = full.reset(seed=0)
    np.testing.assert_array_equal(obs, full_obs[:4])  # shown at reset
    for t in range(1, 3 * every + 1):
        obs, *_ = env.step(t % 3)
        full_obs, *_ = full.step(t % 3)
        expected = full_obs[:4] if t % every == 0 else np.zeros(4, np.float32)
        np.testing.assert_array_equal(obs, expected)
        assert env.observation_space.contains(obs)
    env.reset(seed=1)
    assert env.t == 0  # the count restarts with each episode


def test_zeros_stay_inside_the_space() -> None:
    space = gym.spaces.Box(np.array([1.0, -3.0], np.float32), np.array([2.0, -1.0], np.float32))
    env = gym.make("CartPole-v1")
    env.observation_space = space  # a space excluding 0: only the bounds matter here
    wrapped = PartialObservation(env, every=2)
    assert wrapped.observation_space.contains(np.zeros(2, np.float32))
    assert PartialObservation(env).observation_space == space


def test_refuses_what_it_cannot_hide() -> None:
    with pytest.raises(SpaceError, match="1-D Box"):
        PartialObservation(gym.make("FrozenLake-v1"))
    with pytest.raises(ValueError, match="keep"):
        PartialObservation(gym.make("CartPole-v1"), keep=(4,))
    with pytest.raises(ValueError, match="every"):
        PartialObservation(gym.make("CartPole-v1"), every=0)
    with pytest.raises(ValueError, match="no velocity-free"):
        without_velocities("Taxi-v3")


@pytest.mark.parametrize(("env_id", "dim"), [("CartPole-v1", 2), ("Acrobot-v1", 4),
                                             ("Pendulum-v1", 2), ("MountainCar-v0", 1)])
def test_without_velocities(env_id: str, dim: int) -> None:
    env = without_velocities(env_id)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (dim,) == env.observation_space.shape


# The checker's advice (check env.unwrapped; normalize Pendulum's actions) is not about the
# wrapper; what it finds wrong raises.
@pytest.mark.filterwarnings("ignore:.*WARN:")
@pytest.mark.parametrize("env_id", sorted(PARTIAL_IDS))
def test_registered_ids_hide_velocities(env_id: str) -> None:
    base_id, every = PARTIAL_IDS[env_id]
    env, base = gym.make(env_id), gym.make(base_id)
    assert env.observation_space.shape == (len(VELOCITY_FREE[base_id]),)
    assert env.spec is not None and base.spec is not None
    assert env.spec.max_episode_steps == base.spec.max_episode_steps  # the task's time limit
    obs, _ = env.reset(seed=0)
    base_obs, _ = base.reset(seed=0)
    np.testing.assert_array_equal(obs, base_obs[list(VELOCITY_FREE[base_id])])
    assert isinstance(env, PartialObservation) and env.every == every
    gym.utils.env_checker.check_env(env, skip_render_check=True)


def test_registering_again_is_silent() -> None:
    register_envs()  # filterwarnings=error: a re-registration warning would fail here
    register_envs()
    assert BITFLIP_ID in gym.registry


def test_make_env_gives_two_dim_cartpole_observations() -> None:
    env = nacre.make_env("nacre/CartPole-PO-v0", num_envs=3)
    assert env.reset(seed=0).shape == (3, 2)
    result = env.step(np.ones(3, np.int64))
    assert result.obs.shape == result.next_obs.shape == (3, 2)
    one = nacre.make_env("nacre/CartPole-PO-v0")
    assert one.reset(seed=0).shape == (1, 2)


def test_resume_state_covers_the_step_count() -> None:
    def make() -> PartialObservation:
        # CartPole: Acrobot's own state changes dtype after a step, which resume refuses
        return without_velocities("CartPole-v1", every=2)

    env = nacre.make_env(make, num_envs=2)
    env.reset(seed=0)
    env.step(np.zeros(2, np.int64))
    state = env.get_state()
    assert state is not None  # the wrapper's plain attributes are captured
    state = json.loads(json.dumps(state))  # as a checkpoint stores it
    after = [env.step(np.zeros(2, np.int64)).obs for _ in range(3)]
    again = nacre.make_env(make, num_envs=2)
    assert again.set_state(state)
    for expected in after:
        np.testing.assert_array_equal(again.step(np.zeros(2, np.int64)).obs, expected)


def test_dqn_trains_on_po_cartpole_from_yaml(tmp_path: Path) -> None:
    config = nacre.RunConfig.from_dict(yaml_io.loads("""
env: {id: "nacre/CartPole-PO-v0", num_envs: 2}
learner: {name: dqn, lr: 0.001}
network: {name: mlp, hidden: [32]}
exploration: {name: epsilon_greedy, start: 1.0, end: 0.05, decay_fraction: 0.5}
buffer: {name: replay, capacity: 1000}
train: {steps: 400, learning_starts: 100, batch_size: 32, target_update_interval: 100,
        eval_every: 0, eval_episodes: 2}
"""))
    result = nacre.train(config, out=tmp_path / "run", progress=False)
    assert result.summary["final_eval_return_mean"] > 0
    saved = nacre.load_config(tmp_path / "run" / "config.yaml")
    assert saved.env.id == "nacre/CartPole-PO-v0"
