"""Dict / Tuple observations, MultiDiscrete / MultiBinary actions, image encoders, the factored
policy's maths and sampling, DiscreteProduct and Agent.predict."""

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
import nacre.testing.spaces_envs  # noqa: F401  (registers the toy envs)
from nacre.envs import DiscreteProduct, GymEnv, GymVectorEnv
from nacre.envs.sync import SyncEnvs
from nacre.errors import InputError, SpaceError
from nacre.exploration import FactoredMode, FactoredSampling
from nacre.losses.policy import factored_log_prob, pad_factored_logits
from nacre.networks import MultiInputEncoder, NatureCNN, make_encoder
from nacre.spaces import MultiDiscreteActionSpace, StructuredBox, from_gym_action_space
from nacre.testing.spaces_envs import DictCue


def test_dict_observations_are_flattened_in_gymnasium_order_by_every_adapter() -> None:
    space = DictCue().observation_space
    single = GymEnv(DictCue())
    sync = SyncEnvs(DictCue, 3)
    vec = GymVectorEnv(gym.vector.SyncVectorEnv([DictCue] * 3))
    for env in (single, sync, vec):
        assert isinstance(env.observation_space, StructuredBox)
        assert env.observation_space.shape == (5,)  # one-hot cue (3) + noise (2)
        obs = env.reset(seed=0)
        assert obs.dtype == np.float32 and obs.shape == (env.num_envs, 5)
        assert np.all(obs[:, :3].sum(axis=1) == 1.0)  # the Discrete part, one-hot
    raw, _ = DictCue().reset(seed=0)
    np.testing.assert_array_equal(single.reset(seed=0)[0], gym.spaces.flatten(space, raw))


def test_multi_input_encoder_keeps_each_part_and_uses_a_cnn_for_images() -> None:
    space = StructuredBox(gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (12, 12, 3), np.uint8),
        "pos": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        "room": gym.spaces.Discrete(4),
    }))
    enc = make_encoder(space)
    assert isinstance(enc, MultiInputEncoder)
    assert isinstance(enc.parts[0], NatureCNN) and enc.widths == [12 * 12 * 3, 2, 4]
    assert enc.out_dim == enc.parts[0].out_dim + 2 + 4
    x = torch.rand(5, space.shape[0])
    out = enc(x)
    assert out.shape == (5, enc.out_dim)
    torch.testing.assert_close(out[:, -6:], x[:, -6:])  # the flat parts pass through


@pytest.mark.parametrize(("shape", "channels_last"), [((1, 10, 10), False),
                                                      ((10, 10, 1), True),
                                                      ((84, 84, 4), True),
                                                      ((4, 84, 84), False)])
def test_cnn_encoder_is_chosen_by_shape(shape: tuple[int, int, int], channels_last: bool) -> None:
    enc = make_encoder(gym.spaces.Box(0, 255, shape, np.uint8))
    assert isinstance(enc, NatureCNN) and enc.channels_last is channels_last
    assert enc(torch.zeros(2, *shape, dtype=torch.uint8)).shape == (2, enc.out_dim)


def test_tiny_images_are_refused_with_the_size() -> None:
    with pytest.raises(SpaceError, match="at least 5 × 5"):
        make_encoder(gym.spaces.Box(0, 255, (3, 3, 1), np.uint8))


def test_multidiscrete_and_multibinary_action_spaces() -> None:
    md = from_gym_action_space(gym.spaces.MultiDiscrete([3, 2]))
    mb = from_gym_action_space(gym.spaces.MultiBinary(4))
    assert md == md and isinstance(md, MultiDiscreteActionSpace) and md.nvec == (3, 2)
    assert isinstance(mb, MultiDiscreteActionSpace) and mb.nvec == (2,) * 4 and mb.binary
    with pytest.raises(SpaceError, match="must start at 0"):
        from_gym_action_space(gym.spaces.MultiDiscrete([3, 2], start=[1, 0]))


@pytest.mark.parametrize("bad", [np.array([[3, 0]]), np.array([[0, -1]]), np.array([[0.5, 1.0]]),
                                 np.array([0, 1]), np.array([[0, 1, 1]])])
def test_multidiscrete_actions_outside_the_space_are_refused(bad: np.ndarray) -> None:
    env = nacre.make_env("MultiDiscreteMatch-v0")
    env.reset(seed=0)
    with pytest.raises(InputError, match="action"):
        env.step(bad)


def test_factored_log_prob_is_the_sum_of_the_choices() -> None:
    logits = torch.tensor([[0.0, math.log(3.0), 0.0, 0.0, 1.0]])  # choices of 3 and 2 values
    log_p, entropy = factored_log_prob(logits, torch.tensor([[1, 1]]), (3, 2))
    p1 = 3.0 / 5.0  # softmax([0, log 3, 0])[1]
    p2 = math.e / (1.0 + math.e)
    torch.testing.assert_close(log_p, torch.tensor([math.log(p1) + math.log(p2)]))
    h1 = -sum(p * math.log(p) for p in (0.2, 0.6, 0.2))
    h2 = -sum(p * math.log(p) for p in (1.0 - p2, p2))
    torch.testing.assert_close(entropy, torch.tensor([h1 + h2]))


