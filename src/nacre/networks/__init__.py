"""Neural network building blocks: encoders, MLPs, Q heads and actor–critics."""

from nacre.networks.actor_critic import ActorCritic
from nacre.networks.base import Encoder
from nacre.networks.continuous import (
    ActorAndCritic,
    CategoricalActorTwinQ,
    DeterministicActor,
    SharedLogStd,
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
from nacre.networks.ensemble import EnsembleLinear, EnsembleMLP, EnsembleQHead
from nacre.networks.mlp import MLP
from nacre.networks.q import (
    DuelingQHead,
    ImplicitQuantileHead,
    ImplicitQuantileNetwork,
    QNetwork,
    QuantileQHead,
    StateActionQHead,
    VanillaQHead,
)
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
    "EnsembleLinear",
    "EnsembleMLP",
    "EnsembleQHead",
    "ImplicitQuantileHead",
    "ImplicitQuantileNetwork",
    "Encoder",
    "FlattenEncoder",
    "MultiInputEncoder",
    "NatureCNN",
    "OneHotEncoder",
    "QNetwork",
    "SharedLogStd",
    "SquashedGaussianActor",
    "QuantileQHead",
    "StateActionQHead",
    "TwinQCritic",
    "VanillaQHead",
    "make_encoder",
]
