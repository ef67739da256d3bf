"""The slot protocols an :class:`~nacre.Agent` is composed of, and every capability the agent,
the training loop and :func:`nacre.build` rely on.

Each slot is a small ``typing.Protocol`` with a do-nothing default elsewhere in the package
(greedy exploration, no safety, identity history, identity action representation), following
Pearl's decomposition (Zhu et al. 2023, arXiv 2312.03814) with batched tensors throughout.
Nothing outside these declarations is probed: what a component can do is one of its declared
attributes (``Learner.kind``, ``Exploration.accepts``, ``Buffer.kind`` …), and the wiring checks
of :func:`nacre.build` compare those.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.rollout import Rollout
from nacre.kinds import BufferKind, LearnerKind, ScoresKind
from nacre.spaces import ActionFeatures, ActionSpace, AvailableActions

Metrics = dict[str, Tensor]


@runtime_checkable
class Learner(Protocol):
    """Owns networks and optimizers; never acts in an environment."""

    @property
    def kind(self) -> LearnerKind: ...

    @property
    def scores_kind(self) -> ScoresKind: ...

    @property
    def gamma(self) -> float | None:
        """The discount its targets use (None: no bootstrapping, e.g. bandits); buffers that
        build multi-step returns are given it by :func:`nacre.build`."""
        ...

    @property
    def needs_next_action(self) -> bool:
        """Batches must carry ``next_action`` (SARSA targets)."""
        ...

    def scores(self, state: Tensor, action_features: Tensor | None) -> Tensor:
        """Action scores (Q-values, logits … see :class:`ScoresKind`) for a batch of states."""
        ...

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One update from one batch; returns detached metric tensors."""
        ...

    def update_target(self) -> None:
        """Move target networks toward the online ones (a no-op for learners without)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Every tensor needed to resume exactly (networks and optimizer state)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class RolloutLearner(Learner, Protocol):
    """A learner of ``kind`` ROLLOUT: one training round per collected rollout."""

    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float = 0.0) -> Metrics:
        """Train on a whole rollout (minibatches of ``batch_size``); ``progress`` ∈ [0, 1] is
        how far the run is (for schedules). The metrics include ``updates``, the number of
        gradient steps taken."""
        ...


@runtime_checkable
class TDLearner(Learner, Protocol):
    """A learner that regresses action values toward TD targets and can say how far off each
    row is — what prioritized replay's priorities are made of (Schaul et al. 2016)."""

    def td_error(self, batch: TransitionBatch) -> Tensor:
        """``δ = y − Q(s, a)`` per row ``[n]`` under the current networks, without gradient."""
        ...


class Engine(Protocol):
    """How the agent drives its learner: scoring on the act path and training rounds.

    :class:`nacre.learners.engine.LearnerEngine` runs the learner's own readable update;
    :mod:`nacre.accel` builds faster engines (hand-derived kernels) from a learner's public
    networks and optimizers, which update exactly what the readable update would.
    """

    learner: Learner

    def scores(self, state: Tensor, action_features: Tensor | None) -> Tensor: ...

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        """``len(batch) / batch_size`` consecutive updates (metrics: the last one's)."""
        ...

    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float) -> Metrics: ...


@runtime_checkable
class Exploration(Protocol):
    """Turns scores into actions and reports the probability of each chosen action."""

    @property
    def accepts(self) -> frozenset[ScoresKind]:
        """The kinds of scores it can read."""
        ...

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        """Return ``(action [B] int64, propensity [B] float32)``; masked actions are never taken."""
        ...


@runtime_checkable
class ActionDistribution(Exploration, Protocol):
    """Exploration over discrete actions that can give its whole action distribution."""

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """The probability of every action ``[B, K]`` (zero at unavailable actions)."""
        ...


