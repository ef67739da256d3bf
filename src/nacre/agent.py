"""The Agent: one object composed of a learner and the act-path slots.

Acting (history → action representation → scores → safety → exploration) never touches an
optimizer; learning is ``learner.learn_batch(buffer.sample(n))``. Everything is batched over a
leading dimension ``B`` (B environments, or B = 1 for one live system). The verbs follow Pearl
(Zhu et al. 2023): ``reset``, ``act``, ``observe``, ``learn``, ``learn_batch``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from nacre.actions import CandidateBatches, IdentityActionRepresentation, on_device
from nacre.agent_checks import check_slots
from nacre.agent_state import AGENT_STATE
from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.validate import check_count, check_finite, check_observations
from nacre.envs.base import ActionResult
from nacre.envs.observations import Observations
from nacre.errors import InputError
from nacre.exploration import Greedy, exploit_for
from nacre.history import HistoryStream, IdentityHistory
from nacre.learners.engine import LearnerEngine, learn_round
from nacre.safety import NoSafety
from nacre.safety.filter import restrict_for
from nacre.spaces import (
    ActionSpace,
    AvailableActions,
    BoxActionSpace,
    DiscreteActionSpace,
    MultiDiscreteActionSpace,
)
from nacre.types import (
    ActionRepresentation,
    Buffer,
    CostConstraint,
    Engine,
    EpisodicExploration,
    Exploration,
    History,
    LearnedFilter,
    Learner,
    Metrics,
    Safety,
    Saver,
)


class Agent:
    """A learner plus exploration, safety, history, buffer and action representation.

    Args:
        learner: what scores actions and learns from batches.
        exploration: turns scores into actions + propensities (default: greedy).
        safety: filters the allowed actions (default: none).
        history: summarizes observations into states (default: identity).
        buffer: stores observed transitions for :meth:`learn` (default: none; then
            ``learn_batch`` is the way to learn).
        action_repr: features of candidate actions (default: identity).
        device: where acting runs; learners are moved there by :func:`nacre.build`.
        seed: seed of the acting random generator.
        engine: how the learner is driven (default: its own readable update); a kernel of
            :func:`nacre.accel.accelerate` where one covers it (``train.accelerate: auto``).
        observation_shape: the shape of one observation, checked by :meth:`reset` and
            :meth:`decide` (None: not checked; :func:`nacre.build` sets the env's).

    Example:
        >>> import nacre
        >>> run = nacre.build(nacre.load_preset("cartpole-dqn"))
        >>> obs = run.env.reset(seed=0)
        >>> run.agent.reset(obs, run.env.action_space)
        >>> action = run.agent.act()
        >>> run.agent.observe(run.env.step(action))
    """

    def __init__(
        self,
        learner: Learner,
        *,
        exploration: Exploration | None = None,
        safety: Safety | None = None,
        history: History | None = None,
        buffer: Buffer | None = None,
        action_repr: ActionRepresentation | None = None,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        engine: Engine | None = None,
        observation_shape: tuple[int, ...] | None = None,
    ) -> None:
        if engine is not None and engine.learner is not learner:
            raise InputError("engine", "was built for another learner")
        check_slots(learner, exploration, safety)
        self.learner = learner
        self.engine: Engine = engine if engine is not None else LearnerEngine(learner)
        self.exploration: Exploration = exploration or Greedy()
        self.safety: Safety = safety or NoSafety()
        self.history: History = history or IdentityHistory()
        self.buffer = buffer
        self.action_repr: ActionRepresentation = action_repr or IdentityActionRepresentation()
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        self._greedy: Exploration = Greedy()
        self._box: BoxActionSpace | None = None
        self._identity_history = isinstance(self.history, IdentityHistory)
        self._episodic = (self.exploration if isinstance(self.exploration, EpisodicExploration)
                          else None)  # told when episodes end (nacre.exploration.deep)
        self._constraint = self.safety if isinstance(self.safety, CostConstraint) else None  # RCPO
        self._watches_ends = (not self._identity_history or self._episodic is not None
                              or self._constraint is not None)  # observe() needs `done`
        # sampled batches: candidate sets represented as when acting, then an action filter's
        self._prepare = CandidateBatches(self.action_repr.represent, restrict_for(self.safety))
        self._null_slots = (self._identity_history and isinstance(self.safety, NoSafety)
                            and isinstance(self.action_repr, IdentityActionRepresentation))
        self._static_features: Tensor | None = None
        self._action_space: ActionSpace | None = None
        self.env_steps = self.grad_steps = 0
        self._obs: np.ndarray | Tensor | None = None
        self._available: AvailableActions | None = None
        self._action: Tensor | None = None
        self._propensity: Tensor | None = None
        self._history: Tensor | None = None  # the acting envs' (nacre.types.History)
        self._acted_from: Tensor | None = None  # _history before the last act (StepBatch.state)
        self._num_envs = 0
        self.observation_shape = observation_shape
        # what predict() does to raw observations (nacre.build: flattening, normalization)
        self.observations = Observations.of_shape(observation_shape)
        self.saver: Saver | None = None  # set by nacre.build, which knows the run's config

    # ------------------------------------------------------------------ acting
    @property
    def action_space(self) -> ActionSpace | None:
        """The action space acted in (set by :meth:`reset`, or directly for serving)."""
        return self._action_space

    @action_space.setter
    def action_space(self, space: ActionSpace | None) -> None:
        self._action_space = space
        self._static_features = space.features if isinstance(space, DiscreteActionSpace) else None
        self._box = space if isinstance(space, BoxActionSpace) else None
        self._greedy = exploit_for(space)
        self._prepare.space = space

    def reset(
        self,
        obs: np.ndarray | Tensor,
        action_space: ActionSpace,
        available: AvailableActions | None = None,
    ) -> None:
        """Start (or restart) acting from a batch of first observations ``[B, ...]``."""
        check_observations("obs", obs, self.observation_shape)
        if self.observations.raw is None and self.observations.shape is None:
            self.observations = Observations.of_shape(tuple(obs.shape[1:]))  # for predict
        self._obs = obs
        self._num_envs = int(obs.shape[0])
        self.action_space = action_space
        self._available = available
        self._action = self._propensity = None
        first = torch.as_tensor(obs, device=self.device)
        self._history = self.history.initial(self._num_envs, first)
        if self._episodic is not None:  # every episode starts afresh
            self._episodic.episodes_ended(torch.ones(self._num_envs, dtype=torch.bool))
        if self._constraint is not None:  # and is measured from its start
            self._constraint.new_episodes(self._num_envs)

    def act(self, exploit: bool = False) -> Tensor:
        """Choose actions ``[B]`` for the current observations; ``exploit=True``: the greedy
        (safe) action, propensity 1. The actions' probabilities go to :attr:`last_propensity`."""
        if self._obs is None or self.action_space is None:
            raise InputError("obs", "call agent.reset(obs, action_space) before agent.act()")
        self._acted_from = self._history
        action, propensity, self._history = self._decide(self._obs, self._available, exploit,
                                                         self._history)
        self._action = action  # what the policy chose (normalized for Box spaces): stored
        self._propensity = propensity
        return action if self._box is None else self._box.to_env(action)

    def decide(
        self,
        obs: np.ndarray | Tensor,
        available: AvailableActions | None = None,
        exploit: bool = False,
        stream: HistoryStream | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The act path on given observations, without changing the agent's own state.

        Returns ``(action [B], propensity [B])`` with Box actions in the environment's units.
        Used by evaluation and serving. ``stream`` (:meth:`stream`) carries the history of a
        stream of decisions from call to call; without one, a summarizer sees no past.
        """
        check_observations("obs", obs, self.observation_shape)
        action, propensity, history = self._decide(obs, available, exploit,
                                                   None if stream is None else stream.history)
        if stream is not None:
            stream.history = history
        return (action if self._box is None else self._box.to_env(action)), propensity

    def stream(self) -> HistoryStream:
        """A new stream of decisions with its own history (evaluation, serving, your loop)."""
        return HistoryStream(self.history)

    def predict(self, obs: Any, deterministic: bool = True,
                available: AvailableActions | None = None,
                stream: HistoryStream | None = None) -> np.ndarray:
        """Actions for observations as your environment returns them, as NumPy.

        ``obs`` is one observation or a batch ``[B, ...]`` (for Dict observations, a dict of
        batches), given raw: the agent applies what the training environment applied (Dict /
        Tuple flattening, the run's observation normalization). Returns one action for one
        observation, else ``[B]`` actions (``[B, d]`` for Box, ``[B, k]`` for MultiDiscrete),
        in the environment's units. ``deterministic=True`` (the default) takes the greedy /
        mean action; ``False`` samples as in training (see docs/inference.md). ``stream``: as
        for :meth:`decide`.
        """
        batch, single = self.observations(obs)
        action, _ = self.decide(batch, available, exploit=deterministic, stream=stream)
        out = action.numpy(force=True)
        if isinstance(self._action_space, MultiDiscreteActionSpace) and self._action_space.binary:
            out = out.astype(np.int8)  # Gymnasium's MultiBinary dtype
        return np.asarray(out[0]) if single else out

    def _decide(
        self,
        obs: np.ndarray | Tensor,
        available: AvailableActions | None,
        exploit: bool,
        history: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        if self._action_space is None:
            raise InputError("action_space", "call agent.reset(obs, action_space) or set "
                             "agent.action_space before deciding")
        obs_t = torch.from_numpy(obs) if isinstance(obs, np.ndarray) else obs
        if obs_t.device != self.device:
            obs_t = obs_t.to(self.device)
        mask = None if available is None else available.mask.to(self.device)
        explorer = self._greedy if exploit else self.exploration
        try:
            return self._select(obs_t, available, mask, explorer, history)
        except RuntimeError as exc:  # torch refusing observations of another shape
            if isinstance(exc, torch.OutOfMemoryError):
                raise
            raise InputError("obs", f"shape {list(obs_t.shape)} does not fit the agent's "
                             f"networks: {exc}") from exc

    def _select(self, obs_t: Tensor, available: AvailableActions | None, mask: Tensor | None,
                explorer: Exploration, history: Tensor | None
                ) -> tuple[Tensor, Tensor, Tensor | None]:
        assert self._action_space is not None
        with torch.inference_mode():
            if self._null_slots and available is None:  # the common fixed-action-set case
                scores = self.engine.scores(obs_t, self._static_features)
                return (*explorer.select(scores, None, self.env_steps, self.generator), None)
            state, history = self.history.summarize(obs_t, history)
            features = on_device(self.action_repr.represent(self._action_space, available),
                                 self.device)  # e.g. rows of a catalogue kept on the CPU
            scores = self.engine.scores(state, features)
            mask = self.safety.filter(state, scores, mask)
            action, propensity = explorer.select(scores, mask, self.env_steps, self.generator)
            return action, propensity, self.history.record(history, action)

    @property
    def last_propensity(self) -> Tensor | None:
        """Probability of the actions returned by the last :meth:`act` call."""
        return self._propensity

    def observe(self, result: ActionResult) -> None:
        """Record the outcome of the last actions and move to the next observations."""
        if self._action is None:
            raise InputError("result", "call agent.act() before agent.observe(result)")
        if not isinstance(result, ActionResult):
            raise InputError("result", f"expected a nacre ActionResult, got "
                             f"{type(result).__name__}")
        shape = cast(np.ndarray, self._obs).shape  # the shape since reset (act() needs _obs)
        if result.obs.shape != shape:
            raise InputError("result.obs", f"expected shape {list(shape)} (as at reset), got "
                             f"{list(result.obs.shape)}")
        if result.obs is not result.next_obs or self.buffer is None:
            # what the buffer does not check: first observations of new episodes (and
            # everything, without a buffer); the next act() decides on them
            check_finite("result.obs", result.obs)
        if self.buffer is not None:
            self.buffer.add(StepBatch(self._obs, self._action, result.reward, result.next_obs,
                                      result.terminated, result.truncated, self._propensity,
                                      result.valid, result.cost, self._acted_from,
                                      self._available, result.available, result.final_available))
        elif not np.isfinite(np.asarray(result.reward)).all():
            raise InputError("reward", "contains NaN or inf")
        if self._watches_ends:
            done = torch.as_tensor(np.logical_or(result.terminated, result.truncated))
            if self._constraint is not None:  # a step that reports no cost costs nothing
                cost = np.zeros(len(done)) if result.cost is None else result.cost
                self._constraint.record(torch.as_tensor(cost), done, None if
                                        result.valid is None else torch.as_tensor(result.valid))
            if bool(done.any()):
                self._history = self.history.reset(self._history, done)
                if self._episodic is not None:  # e.g. Bootstrapped DQN draws a new member
                    self._episodic.episodes_ended(done)
        self._obs = result.obs
        self._available = result.available
        self.env_steps += self._num_envs

    # ------------------------------------------------------------------ learning
    def learn(self, batch_size: int, gradient_steps: int = 1, progress: float = 0.0) -> Metrics:
        """One training round, as the buffer's kind says. A replay buffer: ``gradient_steps``
        updates on batches of ``batch_size`` sampled from it. A rollout buffer: one round of the
        learner on the rollout (epochs of ``batch_size`` minibatches), then it is cleared. An
        online buffer (bandits): every transition since the last call, once, in batches of at
        most ``batch_size``. ``progress`` ∈ [0, 1]: how far the run is (for schedules)."""
        if self.buffer is None:
            raise InputError("buffer", "agent.learn() needs a buffer; use learn_batch(batch)")
        check_count("batch_size", batch_size, 1)
        check_count("gradient_steps", gradient_steps, 0)
        if not 0.0 <= progress <= 1.0:
            raise InputError("progress", f"expected a fraction in [0, 1], got {progress!r}")
        metrics, updates = learn_round(self.engine, self.buffer, batch_size, gradient_steps,
                                       progress, self.device, self._prepare,
                                       self._prepare.rollout)
        self.grad_steps += updates
        if isinstance(self.safety, LearnedFilter) and updates:  # it learned from these batches
            metrics = {**metrics, **self.safety.last_metrics}
        return metrics

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One update from a batch you supply (offline data, a logged dataset …); checked by
        the learner (:func:`nacre.data.validate.check_batch`) before it is used."""
        if not isinstance(batch, TransitionBatch):
            raise InputError("batch", f"expected a nacre.data.TransitionBatch, got "
                             f"{type(batch).__name__}")
        batch = batch.to(self.device)
        metrics = self.learner.learn_batch(self._prepare(batch))
        self.grad_steps += 1
        return metrics

    # ------------------------------------------------------------------ checkpointing
    def save(self, path: str | Path) -> Path:
        """Save to the folder ``path`` for :func:`nacre.load`: networks, optimizer state,
        counters, the run's config and normalization statistics; not the replay buffer."""
        if self.saver is None:
            raise InputError("agent", "composed by hand has no config to rebuild it from: "
                             "build it with nacre.build(config) to save it in one line")
        state = {k: v for k, v in self.state_dict().items()  # the policy, not the run's data
                 if k not in ("buffer", "obs", "action", "propensity", "mask", "features",
                              "items")}
        return self.saver(state, Path(path))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: learner, buffer, RNG, counters, current step."""
        state: dict[str, Any] = {"learner": self.learner.state_dict(),
                                 "generator": self.generator.get_state(),
                                 "env_steps": self.env_steps, "grad_steps": self.grad_steps}
        if self.buffer is not None:
            state["buffer"] = self.buffer.state_dict()
        if self._obs is not None:
            state["obs"] = torch.as_tensor(np.asarray(self._obs))
        if self._action is not None and self._propensity is not None:
            state["action"], state["propensity"] = self._action.clone(), self._propensity.clone()
        if self._history is not None:
            state["history"] = self._history.clone()
        if self._episodic is not None:
            state["exploration"] = self._episodic.state_dict()
        if isinstance(self.safety, LearnedFilter):
            state["safety"] = self.safety.state_dict()
        if self._available is not None:  # the set the next act() chooses from
            state.update({k: v for k, v in vars(self._available).items() if v is not None})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a field of the wrong type raises pydantic's
        ``ValidationError`` (a ``ValueError``) before anything changes."""
        AGENT_STATE.validate_python(state)
        self.learner.load_state_dict(state["learner"])
        self.generator.set_state(state["generator"])
        self.env_steps = int(state["env_steps"])
        self.grad_steps = int(state["grad_steps"])
        if self.buffer is not None and "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
        if "obs" in state:
            self._obs = state["obs"].cpu().numpy()
            self._num_envs = int(self._obs.shape[0])
        if "action" in state:
            self._action = state["action"]
            self._propensity = state["propensity"]
        if "history" in state:
            self._history = state["history"].to(self.device)
        if self._episodic is not None and "exploration" in state:
            self._episodic.load_state_dict(state["exploration"])
        if isinstance(self.safety, LearnedFilter) and "safety" in state:
            self.safety.load_state_dict(state["safety"])
        if "mask" in state:
            self._available = AvailableActions(state["mask"].bool(), state.get("features"),
                                               state.get("items"))


__all__ = ["Agent", "check_slots"]
