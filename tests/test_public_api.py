"""Pins the curated public API: a change here is a deliberate API change."""

import nacre

EXPECTED = {
    "DQN", "ActionResult", "Agent", "AvailableActions", "Boltzmann", "BoxActionSpace",
    "CheckpointError", "Component", "ConfigError", "DQNConfig", "DeepSARSA",
    "DiscreteActionSpace", "DoubleDQN", "EnvConfig", "EpsilonGreedy", "Greedy", "InputError",
    "LinearSchedule", "NacreError", "ReplayBuffer", "RunConfig", "SARSABuffer", "SpaceError",
    "TabularConfig", "TabularQLearning", "TrainConfig", "TransitionBatch", "Warmup",
    "__version__", "build", "evaluate", "evaluate_run", "fit", "load_config", "load_preset",
    # policy-gradient learners (issue #3)
    "PPO", "PPOConfig", "PolicySampling", "MeanAction", "RolloutBuffer", "REINFORCE",
    "ReinforceConfig", "SAC", "SACConfig", "TD3", "TD3Config", "DDPG", "DDPGConfig",
    # contextual bandits (issue #4)
    "DisjointLinearBandit", "FastCB", "LinearBandit", "LinearBanditConfig", "NeuralBandit",
    "NeuralBanditConfig", "NeuralLinearBandit", "OnlineBuffer", "SquareCB", "ThompsonSampling",
    "UCB",
    "load_run", "make_env", "preset_names", "register", "resume", "train",
    # clean core (issue #10): typed buffer writes, the callback API
    "StepBatch", "Callback", "StopOnReward", "Training", "train_seeds",
    # a user's first hour (issue #12): one-line load (agent.save / agent.predict are methods)
    "load", "MultiDiscreteActionSpace",
    # distributional RL and deep exploration (issue #14)
    "QRDQN", "QRDQNConfig", "DoubleQRDQN", "BootstrappedDQN", "IQN", "IQNConfig",
    # offline RL (issue #16)
    "Dataset", "DatasetInfo", "collect", "CQL", "CQLConfig", "DiscreteCQL", "IQL", "IQLConfig",
    "TD3BC", "TD3BCConfig",
}


def test_all_is_pinned() -> None:
    assert set(nacre.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in nacre.__all__:
        assert hasattr(nacre, name), name
