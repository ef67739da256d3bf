"""The exported graphs as small torch modules over the agent's own components.

Each module calls what :meth:`nacre.Agent.decide` calls — the learner's public ``scores``, the
exploration module's ``select`` / ``distribution``, :meth:`~nacre.spaces.BoxActionSpace.to_env`
— with the observation normalization of the run in front; nothing of a network is written
again here. ``torch.onnx.export`` traces them into ONNX (see :mod:`nacre.export.onnx`).

Graph inputs: ``obs [B, ...]`` raw observations; ``mask [B, K]`` (bool, True = available) where
the export was asked for masks; ``noise [B, d]`` standard-normal draws for the continuous
exploring graph, so that a server keeps its own random stream and the graph returns the action
with its exact propensity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from nacre.exploration import (
    UCB,
    GaussianNoise,
    PolicySampling,
    SquashedGaussianSampling,
    exploit_for,
    means,
)
from nacre.export.plan import ExportPlan, Normalization
from nacre.kinds import ScoresKind
from nacre.losses.policy import gaussian_log_prob, squashed_gaussian_log_prob
from nacre.spaces import BoxActionSpace
from nacre.types import ActionDistribution, Exploration, Learner


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a graph, as ``export.json`` describes it (``"batch"`` is the
    dynamic batch dimension)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    description: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "description": self.description}


class ObservationInput(nn.Module):
    """Raw observations → what the agent acts on: normalized with the run's frozen statistics
    in float64 then rounded to float32, as :meth:`~nacre.envs.normalize.Normalize.normalize_obs`
    does in NumPy (so the graph sees bit-identical inputs)."""

    def __init__(self, normalization: Normalization | None, device: torch.device) -> None:
        super().__init__()
        self.stats: tuple[Tensor, Tensor] | None = None
        self.clip = 0.0
        if normalization is not None:
            self.stats = (torch.from_numpy(np.asarray(normalization.mean, np.float64)).to(device),
                          torch.from_numpy(np.asarray(normalization.std, np.float64)).to(device))
            self.clip = normalization.clip

    def forward(self, obs: Tensor) -> Tensor:
        if self.stats is None:
            return obs
        mean, std = self.stats
        return ((obs.double() - mean) / std).clamp(-self.clip, self.clip).float()


class Scores(nn.Module):
    """Raw observations → the learner's scores on the fixed action set."""

    def __init__(self, plan: ExportPlan) -> None:
        super().__init__()
        self.observations = ObservationInput(plan.observation.normalization, plan.agent.device)
        self.learner: Learner = plan.agent.learner
        self.features = plan.features

    def forward(self, obs: Tensor) -> Tensor:
        return self.learner.scores(self.observations(obs), self.features)


class GreedyPolicy(nn.Module):
    """``obs [, mask] → action``: what ``agent.decide(obs, exploit=True)`` returns (the greedy
    action ``[B]`` int64, or the mean / deterministic action ``[B, d]`` in the env's units)."""

    def __init__(self, plan: ExportPlan) -> None:
        super().__init__()
        self.scores = Scores(plan)
        self.exploit: Exploration = exploit_for(plan.space)
        self.box = plan.space if isinstance(plan.space, BoxActionSpace) else None
        self.step = plan.step

    def forward(self, obs: Tensor, mask: Tensor | None = None) -> Tensor:
        action, _ = self.exploit.select(self.scores(obs), mask, self.step, None)
        return action if self.box is None else self.box.to_env(action)


class DiscreteExploring(nn.Module):
    """``obs [, mask] → probabilities [B, K], scores [B, K] (, std, ucb)``: the exploration's
    action distribution at the frozen step, and what it was computed from."""

    def __init__(self, plan: ExportPlan) -> None:
        super().__init__()
        self.scores = Scores(plan)
        self.explorer = plan.exploring.module
        self.step = plan.step
        self.posterior = plan.scores_kind is ScoresKind.POSTERIOR
        self.alpha = self.explorer.alpha if isinstance(self.explorer, UCB) else None

    def forward(self, obs: Tensor, mask: Tensor | None = None) -> tuple[Tensor, ...]:
        scores = self.scores(obs)
        if isinstance(self.explorer, ActionDistribution):
            probs = self.explorer.distribution(scores, mask, self.step)
        else:  # a categorical policy's logits, as PolicySampling samples them
            logits = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
            probs = torch.softmax(logits, dim=1)
        out = [probs.float(), means(scores).float()]
        if self.posterior:
            out.append(scores[..., 1].float())
        if self.alpha is not None:  # UCB's optimistic scores μ + ασ (LinUCB), unmasked
            out.append(scores[..., 0] + self.alpha * scores[..., 1])
        return tuple(out)


class ContinuousExploring(nn.Module):
    """``obs, noise → action, propensity, mean, log_std``: the action the exploration module
    takes with standard-normal draws ``noise`` (in the env's units) and its propensity, as
    ``select`` computes them (density of the normalized action, see :mod:`nacre.exploration`);
    ``mean`` / ``log_std`` parametrize the Gaussian in the normalized box ``[-1, 1]^d`` (for a
    squashed Gaussian, before the tanh)."""

    def __init__(self, plan: ExportPlan) -> None:
        super().__init__()
        assert isinstance(plan.space, BoxActionSpace)
        self.scores = Scores(plan)
        self.box = plan.space
        self.explorer = plan.exploring.module
        if not isinstance(self.explorer, PolicySampling | SquashedGaussianSampling
                          | GaussianNoise):
            raise TypeError(f"no continuous exploring graph for {type(self.explorer).__name__}")

    def forward(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        scores = self.scores(obs)
        if isinstance(self.explorer, GaussianNoise):
            mean = scores[:, 0] if scores.dim() == 3 else scores
            log_std = torch.full_like(mean, math.log(self.explorer.std))
            raw = mean + self.explorer.std * noise
            action, log_prob = raw.clamp(-1.0, 1.0), gaussian_log_prob(mean, log_std, raw)
        elif isinstance(self.explorer, SquashedGaussianSampling):
            mean, log_std = scores[:, 1], scores[:, 2]
            u = mean + log_std.exp() * noise
            action, log_prob = torch.tanh(u), squashed_gaussian_log_prob(mean, log_std, u)
        else:
            mean, log_std = scores[:, 0], scores[:, 1]
            action = mean + log_std.exp() * noise
            log_prob = gaussian_log_prob(mean, log_std, action)
        return self.box.to_env(action), log_prob.exp(), mean, log_std


__all__ = ["ContinuousExploring", "DiscreteExploring", "GreedyPolicy", "ObservationInput",
           "Scores", "TensorSpec"]