@runtime_checkable
class EpisodicExploration(Exploration, Protocol):
    """Exploration that keeps a choice for the whole episode of each environment (Bootstrapped
    DQN's member to follow): the agent says which episodes ended, and checkpoints it."""

    def episodes_ended(self, done: Tensor) -> None:
        """Forget the choices of the environments whose episode ended (``done``: ``[B]``)."""
        ...

    def state_dict(self) -> dict[str, Tensor]: ...

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None: ...


@runtime_checkable
class Safety(Protocol):
    """Restricts which actions may be taken."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        """Return the mask of allowed actions (None = all allowed)."""
        ...


@runtime_checkable
class ActionFilter(Safety, Protocol):
    """A safety module that allows a set of actions per state (:mod:`nacre.safety.filter`):
    the agent's decisions and the learner's TD targets both keep to it."""

    def allowed(self, state: Tensor) -> Tensor:
        """The allowed actions ``[B, K]`` (bool) in each of ``B`` states."""
        ...


@runtime_checkable
class LearnedFilter(ActionFilter, Protocol):
    """An action filter that learns what to allow from the learner's replay batches
    (:class:`nacre.safety.CostFilter`); the agent checkpoints it and logs its ``last_metrics``."""

    last_metrics: Metrics

    def learn_batch(self, batch: TransitionBatch) -> Metrics: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class RiskMeasure(Safety, Protocol):
    """A safety module that values a return distribution (:mod:`nacre.safety.risk`): a
    distributional learner acts on, and bootstraps from, the action it values most."""

    def value(self, quantiles: Tensor) -> Tensor:
        """``[..., N]`` quantiles (midpoints of N equal probability slices) → ``[...]`` values."""
        ...


@runtime_checkable
class CostConstraint(Safety, Protocol):
    """A safety module that bounds the discounted cost rate (:mod:`nacre.safety.constraint`):
    a constrained learner learns a cost critic and ascends ``Q_r − λ Q_c``."""

    threshold: float  # the budget α
    lagrange: Tensor  # the multiplier λ ≥ 0 (a scalar tensor)
    critic_tau: float | None  # the Polyak rate of the cost critic's target (None: the learner's)
    measured: Tensor  # the rate measured on the last counted training episode (nan: none yet)

    def use_discount(self, gamma: float) -> None:
        """The learner's ``γ``, which measured rates discount by."""
        ...

    def record(self, cost: Tensor, done: Tensor, valid: Tensor | None = None) -> None:
        """One step's costs ``[B]`` of the acting envs (the agent calls it as it observes)."""
        ...

    def new_episodes(self, num_envs: int) -> None:
        """Every acting env starts a new episode (the agent calls it as it resets)."""
        ...

    def update(self, rate: Tensor) -> Tensor:
        """Move ``λ`` given the learner's estimate of the cost rate ``(1 − γ) E[Σ γᵗ cᵗ]`` (or
        the measured rate, as the constraint is set); the new ``λ``."""
        ...

    def state_dict(self) -> dict[str, Tensor]: ...

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None: ...


@runtime_checkable
class DistributionalLearner(Learner, Protocol):
    """A learner of return distributions that acts and bootstraps under a risk measure."""

    @property
    def risk(self) -> RiskMeasure: ...


