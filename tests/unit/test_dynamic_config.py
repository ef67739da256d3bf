"""Configs over catalogue candidates: networks with one output per slot are refused (they would
learn slot positions, not items), with errors that say what to use instead."""

from __future__ import annotations

import pytest

import nacre
from nacre.errors import ConfigError

SLOT_NETWORKS = [
    ("recsys-two-tower-dqn", ["network.head=vanilla"]),
    ("recsys-two-tower-dqn", ["network.head=dueling"]),
    ("recsys-two-tower-dqn", ["learner={name: qr_dqn}", "network={name: quantile_mlp}"]),
    ("recsys-masked-ppo", ["network.actor=mlp"]),
]


@pytest.mark.parametrize("preset, overrides", SLOT_NETWORKS)
def test_slot_output_networks_are_refused_over_a_catalogue(preset: str,
                                                           overrides: list[str]) -> None:
    config = nacre.load_preset(preset).with_overrides(
        [*overrides, "env.kwargs={n_items: 300}"])
    with pytest.raises(ConfigError, match="two_tower"):
        nacre.build(config)


def test_recurrent_ppo_refuses_a_candidate_actor() -> None:
    config = nacre.load_preset("recsys-masked-ppo").with_overrides(
        ["history={name: recurrent, hidden: 8}", "env.kwargs={n_items: 300}"])
    with pytest.raises(ConfigError, match="recurrent"):
        nacre.build(config)


@pytest.mark.parametrize("learner", ["disjoint_linear_bandit", "per_arm"])
def test_one_model_per_arm_bandits_are_refused_over_a_catalogue(learner: str) -> None:
    config = nacre.load_preset("recsys-neural-linucb").with_overrides(
        [f"learner={{name: {learner}}}", "env.kwargs={n_items: 300}"])
    with pytest.raises(ConfigError, match="neural_bandit"):
        nacre.build(config)
