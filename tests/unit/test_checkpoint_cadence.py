"""When the loop saves a checkpoint by default: once a minute or once 5 % of the run passed,
whichever comes first, never so often that saving costs more than ~2 % of the run."""

from types import SimpleNamespace
from typing import Any

import pytest

from nacre.config.run import TrainConfig
from nacre.train import events


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def checkpointing(monkeypatch: pytest.MonkeyPatch, save_cost_s: float,
                  **config: Any) -> tuple[events.Checkpointing, Clock, list[int]]:
    clock = Clock()
    monkeypatch.setattr(events.time, "perf_counter", clock)
    saved: list[int] = []
    ckpt = events.Checkpointing(TrainConfig(**config), "", [])

    def save(training: Any, with_env: bool = True) -> None:
        clock.now += save_cost_s
        saved.append(training.env_steps)
        ckpt.saved_at = ckpt.last_step = training.env_steps
        ckpt.last_save, ckpt.save_cost_s = clock.now, save_cost_s

    monkeypatch.setattr(ckpt, "save", save)
    return ckpt, clock, saved


def run(ckpt: events.Checkpointing, clock: Clock, steps: int, step_s: float,
        log_every: int) -> None:
    training = SimpleNamespace(env_steps=0, run_dir=None)
    ckpt.on_training_start(training)  # type: ignore[arg-type]
    for step in range(log_every, steps + 1, log_every):
        clock.now += step_s * log_every
        training.env_steps = step
        ckpt.on_due(training)  # type: ignore[arg-type]


def test_by_default_every_5_percent_of_a_short_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, clock, saved = checkpointing(monkeypatch, 0.0, steps=10_000, log_every=100)
    run(ckpt, clock, 10_000, step_s=1e-3, log_every=100)  # 10 s in all
    assert saved == list(range(500, 10_001, 500))


def test_by_default_every_minute_of_a_long_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, clock, saved = checkpointing(monkeypatch, 0.0, steps=10_000_000, log_every=10_000)
    run(ckpt, clock, 10_000_000, step_s=1e-3, log_every=10_000)  # 10,000 s in all
    assert saved == list(range(60_000, 10_000_001, 60_000))


def test_saving_never_costs_more_than_about_2_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    # saves of 0.5 s in a 100 s run whose 5 % are 5 s: stretched to one per 25 s (not 20 saves,
    # 10 % of the run)
    ckpt, clock, saved = checkpointing(monkeypatch, 0.5, steps=100_000, log_every=100)
    run(ckpt, clock, 100_000, step_s=1e-3, log_every=100)
    assert len(saved) >= 3 and len(saved) * 0.5 <= 0.021 * clock.now
    assert all(b - a >= 25_000 for a, b in zip(saved, saved[1:], strict=False))


def test_a_step_interval_replaces_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, clock, saved = checkpointing(monkeypatch, 0.0, steps=10_000, log_every=100,
                                       checkpoint_every=3_000)
    for step in (3_000, 6_000, 9_000):
        ckpt.on_due(SimpleNamespace(env_steps=step))  # type: ignore[arg-type]
    assert saved == [3_000, 6_000, 9_000]
