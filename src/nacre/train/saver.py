"""One-line save of an agent (:meth:`nacre.Agent.save`; :func:`nacre.load` reads it back).

A saved agent is one checkpoint folder, in the format of a run's checkpoints
(:mod:`nacre.train.checkpoint`: safetensors + YAML + JSON, never pickle), without the replay
buffer: ``nacre.load`` rebuilds the agent from the config it holds and loads the weights, with
every check a resumed run gets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from nacre.config.run import RunConfig
from nacre.envs.base import Env
from nacre.envs.normalize import Normalize
from nacre.errors import InputError
from nacre.train.callbacks import LoopState
from nacre.train.checkpoint import CONFIG_FILE, MODEL_FILE, STATE_FILE, save_checkpoint


class RunSaver:
    """The :class:`~nacre.types.Saver` of agents built from a run config: the config and the
    environment's normalization statistics (needed to act as in training) go with the weights.
    """

    def __init__(self, config: RunConfig, env: Env) -> None:
        self.config = config
        self.env = env

    def __call__(self, state: dict[str, Any], path: Path) -> Path:
        # a save replaces the folder it writes: only ever an agent saved before
        if path.exists() and not (path.is_dir() and {p.name for p in path.iterdir()}
                                  <= {MODEL_FILE, STATE_FILE, CONFIG_FILE}):
            raise InputError("path", f"{path} exists and is not a saved agent (saving replaces "
                             "the folder): choose a new folder")
        extra: dict[str, Any] = {"loop": dataclasses.asdict(LoopState()),
                                 "seed": self.config.seed, "env_state": None}
        if isinstance(self.env, Normalize):
            extra["env_stats"] = self.env.stats_state()
        return save_checkpoint(path, state, self.config.to_yaml(), extra)


__all__ = ["RunSaver"]
