"""The shape of the tree, as docs/design/architecture.md describes it, checked on every run.

- no import cycles between nacre's modules (every import, module- or function-level, except
  those under ``if TYPE_CHECKING``);
- no module imports another module's private names;
- learners never import the acceleration layer, and no config or learner carries a ``fused``
  flag;
- every file under ``src`` is at most 400 lines, and each learner's update reads in <= 60;
- capabilities are declared (nacre.types), not probed: ``hasattr`` nowhere, ``getattr`` only
  where a file reflects over dataclass fields or third-party objects it does not own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "nacre"

# where getattr reflects over dataclass fields or objects nacre does not own (Gymnasium envs,
# PyYAML events, torch and NumPy modules)
GETATTR_ALLOWED = {
    "config/typed.py", "config/run.py", "config/context.py", "config/yaml_io.py",
    "envs/state.py", "envs/datasets.py", "accel/process.py", "data/batch.py", "data/rollout.py",
    "data/validate.py",
    "learners/policy/ppo.py", "learners/bandits/linear.py",
}
# learner methods that are "the update" (architecture principle 5)
UPDATE_METHODS = {"learn_batch", "learn_rollout", "learn_minibatch", "td_targets"}


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def imports(path: Path, name: str, known: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """``(imported nacre module, names imported from it)`` for every runtime import."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nacre"):
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("nacre"):
                continue
            names = [a.name for a in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            yield from ((sub, []) for sub in submodules)
            rest = [n for n in names if f"{base}.{n}" not in known]
            if rest or not submodules:
                yield base, rest


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports(path, name, known):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def test_no_import_cycles() -> None:
    edges = graph()
    # Tarjan's strongly connected components: any component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    # a package's __init__ importing its own submodules is not a cycle unless a submodule
    # imports the package back
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_imports_private_names_of_another() -> None:
    known = modules()
    offenders = [f"{name} imports {target}.{n}"
                 for name, path in known.items()
                 for target, names in imports(path, name, known)
                 for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offenders, offenders


def test_learners_never_import_the_acceleration_layer() -> None:
    edges = graph()
    offenders = [f"{m} -> {t}" for m, targets in edges.items() if m.startswith("nacre.learners")
                 for t in targets if t.startswith("nacre.accel")]
    assert not offenders, offenders


@pytest.mark.parametrize("folder", ["learners", "config"])
def test_no_fused_flags_in_learners_or_configs(folder: str) -> None:
    hits = [f"{p.relative_to(SRC)}:{i}" for p in (SRC / folder).rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if "fused" in line.lower()]
    assert not hits, hits


def test_no_file_over_400_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_each_learner_update_reads_in_60_lines() -> None:
    long = {}
    for path in (SRC / "learners").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in UPDATE_METHODS:
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = length
    assert not long, long


def test_capabilities_are_declared_not_probed() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "hasattr" and rel != "optim.py":  # torch's own kernels
                    offenders.append(f"{rel}:{node.lineno} hasattr")
                if node.func.id == "getattr" and rel not in GETATTR_ALLOWED:
                    offenders.append(f"{rel}:{node.lineno} getattr")
    assert not offenders, offenders
