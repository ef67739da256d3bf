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
                                                      ((84, 84, 6), True),
                                                      ((4, 84, 84), False)])
def test_cnn_encoder_is_chosen_by_shape(shape: tuple[int, int, int], channels_last: bool) -> None:
    enc = make_encoder(gym.spaces.Box(0, 255, shape, np.uint8))
    assert isinstance(enc, NatureCNN) and enc.channels_last is channels_last
    assert enc(torch.zeros(2, *shape, dtype=torch.uint8)).shape == (2, enc.out_dim)


def test_tiny_images_are_flattened_unless_a_cnn_is_asked_for() -> None:
    from nacre.networks import FlattenEncoder

    tiny = gym.spaces.Box(0, 255, (3, 3, 3), np.uint8)
    assert isinstance(make_encoder(tiny), FlattenEncoder)
    with pytest.raises(SpaceError, match="at least 5 × 5"):
        make_encoder(tiny, "cnn")


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
    with pytest.raises(nacre.ConfigError,
                       match="use learner ppo or reinforce.*sac_discrete.*DiscreteProduct"):
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
        ["env.num_envs=2", "train.train_freq=64", "env.normalize={obs: true}"]))
    agent = run.agent
    obs = np.full((3, 4), 0.5, np.float32)
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


def test_factored_soft_value_equals_the_sum_over_every_joint_action() -> None:
    """Discrete SAC's factored value: Σ_i Σ_{a_i} π_i (Q_i / k − α log π_i) is the expectation
    over all Π K_i joint actions of the mean-of-branches value minus α log π(a)."""
    from itertools import product

    from nacre.losses.actor_critic import discrete_soft_value
    from nacre.losses.policy import block_log_softmax

    torch.manual_seed(0)
    nvec, alpha = (3, 2, 4), 0.3
    logits, q = torch.randn(1, sum(nvec)), torch.randn(1, sum(nvec))
    log_p = block_log_softmax(logits, nvec)
    starts = [0, 3, 5]
    brute = 0.0
    for joint in product(*(range(n) for n in nvec)):
        idx = [s + a for s, a in zip(starts, joint, strict=True)]
        log_pi = float(log_p[0, idx].sum())
        brute += math.exp(log_pi) * (float(q[0, idx].mean()) - alpha * log_pi)
    value = discrete_soft_value(log_p, q / len(nvec), alpha)
    assert abs(float(value[0]) - brute) < 1e-5
    torch.testing.assert_close(block_log_softmax(logits[:, :3], (3,)),
                               torch.log_softmax(logits[:, :3], dim=1))


def test_factored_discrete_sac_acts_and_learns_on_joint_actions() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides([
        "env.id=MultiDiscreteMatch-v0", "learner={name: sac_discrete}",
        "network={name: categorical_twin_q, actor_hidden: [16], critic_hidden: [16]}",
        "exploration={name: policy}"]))
    learner = run.agent.learner
    assert learner.scores_kind is nacre.kinds.ScoresKind.FACTORED  # type: ignore[attr-defined]
    obs = run.env.reset(seed=0)
    run.agent.reset(obs, run.env.action_space)
    action = run.agent.act()
    assert action.shape == (1, 2)
    batch = nacre.TransitionBatch(obs=torch.zeros(8, 5), action=torch.tensor([[2, 1]] * 8),
                                  reward=torch.ones(8), next_obs=torch.zeros(8, 5),
                                  terminated=torch.zeros(8))
    metrics = run.agent.learn_batch(batch)
    assert all(torch.isfinite(v).all() for v in metrics.values())
    run.env.close()


def test_a_saved_agent_never_replaces_a_folder_that_is_not_one(tmp_path: Path) -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn"))
    (tmp_path / "runs" / "other").mkdir(parents=True)
    with pytest.raises(InputError, match="not a saved agent"):
        run.agent.save(tmp_path / "runs")
    assert (tmp_path / "runs" / "other").is_dir()
    first = run.agent.save(tmp_path / "agent")
    assert run.agent.save(first) == first  # a saved agent is replaced by a newer save
    run.env.close()


def test_predict_on_a_hand_built_agent_learns_the_shape_at_reset() -> None:
    learner = nacre.build(nacre.load_preset("cartpole-dqn")).agent.learner
    agent = nacre.Agent(learner)
    with pytest.raises(InputError, match="observation_shape"):
        agent.predict(np.zeros(4, np.float32))
    env = nacre.make_env("CartPole-v1")
    agent.reset(env.reset(seed=0), env.action_space)
    assert agent.predict(np.zeros(4, np.float32)).shape == ()
    assert agent.predict(np.zeros((3, 4), np.float32)).shape == (3,)


def test_factored_propensities_stay_positive_for_many_choices() -> None:
    scores = torch.zeros(4, 200, 2)  # 200 fair coins: 0.5 ** 200 underflows float32
    _, propensity = FactoredSampling().select(scores, None, 0, torch.Generator().manual_seed(0))
    assert (propensity > 0).all()


def test_normalizing_dict_observations_as_one_vector_is_refused() -> None:
    cfg = nacre.load_preset("cartpole-ppo").with_overrides(
        ["env.id=DictCue-v0", "env.num_envs=2", "train.train_freq=64", "env.normalize={obs: true}"])
    with pytest.raises(nacre.ConfigError, match="env.normalize.obs: Dict / Tuple"):
        nacre.build(cfg)
