"""Learning tests: each asserts a measured return that a broken learner would miss.

Random policies score ~0.015 on non-slippery FrozenLake and ~22 on CartPole-v1. The tests of
learners a kernel of nacre.accel covers run twice: with the kernel (``accelerate: auto``) and on
the learner's readable update (``accelerate: off``).
"""

import pytest

import nacre

FAST = ["train.eval_every=0", "train.log_every=1000", "train.learn_threads=1"]
BOTH_PATHS = pytest.mark.parametrize("accelerate", ["auto", "off"])


def test_tabular_q_solves_deterministic_frozenlake() -> None:
    result = nacre.train("frozenlake-tabular", steps=4000, seed=0, progress=False,
                         out=_tmp("fl"),
                         overrides=[*FAST, "env.kwargs={is_slippery: false}",
                                    "train.eval_episodes=20"])
    assert result.summary["final_eval_return_mean"] == 1.0


@pytest.mark.parametrize(
    ("learner", "buffer", "threshold"),
    [("dqn", "replay", 150.0), ("double_dqn", "replay", 140.0), ("sarsa", "sarsa", 90.0)],
)


@BOTH_PATHS
def test_dqn_family_learns_cartpole_quickly(learner: str, buffer: str, threshold: float,
                                            accelerate: str) -> None:
    result = nacre.train(
        "cartpole-dqn", steps=5000, seed=0, progress=False, out=_tmp(learner + accelerate),
        overrides=[*FAST, f"train.accelerate={accelerate}", f"learner.name={learner}",
                   f"buffer.name={buffer}",
                   "network.hidden=[64, 64]", "train.train_freq=4", "train.gradient_steps=2",
                   "train.target_update_interval=200", "exploration.steps=500"],
    )
    assert result.summary["final_eval_return_mean"] >= threshold


def test_dueling_head_and_n_step_learn_cartpole() -> None:
    result = nacre.train(
        "cartpole-dqn", steps=5000, seed=0, progress=False, out=_tmp("duel"),
        overrides=[*FAST, "network.head=dueling", "buffer.n_step=3", "network.hidden=[64, 64]",
                   "train.train_freq=4", "train.gradient_steps=2",
                   "train.target_update_interval=200", "exploration.steps=500"],
    )
    assert result.summary["final_eval_return_mean"] >= 150.0


@BOTH_PATHS
def test_vectorized_envs_learn_cartpole(accelerate: str) -> None:
    result = nacre.train(
        "cartpole-dqn", steps=5000, seed=0, num_envs=4, progress=False,
        out=_tmp("vec" + accelerate),
        overrides=[*FAST, f"train.accelerate={accelerate}", "network.hidden=[64, 64]",
                   "train.train_freq=8",
                   "train.gradient_steps=4", "train.target_update_interval=200",
                   "exploration.steps=500"],
    )
    assert result.summary["final_eval_return_mean"] >= 150.0


@pytest.mark.slow
def test_cartpole_dqn_preset_reaches_475() -> None:
    # The preset learns CartPole: a greedy evaluation reaches >= 475 in at least 4 of seeds 0-4
    # (a broken learner never does; random play scores ~22). The final return alone is not the
    # criterion: DQN with RL-Zoo's settings oscillates, and the evaluation at exactly 50k steps
    # is a snapshot (SB3 with the same settings ends >= 475 in 3 of these 5 seeds, nacre in 2;
    # docs/benchmarks.md).
    summaries = [
        nacre.train("cartpole-dqn", seed=seed, progress=False, out=_tmp(f"preset{seed}"),
                    overrides=["train.learn_threads=1"]).summary
        for seed in range(5)
    ]
    best = [s["best_eval_return_mean"] for s in summaries]
    finals = [s["final_eval_return_mean"] for s in summaries]
    assert sum(b >= 475.0 for b in best) >= 4, best
    assert sum(finals) / len(finals) >= 150.0, finals


_BASE: list[object] = []


def _tmp(name: str) -> object:
    import tempfile
    from pathlib import Path

    if not _BASE:
        _BASE.append(Path(tempfile.mkdtemp(prefix="nacre-learning-")))
    base = _BASE[0]
    assert isinstance(base, Path)
    return base / name


PPO_FAST = [*FAST, "env.num_envs=4", "train.train_freq=256", "train.batch_size=64",
            "learner.epochs=10", "learner.lr=0.003", "learner.lr_schedule=constant",
            "learner.clip_schedule=constant", "learner.gamma=0.9", "train.eval_episodes=20"]


@BOTH_PATHS
def test_ppo_learns_a_two_armed_contextual_task(accelerate: str) -> None:
    from nacre.testing import register_fakes

    register_fakes()
    result = nacre.train("cartpole-ppo", steps=6000, seed=0, progress=False,
                         out=_tmp("ppo-d" + accelerate),
                         overrides=[*PPO_FAST, f"train.accelerate={accelerate}",
                                    "env.id=nacre/Identity-v0", "env.kwargs={n: 2}"])
    # 10 steps per episode, reward 1 per correct arm: random ≈ 5, optimal 10
    assert result.summary["final_eval_return_mean"] >= 9.5


