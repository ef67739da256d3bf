"""Configs: presets, YAML round trip, typed errors naming the field."""

import dataclasses
from pathlib import Path

import pytest

import nacre
from nacre.config import yaml_io
from nacre.errors import ConfigError

BASE = """
env: {id: CartPole-v1}
learner: {name: dqn, lr: 0.001}
network: {name: mlp, hidden: [32, 32]}
exploration: {name: epsilon_greedy, start: 1.0, end: 0.1, decay_fraction: 0.5}
train: {steps: 300, learning_starts: 100, batch_size: 16}
"""


def parse(text: str) -> nacre.RunConfig:
    return nacre.RunConfig.from_dict(yaml_io.loads(text))


@pytest.mark.parametrize("name", nacre.preset_names())
def test_every_preset_loads_builds_and_round_trips(name: str) -> None:
    cfg = nacre.load_preset(name)
    again = nacre.RunConfig.from_dict(yaml_io.loads(cfg.to_yaml()))
    assert again == cfg
    run = nacre.build(cfg)
    assert run.agent.buffer is not None
    run.env.close()


def test_required_presets_exist() -> None:
    assert {"cartpole-dqn", "cartpole-double-dqn", "acrobot-dqn", "frozenlake-tabular",
            "cartpole-ppo", "pendulum-sac", "pendulum-td3", "pendulum-ppo", "halfcheetah-sac",
            "halfcheetah-td3", "hopper-ppo"} <= set(nacre.preset_names())


def test_cartpole_preset_has_rl_zoo_hyperparameters() -> None:
    cfg = nacre.load_preset("cartpole-dqn")
    assert cfg.learner.params.lr == pytest.approx(2.3e-3)
    assert cfg.learner.params.gamma == 0.99
    assert cfg.network.params.hidden == (256, 256)
    t = cfg.train
    assert (t.batch_size, t.learning_starts, t.train_freq, t.gradient_steps) == (64, 1000, 256, 128)
    assert t.target_update_interval == 10
    assert cfg.buffer.params.capacity == 100_000
    assert cfg.exploration.params.inner == {
        "name": "epsilon_greedy", "start": 1.0, "end": 0.04, "decay_fraction": 0.16,
    }


def test_any_gymnasium_id_and_registered_components_work_without_code() -> None:
    cfg = parse(BASE.replace("CartPole-v1", "MountainCar-v0").replace("dqn", "double_dqn"))
    run = nacre.build(cfg)
    result = nacre.fit(run.agent, run.env, cfg.train, progress=False)
    assert result.summary["env_steps"] == 300


def test_unknown_field_names_the_field_and_suggests() -> None:
    with pytest.raises(ConfigError, match=r"learner\.lrr: unknown field \(did you mean 'lr'\?\)"):
        parse(BASE.replace("lr: 0.001", "lrr: 0.001"))


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"learner\.lr: expected a number, got 'fast'"):
        parse(BASE.replace("lr: 0.001", "lr: fast"))
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected an integer"):
        parse(BASE.replace("batch_size: 16", "batch_size: 1.5"))


def test_unknown_component_lists_registered_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown learner 'dqm' \(did you mean 'dqn'\?\)"):
        parse(BASE.replace("name: dqn", "name: dqm"))


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'cartpole-dqm'.*cartpole-dqn"):
        nacre.load_preset("cartpole-dqm")


def test_malformed_yaml_reports_the_line(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("env:\n  id: CartPole-v1\nlearner: [dqn\n")
    with pytest.raises(yaml_io.YAMLError, match="bad.yaml line 3"):
        nacre.load_config(path)


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"train\.steps: must be >= 1"):
        parse(BASE.replace("steps: 300", "steps: 0"))
    with pytest.raises(ConfigError, match=r"exploration\.end: must be in \[0, 1\]"):
        nacre.build(parse(BASE.replace("end: 0.1", "end: 1.5")))


def test_incompatible_components_say_what_to_change() -> None:
    with pytest.raises(ConfigError, match="learner 'sarsa' needs buffer 'sarsa'"):
        nacre.build(parse(BASE.replace("name: dqn", "name: sarsa")))
    with pytest.raises(ConfigError, match="tabular_q' needs a Discrete observation space"):
        nacre.build(parse(BASE.replace("name: dqn, lr: 0.001", "name: tabular_q")))
    with pytest.raises(ConfigError, match="needs a discrete action space"):
        nacre.build(parse(BASE.replace("CartPole-v1", "Pendulum-v1")))


