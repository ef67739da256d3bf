"""Typed configs, the component registry, YAML I/O and presets."""

from nacre.config import components as _components  # noqa: F401 - registers built-ins
from nacre.config import components_bandit as _bandit  # noqa: F401 - registers built-ins
from nacre.config import components_policy as _policy  # noqa: F401 - registers built-ins
from nacre.config.components import BuildContext, Run, build
from nacre.config.registry import entries, lookup, register
from nacre.config.run import (
    Component,
    EnvConfig,
    RunConfig,
    TrainConfig,
    load_config,
    load_preset,
    preset_names,
)

__all__ = [
    "BuildContext",
    "Component",
    "EnvConfig",
    "Run",
    "RunConfig",
    "TrainConfig",
    "build",
    "entries",
    "load_config",
    "load_preset",
    "lookup",
    "preset_names",
    "register",
]
