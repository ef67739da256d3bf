"""nacre: a modular, batched reinforcement-learning agent library.

Quick start::

    import nacre
    result = nacre.train("cartpole-dqn", steps=50_000, seed=0)
    print(result.summary["final_eval_return_mean"])
"""

from nacre.agent import Agent  # noqa: E402
from nacre.config import (  # noqa: E402
    Component,
    EnvConfig,
    RunConfig,
    TrainConfig,
    build,
    load_config,
    load_preset,
    preset_names,
    register,
)
from nacre.data import (  # noqa: E402
    Dataset,
    DatasetInfo,
    OnlineBuffer,
    ReplayBuffer,
    RolloutBuffer,
    SARSABuffer,
    StepBatch,
    TransitionBatch,
)
from nacre.envs import ActionResult, make_env  # noqa: E402
from nacre.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    InputError,
    NacreError,
    SpaceError,
)
from nacre.exploration import (  # noqa: E402
    UCB,
    Boltzmann,
    EpsilonGreedy,
    FastCB,
    Greedy,
    LinearSchedule,
    MeanAction,
    PolicySampling,
    SquareCB,
    ThompsonSampling,
    Warmup,
)
from nacre.learners import (  # noqa: E402
    DDPG,
    DQN,
    IQN,
    PPO,
    QRDQN,
    REINFORCE,
    SAC,
    TD3,
    BootstrappedDQN,
    DDPGConfig,
    DeepSARSA,
    DoubleDQN,
    DoubleQRDQN,
    IQNConfig,
    PPOConfig,
    QRDQNConfig,
    ReinforceConfig,
    SACConfig,
    TabularQLearning,
    TD3Config,
)
from nacre.learners.bandits import (  # noqa: E402
    DisjointLinearBandit,
    LinearBandit,
    LinearBanditConfig,
    NeuralBandit,
    NeuralBanditConfig,
    NeuralLinearBandit,
)
from nacre.learners.offline import (  # noqa: E402
    CQL,
    IQL,
    TD3BC,
    CQLConfig,
    DiscreteCQL,
    IQLConfig,
    TD3BCConfig,
)
from nacre.learners.value.dqn import DQNConfig  # noqa: E402
from nacre.learners.value.tabular import TabularConfig  # noqa: E402
from nacre.spaces import (  # noqa: E402
    AvailableActions,
    BoxActionSpace,
    DiscreteActionSpace,
    MultiDiscreteActionSpace,
)
from nacre.train import (  # noqa: E402
    Callback,
    StopOnReward,
    Training,
    evaluate,
    evaluate_run,
    fit,
    load_run,
    resume,
    train,
    train_seeds,
)
from nacre.train.collect import collect  # noqa: E402
from nacre.train.run import load  # noqa: E402
from nacre.version import __version__

__all__ = [
    # offline RL (issue #16)
    "CQL",
    "CQLConfig",
    "Dataset",
    "DatasetInfo",
    "DiscreteCQL",
    "IQL",
    "IQLConfig",
    "TD3BC",
    "TD3BCConfig",
    "collect",
    # contextual bandits (issue #4)
    "DisjointLinearBandit",
    "FastCB",
    "LinearBandit",
    "LinearBanditConfig",
    "NeuralBandit",
    "NeuralBanditConfig",
    "NeuralLinearBandit",
    "OnlineBuffer",
    "SquareCB",
    "ThompsonSampling",
    "UCB",
    "DDPG",
    "DDPGConfig",
    "DQN",
    "ActionResult",
    "Agent",
    "AvailableActions",
    "Boltzmann",
    "BoxActionSpace",
    "Callback",
    "CheckpointError",
    "Component",
    "ConfigError",
    "DQNConfig",
    "DeepSARSA",
    "DiscreteActionSpace",
    "DoubleDQN",
    "EnvConfig",
    "EpsilonGreedy",
    "Greedy",
    "InputError",
    "LinearSchedule",
    "MeanAction",
    "NacreError",
    "PPO",
    "PPOConfig",
    "PolicySampling",
    "REINFORCE",
    "ReinforceConfig",
    "SAC",
    "SACConfig",
    "TD3",
    "TD3Config",
    "ReplayBuffer",
    "RolloutBuffer",
    "RunConfig",
    "SARSABuffer",
    "SpaceError",
    "StepBatch",
    "StopOnReward",
    "TabularConfig",
    "TabularQLearning",
    "TrainConfig",
    "Training",
    "TransitionBatch",
    "Warmup",
    "__version__",
    "build",
    "evaluate",
    "evaluate_run",
    "fit",
    "load_config",
    "load_preset",
    "load_run",
    "make_env",
    "preset_names",
    "register",
    "resume",
    "train",
    "train_seeds",
    # a user's first hour (issue #12)
    "MultiDiscreteActionSpace",
    "load",
    # distributional RL and deep exploration (issue #14)
    "BootstrappedDQN",
    "DoubleQRDQN",
    "IQN",
    "IQNConfig",
    "QRDQN",
    "QRDQNConfig",
]
