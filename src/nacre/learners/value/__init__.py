"""Value-based learners."""

from nacre.learners.value.bootstrapped import BootstrappedDQN
from nacre.learners.value.dqn import DQN, DeepSARSA, DoubleDQN
from nacre.learners.value.iqn import IQN, IQNConfig
from nacre.learners.value.qr_dqn import QRDQN, DoubleQRDQN, QRDQNConfig
from nacre.learners.value.tabular import TabularQLearning

__all__ = [
    "DQN",
    "IQN",
    "IQNConfig",
    "BootstrappedDQN",
    "QRDQN",
    "DeepSARSA",
    "DoubleDQN",
    "DoubleQRDQN",
    "QRDQNConfig",
    "TabularQLearning",
]
