"""Typed configs, the component registry, YAML I/O, presets and ``build``."""

from nacre.config.build import Run, build
from nacre.config.builtin import register_builtins
from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, entries, lookup, register
from nacre.config.run import (
    Component,
    EnvConfig,
    RunConfig,
    TrainConfig,
    load_config,
    load_preset,
    preset_names,
)

register_builtins()

__all__ = [
    "BuildContext",
    "Component",
    "EnvConfig",
    "Entry",
    "NoParams",
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
