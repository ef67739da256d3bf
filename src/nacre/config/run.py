"""The run configuration: environment, components, training schedule, seed.

A run config is a frozen dataclass tree that round-trips to YAML. Components are written as
``{name: <registered name>, <field>: <value>, ...}``; the fields are checked against the
component's own config dataclass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from nacre.config import yaml_io
from nacre.config.registry import KINDS, lookup, names_of
from nacre.config.typed import from_dict, to_dict
from nacre.envs.normalize import NormalizeConfig
from nacre.errors import ConfigError


@dataclass(frozen=True)
class Component:
    """A registered component by name with its typed parameters."""

    name: str
    params: Any

    @staticmethod
    def parse(kind: str, data: Any, path: str) -> Component:
        if isinstance(data, Component):
            return data
        if isinstance(data, str):
            data = {"name": data}
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(
                f"{path}: expected a mapping with a 'name' (one of {', '.join(names_of(kind))}), "
                f"got {data!r}"
            )
        body = dict(data)
        name = body.pop("name")
        if not isinstance(name, str):
            raise ConfigError(f"{path}.name: expected a string, got {name!r}")
        entry = lookup(kind, name)
        return Component(name, from_dict(entry.config, body, path))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **to_dict(self.params)}


@dataclass(frozen=True)
class EnvConfig:
    """Which environment to train in.

    Attributes:
        id: any registered Gymnasium id (``CartPole-v1``, ``FrozenLake-v1`` …), or
            ``module:Id`` for an env that ``module`` registers when imported (Gymnasium's own
            form: ``gymnasium.make`` accepts it too). A run trained on an env given as a Python
            object (``nacre.train(config, env=...)``) records ``custom:<module>.<name>`` here,
            which says what it was but cannot remake it: pass ``env=`` again to resume or
            evaluate it.
        num_envs: parallel copies stepped as one batch.
        vectorization: ``auto`` | ``none`` | ``sync`` | ``async``.
        kwargs: keyword arguments for ``gymnasium.make`` (e.g. ``{is_slippery: false}``).
        normalize: observation normalization and reward scaling
            (:class:`~nacre.envs.normalize.NormalizeConfig`; off by default).
        max_faults: an exception in the training environment's ``step`` or ``reset`` ends the
            episode as truncated and the environment is made anew (counted as ``env/faults``);
            this many faults in a row stop the run with a checkpoint and
            :class:`~nacre.errors.EnvFaultError`. 0: exceptions propagate at once.
    """

    id: str
    num_envs: int = 1
    vectorization: str = "auto"
    kwargs: dict[str, Any] = field(default_factory=dict)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    max_faults: int = 3

    def __post_init__(self) -> None:
        if not self.max_faults >= 0:
            raise ConfigError(f"env.max_faults: must be >= 0, got {self.max_faults}")


@dataclass(frozen=True)
class TrainConfig:
    """The training schedule (all intervals count environment steps over all envs).

    Attributes:
        steps: total environment steps of the run (a resumed run continues until it); with
            a ``dataset``, gradient updates.
        learning_starts: no updates before this many steps.
        train_freq: run ``gradient_steps`` updates every ``train_freq`` steps.
        gradient_steps: updates per training round.
        batch_size: transitions per update.
        target_update_interval: update target networks every this many steps (SB3 semantics).
        eval_every: evaluate with ``exploit=True`` every this many steps (0: only at the end).
        eval_episodes: episodes per evaluation.
        log_every: write a metrics row every this many steps.
        checkpoint_every: save a checkpoint every this many steps (0: every
            ``checkpoint_interval_s`` seconds instead); one is always saved at the end and on
            Ctrl-C.
        checkpoint_interval_s: with ``checkpoint_every: 0``, save a checkpoint once this many
            seconds of wall time passed since the last (checked every ``log_every`` steps; 0:
            off).
        checkpoint_fraction: with ``checkpoint_every: 0``, also save one once this share of
            ``steps`` passed since the last (0: off). A hard kill loses at most the smaller of
            the two. Both stretch to 50× the time the last save took, so saving costs at most
            ~2 % of a run.
        keep_checkpoints: keep only this many of the newest checkpoints (0: keep all).
        torch_threads: threads for acting (one small forward pass per step: 1 is fastest).
        learn_threads: threads for learning rounds (0: all cores; faster for wide networks on an
            otherwise idle machine, much slower when other processes compete for the cores).
        device: ``cpu``, ``cuda``, ``cuda:1`` …
        accelerate: ``auto`` — run a hand-derived kernel of :mod:`nacre.accel` where one covers
            the learner and its networks (same result up to float rounding, faster), and apply
            the process settings that speed it up; ``off`` — the learner's readable update
            everywhere, the process left as torch configured it.
        tensorboard: also write TensorBoard event files to ``<run>/tb`` (needs the extra).
        init_from: a run folder (or one of its checkpoint folders) whose learner this run
            starts from: offline → online fine-tuning of the same learner and network (and the
            same ``env.normalize.obs``). The learner's state (networks, optimizers, its own
            counters) and observation statistics are taken; the run's env steps, updates,
            replay buffer and env start afresh. ``""``: a fresh learner.
        schedule_steps: the budget that fractional schedules (``exploration.decay_fraction``)
            are relative to; 0 means ``steps``. Resuming to a larger total sets it to the
            original budget, so a finished ε decay does not start again.
        backend: where collectors run (:mod:`nacre.distributed`, docs/distributed.md):
            ``local`` — in this process; ``ray`` — each a Ray actor (the ``[ray]`` extra),
            stepping its own envs on its own core or machine. The same config with the same
            ``seed``, ``num_collectors`` and ``sync_every`` gives the same result on either.
        num_collectors: how many collectors step ``env.num_envs`` envs each; the learner sees
            them as one env of ``num_collectors × env.num_envs`` copies (so ``train_freq`` and
            every other interval still count steps over all of them).
        sync_every: 0 — no collectors: the agent acts and learns in one loop, step by step
            (``backend: local`` and ``num_collectors: 1`` only). ``> 0`` — collectors: each
            takes ``sync_every / (num_collectors × env.num_envs)`` steps (rounded up) with the
            learner's weights of the start of that chunk, then the learner stores the chunk
            step by step, running its training rounds, target updates, logging, evaluations
            and checkpoints when due, and the collectors get its new weights. Larger: less
            communication, staler acting weights.
    """

    steps: int = 100_000
    learning_starts: int = 1_000
    train_freq: int = 1
    gradient_steps: int = 1
    batch_size: int = 64
    target_update_interval: int = 1
    eval_every: int = 0
    eval_episodes: int = 10
    log_every: int = 1_000
    checkpoint_every: int = 0
    checkpoint_interval_s: float = 60.0
    checkpoint_fraction: float = 0.05
    keep_checkpoints: int = 2
    torch_threads: int = 1
    learn_threads: int = 1
    device: str = "cpu"
    accelerate: Literal["auto", "off"] = "auto"
    tensorboard: bool = False
    schedule_steps: int = 0
    init_from: str = ""
    backend: Literal["local", "ray"] = "local"
    num_collectors: int = 1
    sync_every: int = 0

    def __post_init__(self) -> None:
        positive = ("steps", "train_freq", "batch_size", "target_update_interval", "log_every",
                    "torch_threads", "eval_episodes", "num_collectors")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("learning_starts", "gradient_steps", "eval_every", "checkpoint_every",
                     "checkpoint_interval_s", "keep_checkpoints", "learn_threads",
                     "schedule_steps", "sync_every"):
            if not getattr(self, name) >= 0:  # written so that NaN fails too
                raise ConfigError(f"train.{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.checkpoint_fraction <= 1:
            raise ConfigError("train.checkpoint_fraction: must be in [0, 1], got "
                              f"{self.checkpoint_fraction}")
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"train.backend: expected 'local' or 'ray', got {self.backend!r}")
        if self.sync_every == 0 and (self.backend != "local" or self.num_collectors != 1):
            asked = (f"train.backend: {self.backend}" if self.backend != "local"
                     else f"train.num_collectors: {self.num_collectors}")
            raise ConfigError(f"{asked} runs collectors, which act with the learner's weights "
                              "synced every train.sync_every env steps: set it (e.g. "
                              "train.sync_every: 1000)")

    @property
    def collectors(self) -> bool:
        """Collectors gather the steps (``sync_every > 0``), not the learner's own loop."""
        return self.sync_every > 0

    def chunk_steps(self, num_envs: int) -> int:
        """Steps each collector takes between two weight syncs when it steps ``num_envs``
        envs: ``sync_every / (num_collectors × num_envs)``, rounded up."""
        return -(-self.sync_every // (self.num_collectors * num_envs))


@dataclass(frozen=True)
class DatasetConfig:
    """Offline training data (:mod:`nacre.train.offline`): with it, ``nacre train`` learns from
    the dataset alone, one gradient update per ``train.steps``.

    Attributes:
        path: a nacre dataset folder (:meth:`nacre.data.Dataset.save`, ``nacre collect``), or
            ``minari:<id>`` for a Minari dataset in the local Minari root (the ``[offline]``
            extra).
    """

    path: str

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("dataset.path: expected a dataset folder or minari:<id>")


_DEFAULTS = {
    "network": "mlp",
    "exploration": "greedy",
    "buffer": "replay",
    "safety": "none",
    "history": "identity",
    "action_repr": "identity",
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; ``nacre train`` reads it from YAML."""

    env: EnvConfig
    learner: Component
    network: Component
    exploration: Component
    buffer: Component
    safety: Component
    history: Component
    action_repr: Component
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    description: str = ""
    dataset: DatasetConfig | None = None

    @staticmethod
    def from_dict(data: Any, source: str = "config") -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {data!r}")
        known = {f.name for f in dataclasses.fields(RunConfig)}
        for key in data:
            if key not in known:
                valid = ", ".join(sorted(known))
                raise ConfigError(f"{source}: unknown top-level key {key!r}; valid keys: {valid}")
        if "env" not in data or "learner" not in data:
            raise ConfigError(f"{source}: a run config needs at least 'env' and 'learner'")
        slots = {
            slot: Component.parse(slot, data.get(slot, _DEFAULTS.get(slot)), slot)
            for slot in KINDS
        }
        return RunConfig(
            env=from_dict(EnvConfig, data["env"], "env"),
            train=from_dict(TrainConfig, data.get("train", {}), "train"),
            seed=int(from_dict(_Seed, {"seed": data.get("seed", 0)}, "").seed),
            description=str(data.get("description", "")),
            dataset=(None if data.get("dataset") is None
                     else from_dict(DatasetConfig, data["dataset"], "dataset")),
            **slots,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description, "seed": self.seed,
                               "env": to_dict(self.env)}
        for slot in KINDS:
            out[slot] = getattr(self, slot).to_dict()
        out["train"] = to_dict(self.train)
        if self.dataset is not None:
            out["dataset"] = to_dict(self.dataset)
        return out

    def to_yaml(self) -> str:
        return yaml_io.dumps(self.to_dict())

    def with_overrides(self, overrides: list[str]) -> RunConfig:
        """Apply ``key.sub=value`` overrides (values parsed as YAML scalars)."""
        data = self.to_dict()
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.batch_size=32")
            key, raw = item.split("=", 1)
            value = yaml_io.loads(raw, source=f"--set {key}")
            node = data
            parts = key.strip().split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ConfigError(f"--set {key}: {part!r} is not a section of the config")
                node = node[part]
            node[parts[-1]] = value
        return RunConfig.from_dict(data, source="config with --set overrides")


@dataclass(frozen=True)
class _Seed:
    seed: int


def _preset_dir() -> Any:
    return resources.files("nacre.config").joinpath("presets")


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> RunConfig:
    """A shipped preset by name (``nacre presets`` lists them)."""
    path = _preset_dir().joinpath(f"{name}.yaml")
    if not path.is_file():
        import difflib

        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; presets: {', '.join(preset_names())}")
    return RunConfig.from_dict(yaml_io.loads(path.read_text(), source=f"{name}.yaml"), name)


def load_config(path_or_preset: str | Path) -> RunConfig:
    """A YAML file path, or a preset name."""
    path = Path(path_or_preset)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        return RunConfig.from_dict(yaml_io.load_file(path), source=path.name)
    return load_preset(str(path_or_preset))