@runtime_checkable
class History(Protocol):
    """Summarizes the observation history into the state a learner sees.

    The history of each stream of decisions (the training envs, the evaluation envs, one
    serving client) is a value the caller keeps — ``None`` for summarizers that need none — so
    that streams never mix: :meth:`initial` starts one, :meth:`summarize` moves it one step,
    :meth:`reset` forgets the episodes that ended.
    """

    @property
    def window(self) -> int:
        """How many past observations a summary reads: replay samples carry windows this long
        (:class:`~nacre.data.ReplayBuffer` ``window``); 1 for the current observation alone."""
        ...

    @property
    def marked(self) -> bool:
        """Windows carry a last feature marking the steps of the current episode (1) against
        the padding before it (0): replay samples must carry it too."""
        ...

    @property
    def actions(self) -> ActionFeatures | None:
        """How window rows encode the action taken at each step (None: rows hold no actions);
        replay samples must carry them too."""
        ...

    def summary_space(self, observation_space: Any) -> Any:
        """The space of the summaries (what the learner's networks are built for)."""
        ...

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        """The history of ``batch`` new streams (``obs``: a batch of observations, for shapes
        and device)."""
        ...

    def summarize(self, obs: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """``(summary, history)`` after observing ``obs`` ``[B, ...]``."""
        ...

    def record(self, history: Tensor | None, action: Tensor) -> Tensor | None:
        """``history`` once ``action`` ``[B, ...]`` was chosen on its latest summary (what a
        summarizer that keeps actions writes into the current step's row)."""
        ...

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        """``history`` with the streams whose episode ended (``done``: ``[B]`` bool) started
        afresh."""
        ...


@runtime_checkable
class ActionRepresentation(Protocol):
    """Maps the available actions to the features a learner scores."""

    def represent(
        self, space: ActionSpace, available: AvailableActions | None
    ) -> Tensor | None: ...


@runtime_checkable
class Buffer(Protocol):
    """Stores transitions and hands them to the learner."""

    @property
    def kind(self) -> BufferKind: ...

    @property
    def needs_next_action(self) -> bool:
        """Samples carry the action taken next (SARSA)."""
        ...

    @property
    def capacity(self) -> int:
        """The most transitions it holds."""
        ...

    @property
    def can_sample(self) -> bool:
        """Whether :meth:`sample` has something to return now."""
        ...

    def add(self, step: StepBatch) -> None:
        """Store one step of ``B`` transitions."""
        ...

    def sample(self, batch_size: int) -> TransitionBatch: ...

    def mark_episodes_cut(self) -> None:
        """The newest stored step of every env ends its episode (a resume with fresh episodes),
        so multi-step and SARSA targets do not run on into the next one."""
        ...

    def __len__(self) -> int: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class PriorityBuffer(Buffer, Protocol):
    """A replay buffer that samples by priority: its samples carry importance ``weight`` and
    the storage ``index`` of each row, whose priority the learner's TD errors then update."""

    def anneal(self, progress: float) -> None:
        """Move the importance-sampling exponent with the run's ``progress`` ∈ [0, 1]."""
        ...

    def update_priorities(self, index: Tensor, td_error: Tensor) -> None:
        """New priorities for the rows ``index`` of a sample, from their TD errors."""
        ...


@runtime_checkable
class RolloutStore(Buffer, Protocol):
    """A buffer of ``kind`` ROLLOUT: read whole by an on-policy learner, then cleared."""

    @property
    def full(self) -> bool:
        """A whole rollout is waiting to be learned from."""
        ...

    def rollout(self) -> Rollout: ...

    def clear(self) -> None: ...


@runtime_checkable
class GoalEnv(Protocol):
    """A goal-conditioned Gymnasium environment (Gymnasium-Robotics' ``GoalEnv`` convention):
    ``Dict`` observations with ``achieved_goal`` and ``desired_goal``, and the reward of any goal
    (what hindsight replay relabels with)."""

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any: ...


class Saver(Protocol):
    """Writes an agent to a folder that :func:`nacre.load` rebuilds it from (what
    :meth:`nacre.Agent.save` calls; :func:`nacre.build` gives every agent it builds one)."""

    def __call__(self, state: dict[str, Any], path: Path) -> Path: ...


__all__ = [
    "ActionDistribution",
    "ActionFilter",
    "CostConstraint",
    "ActionRepresentation",
    "Buffer",
    "DistributionalLearner",
    "BufferKind",
    "Engine",
    "EpisodicExploration",
    "Exploration",
    "GoalEnv",
    "History",
    "LearnedFilter",
    "Learner",
    "LearnerKind",
    "Metrics",
    "PriorityBuffer",
    "RiskMeasure",
    "RolloutLearner",
    "RolloutStore",
    "Safety",
    "Saver",
    "ScoresKind",
    "TDLearner",
]
