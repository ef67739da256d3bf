"""Every code block of the README and of docs/ runs, as a reader would run the page.

- ```` ```python ```` blocks run top to bottom in one namespace per page;
- a block whose fence names a file (```` ```python file=corridor.py ````, ```` ```yaml
  file=corridor.yaml ````) is that file: it is written into the page's working folder, which
  is also on the import path, as for a script run from there;
- other ```` ```yaml ```` blocks are run configs: they load and build;
- ```` ```bash ```` blocks run in a shell whose ``nacre`` is this checkout's CLI. The setup
  commands (``python3 -m venv``, activating it, ``pip install``) are left out — CI runs exactly
  them on a clean machine (``.ci/run``, checked below) — and ``pytest`` is this suite itself.
  ``nacre train`` gets ``--steps 600`` so that a page's 50k-step example costs seconds.

Blocks in ```` ```text ```` or bare fences are output or synopses, not code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nacre
from nacre.config import yaml_io

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", flags=re.S | re.M)
SETUP = re.compile(r"^(python3 -m venv \S+|\. \S+/bin/activate|pip install .*)$")


def blocks(page: Path) -> list[tuple[str, str, str]]:
    """``(language, file name or "", body)`` of each fenced block, in order."""
    found = []
    for lang, info, body in FENCE.findall(page.read_text()):
        name = re.search(r"file=(\S+)", info)
        found.append((lang, name.group(1) if name else "", body))
    return found


def _shell(body: str, cwd: Path) -> None:
    shim = cwd / ".bin"
    shim.mkdir(exist_ok=True)
    (shim / "nacre").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nacre.cli "$@"\n')
    (shim / "nacre").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    for line in body.splitlines():
        line = line.split("  #")[0].strip()
        commands = [c.strip() for c in line.split("&&") if c.strip()]
        commands = [c for c in commands if not SETUP.match(c) and c != "pytest"]
        for command in commands:
            if re.search(r"\bnacre train\b", command) and "--resume" not in command:
                command += " --steps 600"
            done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, f"{command!r} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_code_block_runs(page: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    found = blocks(page)
    for _, name, body in found:
        if name:
            (tmp_path / name).write_text(body)
    namespace: dict[str, object] = {}
    for index, (lang, name, body) in enumerate(found):
        where = f"{page.relative_to(ROOT)} block {index}"
        if name or lang not in ("python", "yaml", "bash"):
            continue
        if lang == "python":
            exec(compile(body, where, "exec"), namespace)
        elif lang == "yaml":
            run = nacre.build(nacre.RunConfig.from_dict(yaml_io.loads(body), source=where))
            run.env.close()
        else:
            _shell(body, tmp_path)


def test_readme_gives_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    train = "pip install -c constraints.txt -e . && nacre train cartpole-dqn"
    test = 'pip install -c constraints.txt -e ".[dev]" && pytest'
    assert train in readme and test in readme
    assert 'pip install -q -c constraints.txt -e ".[dev]"' in ci
    assert ci.strip().splitlines()[-1] == "pytest"
