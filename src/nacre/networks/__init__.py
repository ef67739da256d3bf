"""Neural network building blocks: encoders, MLPs, Q heads and actor–critics."""

from nacre.networks.actor_critic import ActorCritic
from nacre.networks.base import Encoder
from nacre.networks.continuous import (
    ActorAndCritic,
    CategoricalActorTwinQ,
    DeterministicActor,
    SquashedGaussianActor,
    TwinQCritic,
)
from nacre.networks.encoders import (
    FlattenEncoder,
    MultiInputEncoder,
    NatureCNN,
    OneHotEncoder,
    make_encoder,
)
from nacre.networks.mlp import MLP
from nacre.networks.q import DuelingQHead, QNetwork, StateActionQHead, VanillaQHead
from nacre.networks.sequence import LSTMWindowEncoder, MaskedLSTM, TransformerWindowEncoder

__all__ = [
    "LSTMWindowEncoder",
    "MaskedLSTM",
    "TransformerWindowEncoder",
    "MLP",
    "ActorAndCritic",
    "ActorCritic",
    "CategoricalActorTwinQ",
    "DeterministicActor",
    "DuelingQHead",
    "Encoder",
    "FlattenEncoder",
    "MultiInputEncoder",
    "NatureCNN",
    "OneHotEncoder",
    "QNetwork",
    "SquashedGaussianActor",
    "StateActionQHead",
    "TwinQCritic",
    "VanillaQHead",
    "make_encoder",
]
