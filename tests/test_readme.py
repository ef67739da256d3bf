"""The README's Python examples run (with smaller step counts)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_commands() -> None:
    text = README.read_text()
    assert "nacre train cartpole-dqn" in text
    assert 'pip install -c constraints.txt -e ".[dev]" && pytest' in text


@pytest.mark.parametrize("index", [0, 1])
def test_python_examples_run(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    code = blocks[index] + ("\n" + blocks[2] if index == 1 else "")
    code = re.sub(r"steps=\d[\d_]*", "steps=600", code)
    code = code.replace("LinearSchedule(1.0, 0.05, 10_000)", "LinearSchedule(1.0, 0.05, 300)")
    exec(compile(code, f"README block {index}", "exec"), {})


@pytest.mark.parametrize("index", [0, 1])
def test_yaml_examples_build(index: int) -> None:
    import nacre
    from nacre.config import yaml_io

    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2
    run = nacre.build(nacre.RunConfig.from_dict(yaml_io.loads(blocks[index])))
    run.env.close()
