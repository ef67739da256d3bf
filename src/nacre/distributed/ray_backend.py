"""Collectors as Ray actors (``train.backend: ray``; the ``[ray]`` extra): the one module of
nacre that imports Ray.

Each collector is a :class:`~nacre.distributed.collector.Collector` in an actor of its own,
reserving one CPU, so that ``num_collectors`` environments step at once on as many cores — of
this machine, or of a cluster's nodes. The learner's weights are put in Ray's object store once
per sync (NumPy arrays: every actor on a node reads the same shared memory, no copy per actor)
and each chunk comes back as NumPy arrays, zero-copy on the learner's node.

Ray itself: a running instance is used as it is (``ray.init(...)`` before training, e.g. with
``address="auto"`` for a cluster); otherwise one is started on this machine (``ray.init()``,
which also joins the cluster ``RAY_ADDRESS`` names) and shut down after the run.
"""

from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import RayTaskError

from nacre.config.run import RunConfig
from nacre.data.batch import StepChunk
from nacre.distributed.collector import Collector, pack
from nacre.envs.sources import EnvLike
from nacre.errors import ConfigError, NacreError


class RayCollectors:
    """``config.train.num_collectors`` collectors, each in a Ray actor with one CPU (a
    :class:`~nacre.loop_types.CollectorGroup`)."""

    def __init__(self, config: RunConfig, env: EnvLike | None = None) -> None:
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            ray.init(include_dashboard=False)
        self.actors: list[Any] = []
        try:
            count = config.train.num_collectors
            cpus = float(ray.cluster_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]
            if cpus < count:
                raise ConfigError(f"train.num_collectors: {count} collectors take one CPU each"
                                  f" and the Ray cluster has {cpus:g}: lower it, or add nodes")
            remote = ray.remote(num_cpus=1)(Collector)
            self.actors = [remote.remote(config, index, env) for index in range(count)]
        except BaseException:
            self.close()
            raise
        self.num_envs = config.env.num_envs * count

    def start(self, env_steps: int) -> None:
        self._get([actor.start.remote(env_steps) for actor in self.actors])

    def collect(self, weights: dict[str, Any] | None, env_steps: int,
                steps: int) -> list[StepChunk]:
        packed = None if weights is None else ray.put(pack(weights))  # once for every actor
        chunks: list[StepChunk] = self._get([actor.collect.remote(packed, env_steps, steps)
                                             for actor in self.actors])
        return chunks

    @staticmethod
    def _get(refs: list[Any]) -> Any:
        """``ray.get``, with nacre's own errors (a ConfigError, an EnvFaultError …) raised as
        themselves rather than wrapped."""
        try:
            return ray.get(refs)
        except RayTaskError as exc:
            if isinstance(exc.cause, NacreError):
                raise exc.cause from exc
            raise

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False


__all__ = ["RayCollectors"]
