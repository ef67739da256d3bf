"""Shared test settings: one torch thread (the CI machine has two cores); a user's env
module."""

import shutil
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def user_envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder outside nacre holding a user's env module, ``tiny_corridor`` (it registers
    ``TinyCorridor-v0``), put on this process's import path; subprocesses need it on
    PYTHONPATH."""
    folder = tmp_path / "user_envs"
    folder.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "tiny_corridor.py", folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder
