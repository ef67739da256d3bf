"""Observation normalization and reward scaling around any nacre environment.

Observations are standardized with a running mean and variance of everything the training env
has observed (Chan et al.'s parallel update) and clipped; rewards are divided by the running
standard deviation of the discounted return, the scheme of OpenAI baselines' and
Stable-Baselines3's ``VecNormalize`` (the learner sees the scaled rewards; the episode returns the
training loop reports stay raw). Evaluation envs share the training statistics, frozen
(:meth:`Normalize.frozen`): they normalize observations with them, never update them, and never
scale rewards. The statistics are checkpointed with the run (:meth:`Normalize.stats_state`) and
restored when a run is loaded or resumed.

Agents and buffers see normalized observations, so a model served outside nacre's loop must be
given observations normalized with the run's statistics (``Normalize.normalize_obs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pydantic
from typing_extensions import TypedDict

from nacre.envs.base import ActionResult, Env
from nacre.spaces import AvailableActions

_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)


@pydantic.with_config(_STRICT)
class MomentsState(TypedDict):
    """Running moments as JSON (also their schema in a checkpoint; shapes are checked on
    loading)."""

    mean: pydantic.JsonValue
    var: pydantic.JsonValue
    count: float


# The statistics of a run as checkpointed (functional form: ``return`` is a keyword).
NormalizeStats = TypedDict(
    "NormalizeStats", {"obs": MomentsState, "return": MomentsState, "returns": list[float]})
pydantic.with_config(_STRICT)(NormalizeStats)


@dataclass(frozen=True)
class NormalizeConfig:
    """What :class:`Normalize` does (all off by default).

    Attributes:
        obs: standardize observations with running statistics.
        reward: divide rewards by the running std of the discounted return.
        clip_obs: clip normalized observations to ``±clip_obs``.
        clip_reward: clip scaled rewards to ``±clip_reward``.
        gamma: discount of the return whose std scales rewards (use the learner's γ).
        epsilon: added to variances.
    """

    obs: bool = False
    reward: bool = False
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    gamma: float = 0.99
    epsilon: float = 1e-8

    @property
    def enabled(self) -> bool:
        return self.obs or self.reward


class RunningMeanStd:
    """Running mean and (population) variance of batches of arrays."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4  # as in baselines: the first batch dominates immediately

    def update(self, batch: np.ndarray) -> None:
        """Fold in a batch ``[N, *shape]``."""
        b_mean, b_var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + b_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (ValueError if the shapes are not this one's)."""
        mean = np.asarray(state["mean"], dtype=np.float64)
        var = np.asarray(state["var"], dtype=np.float64)
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(f"running moments of shape {mean.shape} / {var.shape}, expected "
                             f"{self.mean.shape}")
        self.mean, self.var, self.count = mean, var, float(state["count"])


class Normalize:
    """Wraps a nacre env (``GymEnv``, ``SyncEnvs``, ``GymVectorEnv``) with normalization."""

    one_step = False  # bandit environments standardize their contexts themselves

    def __init__(self, env: Env, config: NormalizeConfig, training: bool = True,
                 obs_stats: RunningMeanStd | None = None) -> None:
        self.env = env
        self.config = config
        self.training = training
        self.num_envs = int(env.num_envs)
        self.action_space = env.action_space
        shape = tuple(env.observation_space.shape or ())
        self.obs_stats = obs_stats if obs_stats is not None else RunningMeanStd(shape)
        self.return_stats = RunningMeanStd()
        self._returns = np.zeros(self.num_envs)

    @property
    def observation_space(self) -> Any:
        return self.env.observation_space

    @property
    def available(self) -> AvailableActions | None:
        return self.env.available

    def frozen(self, env: Env) -> Normalize:
        """``env`` normalized with this wrapper's observation statistics, never updating them
        and leaving rewards raw (for evaluation)."""
        return Normalize(env, self.config, training=False, obs_stats=self.obs_stats)

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        if not self.config.obs:
            return obs
        c = self.config
        out = (obs - self.obs_stats.mean) / np.sqrt(self.obs_stats.var + c.epsilon)
        return np.clip(out, -c.clip_obs, c.clip_obs).astype(np.float32)

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs = self.env.reset(seed=seed)
        if self.training and self.config.obs:
            self.obs_stats.update(np.asarray(obs, dtype=np.float64))
        self._returns[:] = 0.0
        return self.normalize_obs(obs)

    def step(self, action: Any) -> ActionResult:
        result: ActionResult = self.env.step(action)
        c = self.config
        if self.training and c.obs:
            self.obs_stats.update(np.asarray(result.next_obs, dtype=np.float64))
        reward = result.reward
        if self.training and c.reward:
            self._returns = self._returns * c.gamma + reward
            self.return_stats.update(self._returns)
            scaled = reward / np.sqrt(self.return_stats.var + c.epsilon)
            reward = np.clip(scaled, -c.clip_reward, c.clip_reward).astype(np.float32)
            done = np.logical_or(result.terminated, result.truncated)
            self._returns[done] = 0.0
        same = result.next_obs is result.obs
        next_obs = self.normalize_obs(result.next_obs)
        obs = next_obs if same else self.normalize_obs(result.obs)
        out = ActionResult(obs, next_obs, reward, result.terminated, result.truncated,
                           valid=result.valid, available=result.available, cost=result.cost,
                           final_available=result.final_available)
        out.episode_returns, out.episode_lengths = result.episode_returns, result.episode_lengths
        return out

    # ------------------------------------------------------------------ checkpoints
    def stats_state(self) -> dict[str, Any]:
        """The statistics (JSON): saved with every checkpoint, restored by ``load_run``."""
        return {"obs": self.obs_stats.state(), "return": self.return_stats.state(),
                "returns": self._returns.tolist()}

    def load_stats(self, state: dict[str, Any]) -> None:
        self.obs_stats.load(state["obs"])
        self.return_stats.load(state["return"])
        returns = np.asarray(state["returns"], dtype=np.float64)
        if returns.shape != self._returns.shape:
            raise ValueError(f"{returns.shape[0]} discounted returns, expected one per env "
                             f"({self._returns.shape[0]})")
        self._returns = returns

    def get_state(self) -> dict[str, Any] | None:
        inner = self.env.get_state()
        return None if inner is None else {"inner": inner}

    def set_state(self, state: dict[str, Any]) -> bool:
        return self.env.set_state(state["inner"])

    def close(self) -> None:
        self.env.close()