@BOTH_PATHS
def test_continuous_ppo_learns_to_reach_a_target(accelerate: str) -> None:
    from nacre.testing import register_fakes

    register_fakes()
    # the preset's linear lr / clip decay: with a constant lr of 3e-3 the policy's std shrinks
    # to ~0.01 and an occasional late update throws it off (seen in 1 of 4 seeds)
    decaying = [o for o in PPO_FAST if "schedule" not in o]
    result = nacre.train("cartpole-ppo", steps=20000, seed=0, progress=False,
                         out=_tmp("ppo-c" + accelerate),
                         overrides=[*decaying, f"train.accelerate={accelerate}",
                                    "env.id=nacre/Target-v0"])
    # minus the mean distance to the target over 10 steps: random ≈ −11, the untrained greedy
    # (mean) action ≈ −5, after one training round ≈ −2 to −3.5; optimal 0
    assert result.summary["final_eval_return_mean"] >= -0.5


@pytest.mark.slow
def test_cartpole_ppo_preset_reaches_475_at_50k_steps() -> None:
    finals = [
        nacre.train("cartpole-ppo", steps=50_000, seed=seed, progress=False,
                    out=_tmp(f"ppo{seed}"), overrides=["train.learn_threads=1"]
                    ).summary["final_eval_return_mean"]
        for seed in range(5)
    ]
    assert sum(f >= 475.0 for f in finals) >= 4, finals


@pytest.mark.slow
def test_continuous_ppo_swings_up_the_pendulum() -> None:
    result = nacre.train("pendulum-ppo", seed=0, progress=False, out=_tmp("ppo-pendulum"),
                         overrides=["train.learn_threads=1"])
    assert result.summary["final_eval_return_mean"] >= -250.0  # random ≈ −1200


def test_reinforce_learns_a_two_armed_contextual_task() -> None:
    from nacre.testing import register_fakes

    register_fakes()
    result = nacre.train("cartpole-ppo", steps=8000, seed=0, progress=False, out=_tmp("reinf"),
                         overrides=[*FAST, "learner={name: reinforce, lr: 0.003, gamma: 0.9}",
                                    "env.id=nacre/Identity-v0", "env.kwargs={n: 2}",
                                    "env.num_envs=4", "train.train_freq=80",
                                    "train.eval_episodes=20"])
    assert result.summary["final_eval_return_mean"] >= 9.5  # random ≈ 5, optimal 10


@pytest.mark.parametrize("learner", ["td3", "ddpg"])
@BOTH_PATHS
def test_deterministic_actors_learn_to_reach_a_target(learner: str, accelerate: str) -> None:
    from nacre.testing import register_fakes

    register_fakes()
    one_critic = ["learner={name: ddpg, gamma: 0.5}", "network.n_critics=1"]
    result = nacre.train(
        "pendulum-td3", steps=3000, seed=0, progress=False, out=_tmp(learner + accelerate),
        overrides=[*FAST, f"train.accelerate={accelerate}", "env.id=nacre/Target-v0",
                   "train.learning_starts=500",
                   "exploration.steps=500", "network.actor_hidden=[64, 64]",
                   "network.critic_hidden=[64, 64]", "train.batch_size=64",
                   "learner.gamma=0.5", "train.eval_episodes=20",
                   *(one_critic if learner == "ddpg" else [])],
    )
    # minus the mean distance to the target over 10 steps: random ≈ −11, untrained ≈ −5,
    # after 100 updates −0.9 to −2.6, after 2,500 updates ≈ −0.05
    assert result.summary["final_eval_return_mean"] >= -0.3


@BOTH_PATHS
def test_sac_learns_to_reach_a_target(accelerate: str) -> None:
    from nacre.testing import register_fakes

    register_fakes()
    result = nacre.train(
        "pendulum-sac", steps=5000, seed=0, progress=False, out=_tmp("sac" + accelerate),
        overrides=[*FAST, f"train.accelerate={accelerate}", "env.id=nacre/Target-v0",
                   "train.learning_starts=500",
                   "exploration.steps=500", "network.actor_hidden=[64, 64]",
                   "network.critic_hidden=[64, 64]", "train.batch_size=64",
                   "learner.gamma=0.5", "train.eval_episodes=20"],
    )
    # minus the mean distance to the target over 10 steps: random ≈ −11, untrained ≈ −5,
    # after 100 updates −0.5 to −1.2, after 4,500 updates −0.1 to −0.3 (seeds 0-2)
    assert result.summary["final_eval_return_mean"] >= -0.45


def test_discrete_sac_learns_a_two_armed_contextual_task() -> None:
    from nacre.testing import register_fakes

    register_fakes()
    result = nacre.train(
        "cartpole-dqn", steps=1000, seed=0, progress=False, out=_tmp("sacd"),
        overrides=[*FAST, "env.id=nacre/Identity-v0", "env.kwargs={n: 2}",
                   "learner={name: sac_discrete, lr: 0.003, gamma: 0.5}",
                   "network={name: categorical_twin_q, actor_hidden: [32], critic_hidden: [32]}",
                   "exploration={name: policy}", "train.learning_starts=200",
                   "train.train_freq=1", "train.gradient_steps=1", "train.batch_size=64",
                   "train.eval_episodes=20"],
    )
    assert result.summary["final_eval_return_mean"] >= 9.5  # random ≈ 5, optimal 10
