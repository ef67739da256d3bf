"""Value-based learners."""

from nacre.learners.value.dqn import DQN, DeepSARSA, DoubleDQN
from nacre.learners.value.tabular import TabularQLearning

__all__ = ["DQN", "DeepSARSA", "DoubleDQN", "TabularQLearning"]
