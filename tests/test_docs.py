"""The Python examples of the guides in docs/ run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("bandits.md"))))
def test_bandit_guide_examples_run(index: int, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks("bandits.md")[index], f"docs/bandits.md block {index}", "exec"), {})