def test_set_overrides_parse_values_and_reject_unknown_sections() -> None:
    cfg = parse(BASE).with_overrides(["learner.lr=0.01", "train.batch_size=8", "seed=3"])
    assert cfg.learner.params.lr == 0.01
    assert cfg.train.batch_size == 8
    assert cfg.seed == 3
    with pytest.raises(ConfigError, match="not a section"):
        parse(BASE).with_overrides(["nothing.here=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse(BASE).with_overrides(["learner.lr"])


def test_configs_are_frozen() -> None:
    cfg = parse(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_cartpole_ppo_preset_has_rl_zoo_hyperparameters() -> None:
    cfg = nacre.load_preset("cartpole-ppo")
    p, t = cfg.learner.params, cfg.train
    assert (cfg.env.num_envs, t.train_freq // cfg.env.num_envs, t.batch_size) == (8, 32, 256)
    assert (p.epochs, p.gae_lambda, p.gamma, p.lr, p.clip) == (20, 0.8, 0.98, 1e-3, 0.2)
    assert (p.lr_schedule, p.clip_schedule, p.entropy_coef) == ("linear", "linear", 0.0)
    assert cfg.network.params.hidden == (64, 64) and cfg.network.params.activation == "tanh"


PPO_BASE = """
env: {id: CartPole-v1, num_envs: 2}
learner: {name: ppo}
network: {name: actor_critic}
exploration: {name: policy}
buffer: {name: rollout}
train: {steps: 300, learning_starts: 0, train_freq: 64, batch_size: 32}
"""


@pytest.mark.parametrize(("change", "match"), [
    ("network: {name: mlp}", "needs network.name: actor_critic"),
    ("buffer: {name: replay}", "needs buffer.name: rollout"),
    ("train: {steps: 300, learning_starts: 0, train_freq: 63, batch_size: 32}",
     "multiple of env.num_envs"),
])
def test_ppo_wiring_errors_say_what_to_change(change: str, match: str) -> None:
    key = change.split(":")[0]
    lines = [line for line in PPO_BASE.strip().splitlines() if not line.startswith(key)]
    with pytest.raises(ConfigError, match=match):
        nacre.build(parse("\n".join([*lines, change])))


def test_dqn_with_a_rollout_buffer_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs buffer.name: replay"):
        nacre.build(parse(BASE + "buffer: {name: rollout}\n"))


def test_dqn_with_an_actor_critic_network_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs a Q network"):
        nacre.build(parse(BASE.replace("network: {name: mlp, hidden: [32, 32]}",
                                       "network: {name: actor_critic}")))


def test_a_run_folder_of_an_earlier_release_still_loads(tmp_path: Path) -> None:
    from nacre.train.run import load_run_config

    # configs written before the acceleration layer carried learner.fused
    text = nacre.load_preset("cartpole-dqn").to_yaml().replace("  loss: huber",
                                                               "  loss: huber\n  fused: true")
    (tmp_path / "config.yaml").write_text(text)
    with pytest.warns(UserWarning, match="learner.fused is ignored"):
        cfg = load_run_config(tmp_path / "config.yaml")
    assert cfg.learner.name == "dqn"
    with pytest.raises(ConfigError, match="unknown field"):  # not accepted in new configs
        nacre.RunConfig.from_dict(yaml_io.loads(text))


def test_a_component_that_does_not_implement_its_slot_is_refused() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Nothing:
        pass

    class NotAnExplorer:
        def select(self, scores: object, mask: object, step: int, generator: object) -> None:
            return None

    nacre.register("exploration", "not_an_explorer", Nothing, "test")(
        lambda cfg, ctx: NotAnExplorer())
    cfg = nacre.load_preset("cartpole-dqn").with_overrides(["exploration={name: not_an_explorer}"])
    with pytest.raises(nacre.ConfigError, match="does not implement nacre.types.Exploration.*"
                                                "accepts"):
        nacre.build(cfg)
