"""``export_onnx``: write an agent's greedy and exploring policies as ONNX graphs.

The graphs are traced from the modules of :mod:`nacre.export.graphs` with torch's
``torch.export``-based ONNX exporter (``torch.onnx.export(..., dynamo=True)``; the TorchScript
exporter is deprecated since torch 2.9) with a dynamic batch dimension, at opset 18 (run by
onnxruntime ≥ 1.14). Before anything is reported written, each graph is run in onnxruntime on
random observations and compared with the torch modules it came from, so an agent whose
components do not translate faithfully is refused rather than exported wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nacre.agent import Agent
from nacre.errors import ConfigError, require
from nacre.export.graphs import (
    ContinuousExploring,
    DiscreteExploring,
    GreedyPolicy,
    TensorSpec,
)
from nacre.export.metadata import exploring_specs, export_json, policy_specs
from nacre.export.plan import ExportPlan, example_observations, plan
from nacre.spaces import BoxActionSpace
from nacre.train.run import load

OPSET = 18
VERIFY_ROWS = 256  # random observations each written graph is checked on


@dataclass
class Graph:
    """One graph to write: its module and its inputs / outputs."""

    name: str
    module: nn.Module
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def export_onnx(agent_or_run_dir: Agent | str | Path, out_dir: str | Path | None = None, *,
                torchscript: bool = False, mask: bool = False, verify: bool = True,
                log: Callable[[str], None] | None = None) -> Path:
    """Export an agent (or the newest checkpoint of a run folder) to ONNX in ``out_dir``.

    Writes ``policy.onnx`` (the greedy policy), ``exploring.onnx`` (the exploring policy's
    action distribution, or for continuous actions a sample and its propensity) and
    ``export.json`` (the contract: names, shapes, dtypes, action space, exploration and its
    parameters frozen at the agent's ``env_steps``); with ``torchscript``, also ``policy.pt``
    and ``exploring.pt``. ``out_dir`` defaults to ``RUN_DIR/export`` for a run folder.
    ``mask``: discrete graphs take a ``mask [B, K]`` input of the available actions (for
    environments that restrict actions per step). ``verify``: check every graph against the
    agent's torch modules on random observations (a mismatch raises). ``log`` is told what is
    written. Returns ``out_dir``.

    Raises :class:`~nacre.errors.ConfigError` for agents whose act path a graph cannot
    reproduce (see :mod:`nacre.export.plan`), and
    :class:`~nacre.errors.MissingExtraError` without the ``[onnx]`` extra.
    """
    require("onnxscript", "onnx")  # torch.onnx's exporter needs it; onnxruntime checks below
    ort = require("onnxruntime", "onnx")
    say = log or (lambda _: None)
    if isinstance(agent_or_run_dir, Agent):
        agent, source = agent_or_run_dir, None
        if out_dir is None:
            raise ConfigError("export: out_dir is needed when exporting an agent object")
        out = Path(out_dir)
    else:
        source = Path(agent_or_run_dir)
        out = Path(out_dir) if out_dir is not None else source / "export"
        say(f"loading {source}")
        agent = load(source)
    export_plan = plan(agent, mask)
    args = _example_args(export_plan, 4, seed=0)
    out.mkdir(parents=True, exist_ok=True)
    described: dict[str, dict[str, Any]] = {}
    with _staged() as stage:  # every file checked before any replaces what out held
        for graph in _graphs(export_plan):
            graph.module.eval()
            with torch.no_grad():  # fill components' lazy caches (a Cholesky factor …) with
                graph.module(*args[: len(graph.inputs)])  # real tensors, not fake ones
            program = _capture(graph, args)
            tmp = stage(out / f"{graph.name}.onnx")
            _save_onnx(program, tmp)
            if verify:
                _verify(graph, export_plan, ort, tmp)
            described[graph.name] = {"file": f"{graph.name}.onnx",
                                     "inputs": [s.to_json() for s in graph.inputs],
                                     "outputs": [s.to_json() for s in graph.outputs]}
            if torchscript:
                described[graph.name]["torchscript"] = f"{graph.name}.pt"
                _save_torchscript(program, args[: len(graph.inputs)],
                                  stage(out / f"{graph.name}.pt"))
        meta = export_json(export_plan, described, OPSET,
                           None if source is None else str(source))
        stage(out / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name, entry in described.items():
        say(f"wrote {out / entry['file']}" + (f" and {name}.pt" if torchscript else ""))
    say(f"wrote {out / 'export.json'} (exploration {export_plan.exploring.kind}, frozen at "
        f"step {export_plan.step})")
    return out


def _graphs(export_plan: ExportPlan) -> list[Graph]:
    inputs, outputs = policy_specs(export_plan)
    greedy = Graph("policy", GreedyPolicy(export_plan), inputs, outputs)
    inputs, outputs = exploring_specs(export_plan)
    module = (ContinuousExploring(export_plan) if export_plan.continuous
              else DiscreteExploring(export_plan))
    return [greedy, Graph("exploring", module, inputs, outputs)]


def _example_args(export_plan: ExportPlan, n: int, seed: int) -> tuple[Tensor, ...]:
    """Inputs for every graph, in the order ``obs``, then ``mask`` or ``noise``."""
    g = torch.Generator().manual_seed(seed)
    device = export_plan.agent.device
    obs = example_observations(export_plan.observation, n, g, device)
    space = export_plan.space
    if isinstance(space, BoxActionSpace):
        return obs, torch.randn(n, *space.shape, generator=g).to(device)
    if export_plan.mask:
        k = space.n
        mask = torch.rand(n, k, generator=g) < 0.7
        mask[torch.arange(n), torch.randint(k, (n,), generator=g)] = True  # never all unavailable
        return obs, mask.to(device)
    return (obs,)


# torch's loggers that narrate an export (a warning per missing optional library, the traced
# graph of a failed guard): their parent, and those that set their own level
_LOGGERS = ("torch", "torch.onnx._internal.exporter._registration",
            "torch.fx.experimental.symbolic_shapes")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's exporter narrates its steps on stdout, prints the graph of a failed trace on
    stderr, logs warnings (missing torchvision) and trips over its own deprecations (pytree's
    ``LeafSpec``): none of that is the user's business; what fails is raised (with torch's
    exception chained)."""
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()),
              contextlib.redirect_stderr(io.StringIO())):  # (a failed trace prints its graph)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*torch.jit.trace.*",
                                    category=DeprecationWarning)
            # the shape checks torch.export puts in front of a graph become constants of the
            # trace: the shapes they check are the graph's inputs' own
            warnings.filterwarnings("ignore", message=".*might cause the trace to be incorrect")
            # obs and mask / noise share the batch dimension, named once
            warnings.filterwarnings("ignore", message=".*shares the same shape constraints")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def _root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause of a failed export, without terminal colours."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {_COLOURS.sub('', first)}"


