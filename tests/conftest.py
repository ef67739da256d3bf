"""Shared test settings: one torch thread (the CI machine has two cores)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
