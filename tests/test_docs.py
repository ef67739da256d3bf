"""The Python examples of the guides in docs/ run as written.

A block whose fence names a file (```` ```python file=corridor.py ````, ```` ```yaml
file=corridor.yaml ````) is that file: it is written into the working directory of each of its
guide's examples, which is also on the import path, as for a script run from that folder.
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def _files(name: str) -> dict[str, str]:
    found = re.findall(r"```\w+ file=(\S+)\n(.*?)```", (DOCS / name).read_text(), flags=re.S)
    return dict(found)


GUIDES = ("bandits.md", "environments.md", "reliability.md", "training.md")


@pytest.mark.parametrize(("guide", "index"), [(g, i) for g in GUIDES
                                              for i in range(len(_blocks(g)))])
def test_guide_examples_run(guide: str, index: int, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for file, text in _files(guide).items():
        (tmp_path / file).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    exec(compile(_blocks(guide)[index], f"docs/{guide} block {index}", "exec"), {})
