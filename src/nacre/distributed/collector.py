"""A collector: environments of its own and an acting copy of the run's agent, stepped a chunk
at a time for the learner, in this process or inside a Ray actor (the same class either way).

The copy is built from the run's config by :func:`nacre.build`, like the learner's agent, and
acts through the same :meth:`nacre.Agent.act` / :meth:`~nacre.Agent.observe` calls as the
in-process loop. Its buffer is a :class:`ChunkRecorder`, which keeps what ``observe`` stores —
the :class:`~nacre.data.StepBatch` es the learner's buffer would have received — as
``[T, B, ...]`` NumPy arrays, sent to the learner as one :class:`~nacre.data.StepChunk`. Weights
travel as :class:`PackedState`: NumPy arrays and a JSON-able skeleton, no pickled tensors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.accel import apply_process_settings
from nacre.config.build import build
from nacre.config.run import RunConfig
from nacre.data.batch import CHUNK_FIELDS, StepBatch, StepChunk, TransitionBatch
from nacre.envs.sources import EnvLike
from nacre.errors import ConfigError, InputError
from nacre.kinds import BufferKind
from nacre.threads import configure_threads
from nacre.train.checkpoint import flatten_tree, unflatten_tree

# what a step that does not report a field stores in a chunk whose other steps do
_NEUTRAL: dict[str, Any] = {"valid": True, "cost": 0.0, "propensity": 1.0}
_DYNAMIC = ("collectors do not carry candidate sets (dynamic action sets) yet: run this env "
            "with train.sync_every: 0 (the in-process loop)")


@dataclass(frozen=True)
class PackedState:
    """A ``state_dict`` tree as NumPy arrays (``arrays``) and a JSON-able ``skeleton``
    (:func:`nacre.train.checkpoint.flatten_tree`): what collectors receive."""

    skeleton: Any
    arrays: dict[str, np.ndarray]


def pack(state: dict[str, Any]) -> PackedState:
    """``state`` with every tensor as a NumPy array (on the CPU)."""
    skeleton, tensors = flatten_tree(state)
    return PackedState(skeleton, {k: t.numpy(force=True) for k, t in tensors.items()})


def unpack(packed: PackedState) -> dict[str, Any]:
    """The tree :func:`pack` was given, with fresh tensors (copies: an object store's arrays
    are read-only)."""
    state: dict[str, Any] = unflatten_tree(packed.skeleton, {
        k: torch.from_numpy(np.array(a)) for k, a in packed.arrays.items()})
    return state


class ChunkRecorder:
    """The buffer of a collector's agent: the steps of the current chunk, ``[T, B, ...]`` per
    :data:`~nacre.data.batch.CHUNK_FIELDS` field (a :class:`~nacre.types.Buffer` whose ``add``
    is all :meth:`nacre.Agent.observe` calls)."""

    kind = BufferKind.REPLAY
    needs_next_action = False

    def __init__(self) -> None:
        self.capacity = 0
        self._t = 0
        self._columns: dict[str, np.ndarray] = {}

    @property
    def can_sample(self) -> bool:
        return False

    def begin(self, steps: int) -> None:
        """Start a chunk of ``steps`` steps."""
        self.capacity, self._t, self._columns = steps, 0, {}

    def add(self, step: StepBatch) -> None:
        if (step.available is not None or step.next_available is not None
                or step.final_available is not None):
            raise ConfigError(_DYNAMIC)
        if self._t >= self.capacity:
            raise InputError("step", f"the chunk holds {self.capacity} steps")
        values = (step.obs, step.action, step.reward, step.next_obs, step.terminated,
                  step.truncated, step.propensity, step.valid, step.cost, step.state)
        for name, value in zip(CHUNK_FIELDS, values, strict=True):
            if value is not None:
                array = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
                self._column(name, array)[self._t] = array
            elif name in self._columns:
                self._columns[name][self._t] = self._neutral(name)
        self._t += 1

    def _column(self, name: str, first: np.ndarray) -> np.ndarray:
        column = self._columns.get(name)
        if column is None:
            column = np.empty((self.capacity, *first.shape), first.dtype)
            if self._t:  # reported from this step on: the earlier ones did not
                column[: self._t] = self._neutral(name)
            self._columns[name] = column
        return column

    @staticmethod
    def _neutral(name: str) -> Any:
        if name not in _NEUTRAL:
            raise InputError(name, "reported at some steps of a chunk and not at others")
        return _NEUTRAL[name]

    def chunk(self, obs_after: np.ndarray, episodes: list[tuple[int, float, int]],
              faults: list[tuple[int, str]]) -> StepChunk:
        """The chunk recorded, once every step was added."""
        if self._t != self.capacity:
            raise InputError("chunk", f"{self._t} of {self.capacity} steps recorded")
        steps, returns, lengths = (zip(*episodes, strict=True) if episodes
                                   else ((), (), ()))
        return StepChunk(self._columns, np.array(obs_after), np.array(steps, np.int64),
                         np.array(returns, np.float64), np.array(lengths, np.int64), faults)

    def sample(self, batch_size: int) -> TransitionBatch:
        raise InputError("buffer", "a collector's buffer hands its chunk to the learner: "
                         "nothing is sampled from it")

    def mark_episodes_cut(self) -> None:
        """Nothing to cut: the learner's buffer marks its own."""

    def __len__(self) -> int:
        return self._t

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing is kept between chunks."""


class Collector:
    """Steps environments of its own with an acting copy of the run's agent, a chunk at a time.

    Collector ``index`` of ``config.train.num_collectors`` makes ``B = env.num_envs`` copies of
    the run's env (``env``: what :func:`nacre.build` is given for it; None: ``config.env.id``)
    and stands for copies ``index × B`` to ``index × B + B − 1`` of the one env of
    ``num_collectors × B`` copies the learner sees: they are seeded as those copies would be,
    and exploration schedules read the run's env-step count as if all stepped together. Its
    agent draws actions from its own generator: collector 0's is seeded as the in-process
    agent's, the others' from ``(seed, index)`` (and every collector's from the step count when
    a run is resumed). Acting runs on the CPU, with the run's thread settings.
    """

    def __init__(self, config: RunConfig, index: int, env: EnvLike | None = None) -> None:
        train = config.train
        if not 0 <= index < train.num_collectors:
            raise InputError("index", f"expected 0 … {train.num_collectors - 1}, got {index}")
        config = dataclasses.replace(config, train=dataclasses.replace(train, device="cpu"))
        configure_threads(train.torch_threads, train.learn_threads)
        if train.accelerate == "auto":  # what the learner's process applies (same numbers)
            apply_process_settings()
        with torch.random.fork_rng(devices=[]):  # leave the global generator as it was
            run = build(config, env)
        self.agent, self.env = run.agent, run.env
        self.recorder = ChunkRecorder()
        self.agent.buffer = self.recorder
        self.index, self.seed = index, config.seed
        self.num_envs = self.env.num_envs
        self.offset = index * self.num_envs
        self.stride = train.num_collectors * self.num_envs

    def start(self, env_steps: int) -> None:
        """Reset the envs, seeded as the learner's in-process env would be at ``env_steps``."""
        obs = self.env.reset(seed=self.seed + env_steps + self.offset)
        if self.env.available is not None:
            raise ConfigError(_DYNAMIC)
        if self.index or env_steps:
            entropy = np.random.SeedSequence([self.seed, self.index, env_steps])
            self.agent.generator.manual_seed(int(entropy.generate_state(1, np.uint64)[0] >> 1))
        self.agent.reset(obs, self.env.action_space, self.env.available)

    def collect(self, weights: PackedState | None, env_steps: int, steps: int) -> StepChunk:
        """Load ``weights`` (None: keep the last), then take ``steps`` steps, the first being
        env step ``env_steps`` of the run."""
        agent, env, stride = self.agent, self.env, self.stride
        if weights is not None:
            agent.learner.load_state_dict(unpack(weights))
        self.recorder.begin(steps)
        episodes: list[tuple[int, float, int]] = []
        faults: list[tuple[int, str]] = []
        obs_after = np.zeros(0)
        for t in range(steps):
            agent.env_steps = env_steps + t * stride
            result = env.step(agent.act())
            agent.observe(result)
            obs_after = result.obs
            if result.episode_returns:
                episodes.extend(zip([t] * len(result.episode_returns), result.episode_returns,
                                    result.episode_lengths, strict=True))
            faults.extend((t, message) for message in result.faults)
        return self.recorder.chunk(obs_after, episodes, faults)

    def close(self) -> None:
        self.env.close()


__all__ = ["ChunkRecorder", "Collector", "PackedState", "pack", "unpack"]
