"""The learner's side of a run with collectors: its training loop, fed chunk by chunk.

:func:`fit_collectors` runs :func:`nacre.train.loop.run_loop` — the loop of :func:`nacre.fit`,
with its events, callbacks, run folder and progress display — on :class:`CollectedSteps`, which
takes each step from the collectors' latest chunk instead of stepping an env: it stores the step
in the learner's buffer and counts it, exactly as :meth:`nacre.Agent.observe` does in process.
When a chunk is used up, the collectors get the learner's weights (when they changed) and
collect the next one. The backend decides where collectors run: :class:`LocalCollectors` here,
:class:`nacre.distributed.ray_backend.RayCollectors` as Ray actors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nacre.agent import Agent
from nacre.config.build import Run
from nacre.config.run import RunConfig
from nacre.data.batch import StepChunk
from nacre.distributed.collector import Collector, pack
from nacre.envs.base import ActionResult, Env
from nacre.envs.sources import EnvLike
from nacre.errors import ConfigError, InputError
from nacre.loop_types import CollectorGroup
from nacre.spaces import ActionSpace, AvailableActions
from nacre.train.callbacks import Callback, LoopState
from nacre.train.loop import TrainResult, run_loop


class LocalCollectors:
    """Collectors as plain objects in this process, stepped one after the other (the
    reference a Ray run reproduces; ``train.backend: local``)."""

    def __init__(self, config: RunConfig, env: EnvLike | None = None) -> None:
        self.collectors: list[Collector] = []
        try:
            for index in range(config.train.num_collectors):
                self.collectors.append(Collector(config, index, env))
        except BaseException:
            self.close()
            raise
        self.num_envs = sum(c.num_envs for c in self.collectors)

    def start(self, env_steps: int) -> None:
        for collector in self.collectors:
            collector.start(env_steps)

    def collect(self, weights: dict[str, Any] | None, env_steps: int,
                steps: int) -> list[StepChunk]:
        packed = None if weights is None else pack(weights)  # as a Ray run sends them
        return [c.collect(packed, env_steps, steps) for c in self.collectors]

    def close(self) -> None:
        for collector in self.collectors:
            collector.close()


def make_collectors(config: RunConfig, env: EnvLike | None = None) -> CollectorGroup:
    """The collectors of ``config.train.backend``: ``local`` or ``ray`` (which needs the
    ``[ray]`` extra; a Ray instance is started unless one is running or ``RAY_ADDRESS`` names
    a cluster, see :class:`~nacre.distributed.ray_backend.RayCollectors`)."""
    if config.train.backend == "ray":
        try:
            from nacre.distributed.ray_backend import RayCollectors
        except ImportError as exc:
            raise ConfigError(f"train.backend: ray needs Ray ({exc}): pip install 'nacre[ray]',"
                              " or set train.backend: local") from exc
        return RayCollectors(config, env)
    return LocalCollectors(config, env)


class CollectorEnvs:
    """The collectors' environments as the loop, its callbacks and checkpoints see them: one
    env of ``num_envs`` copies that this process does not step, whose state a checkpoint does
    not capture (a resumed run starts fresh episodes)."""

    def __init__(self, env: Env, num_envs: int) -> None:
        self.num_envs = num_envs
        self.action_space: ActionSpace = env.action_space
        self._observation_space = env.observation_space
        self._one_step = env.one_step

    @property
    def one_step(self) -> bool:
        return self._one_step

    @property
    def available(self) -> AvailableActions | None:
        return None

    @property
    def observation_space(self) -> Any:
        return self._observation_space

    def reset(self, seed: int | None = None) -> Any:
        raise InputError("env", "the collectors step their own environments")

    def step(self, action: Any) -> ActionResult:
        raise InputError("env", "the collectors step their own environments")

    def get_state(self) -> dict[str, Any] | None:
        return None

    def set_state(self, state: dict[str, Any]) -> bool:
        return False

    def close(self) -> None:
        """The collectors close their own."""


class CollectedSteps:
    """The loop's steps, taken from chunks of ``steps`` steps per collector
    (a :class:`~nacre.loop_types.StepSource`)."""

    def __init__(self, agent: Agent, group: CollectorGroup, steps: int) -> None:
        if agent.buffer is None:
            raise InputError("agent", "collectors fill the learner's buffer: it has none")
        self.agent, self.buffer, self.group, self.steps = agent, agent.buffer, group, steps
        self.chunk: StepChunk | None = None
        self.t = 0
        self.synced_at = -1  # the learner's grad_steps when its weights were last sent

    def start(self, seed: int, restored: bool) -> None:
        """Start the collectors' episodes (always fresh ones: their state is not saved)."""
        if self.agent.env_steps:  # resuming: the stored episodes were cut here
            self.buffer.mark_episodes_cut()
        self.group.start(self.agent.env_steps)

    def step(self) -> ActionResult:
        chunk = self.chunk
        if chunk is None or self.t == chunk.steps:
            chunk = self.chunk = self._collect()
            self.t = 0
        t = self.t
        self.t += 1
        self.buffer.add(chunk.step(t))
        self.agent.env_steps += chunk.num_envs
        columns = chunk.columns
        returns, lengths = chunk.episodes(t)
        valid, cost = columns.get("valid"), columns.get("cost")
        return ActionResult(
            obs=columns["obs"][t + 1] if t + 1 < chunk.steps else chunk.obs_after,
            next_obs=columns["next_obs"][t], reward=columns["reward"][t],
            terminated=columns["terminated"][t], truncated=columns["truncated"][t],
            valid=None if valid is None else valid[t], cost=None if cost is None else cost[t],
            episode_returns=returns, episode_lengths=lengths,
            faults=[message for at, message in chunk.faults if at == t])

    def _collect(self) -> StepChunk:
        agent = self.agent
        # acting reads only what training rounds change: unchanged weights are not sent again
        weights = agent.learner.state_dict() if agent.grad_steps != self.synced_at else None
        self.synced_at = agent.grad_steps
        return StepChunk.concat(self.group.collect(weights, agent.env_steps, self.steps))


def fit_collectors(
    run: Run,
    *,
    run_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
    loop_state: LoopState | None = None,
) -> TrainResult:
    """Train ``run``'s agent on what ``run.config.train.num_collectors`` collectors gather
    (``train.backend``: in this process or as Ray actors), with the loop of :func:`nacre.fit`;
    what :func:`nacre.train` and :func:`nacre.resume` call for a config with
    ``train.sync_every > 0``. Closes ``run.env`` (the collectors make their own) and every
    environment it makes."""
    cfg = run.config
    if not cfg.train.collectors:
        raise ConfigError("fit_collectors needs train.sync_every > 0 (collectors)")
    envs = CollectorEnvs(run.env, run.env.num_envs * cfg.train.num_collectors)
    steps = cfg.train.chunk_steps(run.env.num_envs)
    run.env.close()
    eval_envs = run.make_eval_envs()
    group: CollectorGroup | None = None
    try:
        group = make_collectors(cfg, run.eval_env)  # the env given as an object, or None
        return run_loop(CollectedSteps(run.agent, group, steps), run.agent, envs, cfg.train,
                        seed=cfg.seed, eval_env=eval_envs, run_dir=run_dir,
                        config_yaml=cfg.to_yaml(), callbacks=callbacks, progress=progress,
                        loop_state=loop_state)
    finally:
        if group is not None:
            group.close()
        for env in eval_envs:
            env.close()


__all__ = ["CollectedSteps", "CollectorEnvs", "LocalCollectors", "fit_collectors",
           "make_collectors"]