def _dynamic(names: list[str]) -> dict[str, dict[int, Any]]:
    batch = torch.export.Dim("batch")
    return {name: {0: batch} for name in names}


def _capture(graph: Graph, example: tuple[Tensor, ...]) -> torch.onnx.ONNXProgram:
    """The graph traced by torch.export (batch dynamic) and translated to ONNX."""
    names = [spec.name for spec in graph.inputs]
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(
                graph.module, example[: len(names)], dynamo=True, opset_version=OPSET,
                input_names=names, output_names=[spec.name for spec in graph.outputs],
                dynamic_shapes=_dynamic(names), verbose=False)
    except Exception as exc:  # what torch.export cannot trace: data-dependent Python …
        raise ConfigError(f"export: the {graph.name} graph could not be traced from this "
                          "agent's components (Python that depends on the observations' "
                          f"values?): {_root_cause(exc)}") from exc
    assert program is not None  # dynamo=True always returns the program
    return program


def _save_onnx(program: torch.onnx.ONNXProgram, path: Path) -> None:
    program.save(str(path), external_data=False)  # one file: policies are small


def _save_torchscript(program: torch.onnx.ONNXProgram, args: tuple[Tensor, ...],
                      path: Path) -> None:
    # torch.jit.trace cannot capture the learner's parameters (they are not submodules of the
    # wrapper); the module of the program torch.export made holds them as its own. (Where the
    # exporter narrowed the batch range to a branch of a batch-size fast path — the MLP's tanh
    # below 4096 elements — the branch taken computes the same function for every batch size.)
    assert program.exported_program is not None  # dynamo=True keeps it
    with _quiet(), torch.no_grad():
        script = torch.jit.trace(program.exported_program.module(), args)  # type: ignore[no-untyped-call]
    script.save(str(path))


@contextlib.contextmanager
def _staged() -> Iterator[Callable[[Path], Path]]:
    """``stage(path)`` gives a temporary file beside ``path``; when the block ends without an
    error each is renamed to its path, else all are removed: a reader never sees half an
    export, nor one that failed its check."""
    staged: list[tuple[Path, Path]] = []

    def stage(path: Path) -> Path:
        tmp = path.with_name(f".{path.name}.tmp")
        staged.append((tmp, path))
        return tmp

    try:
        yield stage
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _verify(graph: Graph, export_plan: ExportPlan, ort: Any, path: Path) -> None:
    """Run the written graph on random observations and compare it with its torch module."""
    args = _example_args(export_plan, VERIFY_ROWS, seed=1)[: len(graph.inputs)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {spec.name: a.numpy(force=True) for spec, a in zip(graph.inputs, args, strict=True)}
    got = session.run([spec.name for spec in graph.outputs], feed)
    with torch.no_grad():
        expected = graph.module(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for spec, onnx_out, torch_out in zip(graph.outputs, got, expected, strict=True):
        want = torch_out.numpy(force=True)
        if want.dtype.kind in "iu":  # greedy actions: equal unless the scores tie
            ok = _same_choices(onnx_out, want, export_plan, args)
        else:
            ok = onnx_out.shape == want.shape and bool(
                np.allclose(onnx_out, want, rtol=1e-4, atol=1e-5, equal_nan=True))
        if not ok:
            raise ConfigError(f"export: the {graph.name} graph's output {spec.name!r} does not "
                              "reproduce the agent on random observations; this agent's "
                              "components do not translate to ONNX faithfully")


def _same_choices(got: np.ndarray, want: np.ndarray, export_plan: ExportPlan,
                  args: tuple[Tensor, ...]) -> bool:
    if got.shape != want.shape:
        return False
    differ = got != want
    if not differ.any():
        return True
    with torch.no_grad():  # where they differ, the two actions must score the same
        scores = DiscreteExploring(export_plan).eval()(*args)[1].numpy(force=True)
    rows = np.nonzero(differ)[0]
    a, b = scores[rows, got[rows]], scores[rows, want[rows]]
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))


__all__ = ["OPSET", "export_onnx"]
