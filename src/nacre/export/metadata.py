"""The contract of an export: each graph's inputs and outputs, and ``export.json``.

``export.json`` is what a server reads to call the graphs without nacre: input / output names,
shapes (``"batch"`` is the dynamic batch dimension), dtypes, the action space (bounds of Box
actions), the observation normalization baked into the graphs, the exploration and its frozen
parameters, how to sample from the exploring graph and what propensity to log.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nacre.export.graphs import TensorSpec
from nacre.export.plan import ExportPlan
from nacre.kinds import ScoresKind
from nacre.spaces import BoxActionSpace
from nacre.version import __version__

# How a server samples from the exploring graph and which propensity it logs, per distribution.
SAMPLING = {
    "categorical": "draw a ~ probabilities[b] (a categorical over the K actions); log "
                   "probabilities[b, a] as the propensity",
    "gaussian": "feed noise ~ N(0, I); the graph returns action = to_env(mean + exp(log_std) * "
                "noise) and propensity = the density of the normalized, unclipped action "
                "mean + exp(log_std) * noise under N(mean, exp(log_std)^2)",
    "squashed_gaussian": "feed noise ~ N(0, I); u = mean + exp(log_std) * noise, a = tanh(u), "
                         "action = to_env(a); propensity = the density of a: "
                         "N(u; mean, exp(log_std)^2) / prod(1 - tanh(u)^2) (change of "
                         "variables through the tanh)",
    "clipped_gaussian": "feed noise ~ N(0, I); u = mean + std * noise, action = to_env(clip(u, "
                        "-1, 1)); propensity = the density of u under N(mean, std^2), before "
                        "the clip",
}
TO_ENV = ("to_env(a) = low + (clip(a, -1, 1) + 1) * (high - low) / 2: the policy acts in the "
          "normalized box [-1, 1]^d; mean and log_std are in that box")


def observation_input(plan: ExportPlan) -> TensorSpec:
    obs = plan.observation
    shape: tuple[int | str, ...] = ("batch", *obs.shape)
    what = "raw observations as the environment returns them"
    if obs.normalization is not None:
        what += " (normalized in-graph with the run's frozen statistics)"
    return TensorSpec("obs", shape, str(obs.dtype), what)


def policy_specs(plan: ExportPlan) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The greedy graph's inputs and outputs."""
    inputs = [observation_input(plan), *_mask(plan)]
    if isinstance(plan.space, BoxActionSpace):
        shape: tuple[int | str, ...] = ("batch", *plan.space.shape)
        out = TensorSpec("action", shape, "float32",
                         "the mean (deterministic) action in the environment's units")
    else:
        out = TensorSpec("action", ("batch",), "int64", "the greedy action")
    return inputs, [out]


def exploring_specs(plan: ExportPlan) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The exploring graph's inputs and outputs."""
    space = plan.space
    if isinstance(space, BoxActionSpace):
        shape: tuple[int | str, ...] = ("batch", *space.shape)
        inputs = [observation_input(plan),
                  TensorSpec("noise", shape, "float32", "standard-normal draws N(0, I)")]
        return inputs, [
            TensorSpec("action", shape, "float32", "the sampled action in the environment's "
                       "units"),
            TensorSpec("propensity", ("batch",), "float32", "the density to log with it"),
            TensorSpec("mean", shape, "float32", "the Gaussian's mean (normalized box)"),
            TensorSpec("log_std", shape, "float32", "the Gaussian's log standard deviation"),
        ]
    k = space.n
    outputs = [
        TensorSpec("probabilities", ("batch", k), "float32",
                   f"the {plan.exploring.kind} action distribution (0 at unavailable actions)"),
        TensorSpec("scores", ("batch", k), "float32",
                   "the learner's scores: Q-values, logits or posterior means"),
    ]
    if plan.scores_kind is ScoresKind.POSTERIOR:
        outputs.append(TensorSpec("std", ("batch", k), "float32",
                                  "the posterior standard deviation of each action's mean"))
    if plan.exploring.kind == "ucb":
        outputs.append(TensorSpec("ucb", ("batch", k), "float32",
                                  "the upper confidence bounds scores + alpha * std"))
    return [observation_input(plan), *_mask(plan)], outputs


def _mask(plan: ExportPlan) -> list[TensorSpec]:
    if not plan.mask:
        return []
    n = plan.space.n if not isinstance(plan.space, BoxActionSpace) else 0
    return [TensorSpec("mask", ("batch", n), "bool", "the available actions (True: available)")]


def action_space(plan: ExportPlan) -> dict[str, Any]:
    space = plan.space
    if isinstance(space, BoxActionSpace):
        return {"kind": "box", "shape": list(space.shape), "low": space.low.tolist(),
                "high": space.high.tolist(), "to_env": TO_ENV}
    return {"kind": "discrete", "n": space.n}


def export_json(plan: ExportPlan, graphs: dict[str, dict[str, Any]], opset: int,
                source: str | None) -> dict[str, Any]:
    """The whole ``export.json``."""
    norm = plan.observation.normalization
    exploring = plan.exploring
    return {
        "format": "onnx",
        "opset": opset,
        "nacre_version": __version__,
        "source": source,
        "env_steps": plan.step,
        "grad_steps": plan.agent.grad_steps,
        "learner": type(plan.agent.learner).__name__,
        "scores_kind": plan.scores_kind.value,
        "observation": {
            "shape": list(plan.observation.shape),
            "dtype": str(plan.observation.dtype),
            "normalization": None if norm is None else {
                "mean": np.asarray(norm.mean).tolist(), "std": np.asarray(norm.std).tolist(),
                "clip": norm.clip,
                "formula": "clip((obs - mean) / std, -clip, clip), in float64, then float32"},
        },
        "action_space": action_space(plan),
        "exploration": {
            "kind": exploring.kind,
            "class": type(exploring.module).__name__,
            "frozen_at_step": plan.step,
            "parameters": exploring.parameters,
            "distribution": exploring.distribution,
            "sampling": SAMPLING[exploring.distribution],
        },
        "graphs": graphs,
    }


__all__ = ["SAMPLING", "action_space", "export_json", "exploring_specs", "observation_input",
           "policy_specs"]