def test_factored_sampling_matches_the_policy_and_reports_its_probability() -> None:
    logits = torch.tensor([[0.0, math.log(3.0), 0.0, 0.0, 1.0]]).repeat(20_000, 1)
    scores = pad_factored_logits(logits, (3, 2))
    assert scores.shape == (20_000, 2, 3) and torch.isinf(scores[:, 1, 2]).all()
    gen = torch.Generator().manual_seed(0)
    action, propensity = FactoredSampling().select(scores, None, 0, gen)
    assert action.shape == (20_000, 2) and int(action[:, 1].max()) <= 1
    assert abs(float((action[:, 0] == 1).float().mean()) - 0.6) < 0.02
    p2 = math.e / (1.0 + math.e)
    expected = torch.tensor([0.2, 0.6, 0.2])[action[:, 0]] * torch.where(
        action[:, 1] == 1, torch.tensor(p2), torch.tensor(1.0 - p2))
    torch.testing.assert_close(propensity, expected)
    mode, ones = FactoredMode().select(scores[:2], None, 0, gen)
    assert mode.tolist() == [[1, 1], [1, 1]] and ones.tolist() == [1.0, 1.0]


def test_discrete_product_enumerates_the_combinations() -> None:
    env = DiscreteProduct(gym.make("MultiDiscreteMatch-v0"))
    assert env.action_space == gym.spaces.Discrete(6)
    combos = {tuple(env.action(a).tolist()) for a in range(6)}
    assert combos == {(i, j) for i in range(3) for j in range(2)}
    with pytest.raises(SpaceError, match="too many"):
        DiscreteProduct(_wide_multibinary())


def _wide_multibinary() -> gym.Env:  # type: ignore[type-arg]
    class Wide(gym.Env):  # type: ignore[type-arg]
        observation_space = gym.spaces.Box(0.0, 1.0, (1,))
        action_space = gym.spaces.MultiBinary(13)
    return Wide()


def test_dqn_refuses_multidiscrete_actions_with_a_pointer() -> None:
    cfg = nacre.load_preset("cartpole-dqn").with_overrides(
        ["env.id=MultiDiscreteMatch-v0"])
    with pytest.raises(nacre.ConfigError, match="use learner ppo or reinforce.*DiscreteProduct"):
        nacre.build(cfg)


def test_predict_takes_raw_single_and_batched_observations() -> None:
    run = nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
        ["env.id=DictCue-v0", "env.num_envs=2", "train.train_freq=64"]))
    env = DictCue()
    obs, _ = env.reset(seed=0)
    action = run.agent.predict(obs)
    assert isinstance(action, np.ndarray) and action.shape == () and env.action_space.contains(
        int(action))
    batch = {"cue": np.array([0, 1, 2]), "noise": np.zeros((3, 2), np.float32)}
    assert run.agent.predict(batch).shape == (3,)
    with pytest.raises(InputError, match="missing key 'cue'"):
        run.agent.predict({"noise": np.zeros(2, np.float32)})
    run.env.close()


def test_predict_is_deterministic_by_default_and_samples_when_asked() -> None:
    run = nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
        ["env.id=MultiBinaryMatch-v0", "env.num_envs=2", "train.train_freq=64"]))
    obs = np.ones((64, 4), np.float32)
    greedy = run.agent.predict(obs)
    assert greedy.shape == (64, 4) and greedy.dtype == np.int8
    assert (greedy == greedy[0]).all()  # the same state: the same mode
    sampled = run.agent.predict(obs, deterministic=False)
    assert not (sampled == sampled[0]).all()  # an untrained policy is near uniform
    run.env.close()


def test_save_and_load_round_trip_in_one_line_each(tmp_path: Path) -> None:
    run = nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
        ["env.id=DictCue-v0", "env.num_envs=2", "train.train_freq=64",
         "env.normalize={obs: true}"]))
    agent = run.agent
    obs = {"cue": np.array([0, 1, 2]), "noise": np.full((3, 2), 0.5, np.float32)}
    run.env.reset(seed=0)
    run.env.step(np.array([0, 1]))  # moves the normalization statistics off their start
    before = agent.predict(obs, deterministic=True)
    with torch.no_grad():
        for p in agent.learner.net.parameters():  # type: ignore[attr-defined]
            p.add_(torch.randn_like(p))
    changed = agent.predict(obs)
    path = agent.save(tmp_path / "agent")
    loaded = nacre.load(path)
    np.testing.assert_array_equal(loaded.predict(obs), changed)
    assert loaded.observations.normalize is not None
    torch.testing.assert_close(  # the statistics came along
        torch.as_tensor(loaded.observations(obs)[0]), torch.as_tensor(agent.observations(obs)[0]))
    assert before.shape == changed.shape == (3,)
    run.env.close()


def test_an_agent_composed_by_hand_says_how_to_save_it() -> None:
    agent = nacre.Agent(nacre.build(nacre.load_preset("cartpole-dqn")).agent.learner)
    with pytest.raises(InputError, match=r"nacre.build\(config\)"):
        agent.save("anywhere")
