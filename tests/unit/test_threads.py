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


def test_auto_keeps_the_faster_count_and_probes_the_other_now_and_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nacre import threads

    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    auto = threads._AutoLearnThreads()
    monkeypatch.setattr(auto.load, "others_busy", lambda: 0.0)  # an idle machine
    round_cost = {1: 0.08, 2: 0.10}  # here a second thread is slower (a busy host)
    chosen = []
    for _ in range(60):
        n = auto.choose()
        auto.record(n, round_cost[n])
        chosen.append(n)
    assert chosen[:3] == [2, 2, 1]  # warm-up, then one measured round of each
    assert chosen.count(2) <= 8  # mostly one thread, two only as rare probes
    assert chosen[-10:].count(1) >= 9
    round_cost = {1: 0.08, 2: 0.05}  # the host calmed down: a probe finds it out
    for _ in range(80):
        n = auto.choose()
        auto.record(n, round_cost[n])
        chosen.append(n)
    assert chosen[-10:].count(2) >= 9
    monkeypatch.setattr(auto.load, "others_busy", lambda: 1.0)  # another process takes a core
    auto.checked = -1e9
    assert auto.choose() == 1
