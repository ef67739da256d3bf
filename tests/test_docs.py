"""The Python examples of the guides in docs/ run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


GUIDES = ("bandits.md", "reliability.md", "training.md")


@pytest.mark.parametrize(("guide", "index"), [(g, i) for g in GUIDES
                                              for i in range(len(_blocks(g)))])
def test_guide_examples_run(guide: str, index: int, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks(guide)[index], f"docs/{guide} block {index}", "exec"), {})
