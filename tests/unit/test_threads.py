"""Thread counts: one place decides, and a busy machine gets fewer learning threads."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from nacre.threads import (
    MachineLoad,
    available_cpus,
    configure_threads,
    learning_threads,
    thread_counts,
)


@pytest.fixture(autouse=True)
def _restore() -> object:
    before = torch.get_num_threads()
    yield
    configure_threads(1, 1)
    torch.set_num_threads(before)


def test_fixed_counts_are_used_as_given() -> None:
    configure_threads(1, 2)
    assert thread_counts() == {"act": 1, "learn": 2}
    with learning_threads():
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        configure_threads(0, 1)


def test_machine_load_reports_other_processes() -> None:
    load = MachineLoad()
    time.sleep(0.05)
    others = load.others_busy()
    assert others is None or others >= 0.0


@pytest.mark.skipif(available_cpus() < 2 or not sys.platform.startswith("linux"),
                    reason="needs two CPUs and /proc/stat")
def test_auto_learns_on_one_thread_when_another_process_holds_a_core() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        configure_threads(1, 0)
        time.sleep(0.6)  # the busy loop runs a whole core meanwhile
        with learning_threads():
            assert torch.get_num_threads() < min(available_cpus(), 8)
            assert thread_counts()["learn"] == torch.get_num_threads()
    finally:
        busy.kill()
        busy.wait()
