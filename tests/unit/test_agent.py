"""Agent: per-step candidate sets with a mask, propensities, decide() leaves state alone."""

import numpy as np
import torch

import nacre
from nacre import AvailableActions, DiscreteActionSpace
from nacre.networks import FlattenEncoder, QNetwork, StateActionQHead, VanillaQHead


def make_agent(explore: object, n: int = 4) -> nacre.Agent:
    torch.manual_seed(0)
    net = QNetwork(FlattenEncoder((3,)), VanillaQHead(3, n, (8,), "relu"))
    return nacre.Agent(nacre.DQN(net), exploration=explore,  # type: ignore[arg-type]
                       buffer=nacre.ReplayBuffer(100, seed=0), seed=0)


def test_masked_actions_are_never_taken_and_propensities_are_exact() -> None:
    agent = make_agent(nacre.EpsilonGreedy(0.5))
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    agent.reset(np.zeros((2, 3), np.float32), DiscreteActionSpace(4), AvailableActions(mask))
    for _ in range(200):
        action = agent.act()
        assert mask[torch.arange(2), action].all()
        p = agent.last_propensity
        assert p is not None
        assert float(p[1]) == 1.0  # a single available action is taken for sure
        assert float(p[0]) in (0.25, 0.75)  # ε/2, or 1-ε+ε/2 for the greedy one


def test_decide_does_not_change_the_agents_state() -> None:
    agent = make_agent(nacre.EpsilonGreedy(0.3))
    agent.reset(np.zeros((1, 3), np.float32), DiscreteActionSpace(4))
    before = agent.generator.get_state().clone()
    action, propensity = agent.decide(np.ones((1, 3), np.float32), exploit=True)
    assert torch.equal(agent.generator.get_state(), before)  # greedy draws nothing
    assert float(propensity[0]) == 1.0
    assert agent.last_propensity is None


def test_featured_actions_reach_a_state_action_head() -> None:
    torch.manual_seed(0)
    feats = torch.randn(5, 2)
    net = QNetwork(FlattenEncoder((3,)), StateActionQHead(3, 2, (8,), "relu"))
    agent = nacre.Agent(nacre.DQN(net, action_features=feats), seed=0)
    agent.reset(np.zeros((2, 3), np.float32), DiscreteActionSpace(5, features=feats))
    assert agent.act().shape == (2,)
    per_step = torch.randn(2, 3, 2)  # three candidates per decision, with their own features
    mask = torch.tensor([[True, True, False], [True, True, True]])
    action, _ = agent.decide(np.zeros((2, 3), np.float32), AvailableActions(mask, per_step))
    assert action.shape == (2,) and int(action[0]) != 2
