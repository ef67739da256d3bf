"""Progress bar and loggers."""

import io
import json
import math

from nacre.train.loggers import JSONLLogger, read_metrics
from nacre.train.progress import ProgressBar, ProgressLines, show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_steps_rate_and_note() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, stream=out, enabled=True, min_interval=0.0)
    bar.note = "eval 42.0"
    bar.update(250)
    bar.close(1000)
    text = out.getvalue()
    assert "250/1000" in text and "1000/1000" in text and "steps/s" in text
    assert "eval 42.0" in text and text.endswith("\n")


def test_progress_bar_counts_from_the_start_step_of_a_resumed_run() -> None:
    out = io.StringIO()
    bar = ProgressBar(800, start=400, stream=out, enabled=True, min_interval=0.0)
    bar.update(600)
    bar.close(800)
    assert "400/800" in out.getvalue() and "600/800" in out.getvalue()


def test_progress_bar_is_silent_off_a_terminal() -> None:
    out = io.StringIO()  # not a tty
    bar = ProgressBar(10, stream=out)
    bar.note = "eval 1.0"
    bar.update(5)
    bar.close(10)
    assert not bar.enabled and out.getvalue() == ""


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_show_progress_picks_the_bar_on_a_terminal_lines_in_a_log_or_nothing() -> None:
    assert isinstance(show_progress(10, stream=_Terminal()), ProgressBar)
    assert isinstance(show_progress(10, stream=io.StringIO()), ProgressLines)
    forced = show_progress(10, stream=io.StringIO(), enabled=True)
    assert isinstance(forced, ProgressBar) and forced.enabled
    quiet, log = _Terminal(), io.StringIO()
    for out in (quiet, log):
        display = show_progress(10, stream=out, enabled=False)
        display.update(5)
        display.close(10)
    assert quiet.getvalue() == log.getvalue() == ""


def test_progress_lines_come_at_each_tenth_with_rate_eta_and_note() -> None:
    out, clock = io.StringIO(), _Clock()
    lines = ProgressLines(50_000, stream=out, clock=clock)
    for step in range(1000, 50_001, 1000):
        clock.now += 0.36  # 2,778 steps/s, tenths 1.8 s apart: only the tenths write
        if step == 20_000:
            lines.note = "eval 187.3"
        lines.update(step)
    lines.close(50_000)
    written = out.getvalue().splitlines()
    assert len(written) == 10  # 5000, 10000, … 50000: close adds nothing after the last
    assert written[0] == "nacre: step 5000/50000 (10%) · 2778 steps/s · ETA 0:00:16"
    assert written[3] == ("nacre: step 20000/50000 (40%) · 2778 steps/s · ETA 0:00:11 · "
                          "eval 187.3")
    assert written[-1] == ("nacre: step 50000/50000 (100%) · 2778 steps/s · done in 0:00:18 "
                           "· eval 187.3")


def test_progress_lines_come_early_and_once_a_minute_between_tenths() -> None:
    out, clock = io.StringIO(), _Clock()
    lines = ProgressLines(1_000_000, start=200_000, stream=out, clock=clock)
    for step in range(200_100, 280_000, 100):  # 10 steps/s from a resumed run's 200,000
        clock.now += 10.0
        lines.update(step)
    written = out.getvalue().splitlines()
    assert written[0] == "nacre: step 200100/1000000 (20%) · 10 steps/s · ETA 22:13:10"
    # then every minute: 60 s of 10 steps/s is 600 steps
    assert [line.split()[2] for line in written[1:3]] == ["200700/1000000", "201300/1000000"]
    assert all(" (2" in line for line in written)  # no tenth crossed before 300,000


def test_progress_lines_end_with_the_step_of_an_interrupted_run() -> None:
    out, clock = io.StringIO(), _Clock()
    lines = ProgressLines(1000, stream=out, clock=clock)
    clock.now += 1.0
    lines.update(150)
    lines.close(170)
    lines.close(170)
    assert out.getvalue().splitlines() == [
        "nacre: step 150/1000 (15%) · 150 steps/s · ETA 0:00:06",
        "nacre: step 170/1000 (17%) · 170 steps/s · ETA 0:00:05",
    ]


def test_progress_bar_is_on_for_a_terminal_unless_disabled() -> None:
    shown, hidden = _Terminal(), _Terminal()
    bar = ProgressBar(10, stream=shown, min_interval=0.0)
    bar.close(10)
    assert bar.enabled and "10/10" in shown.getvalue()
    ProgressBar(10, stream=hidden, enabled=False).close(10)
    assert hidden.getvalue() == ""


def test_closing_twice_writes_once() -> None:
    out = io.StringIO()
    bar = ProgressBar(10, stream=out, enabled=True, min_interval=0.0)
    bar.close(10)
    text = out.getvalue()
    bar.close(10)
    assert out.getvalue() == text


def test_jsonl_logger_writes_one_row_per_line_and_nan_as_null(tmp_path) -> None:
    logger = JSONLLogger(tmp_path / "m.jsonl")
    logger.log({"env_steps": 1, "loss": 0.5})
    logger.log({"env_steps": 2, "loss": math.nan})
    logger.close()
    rows = read_metrics(tmp_path / "m.jsonl")
    assert rows == [{"env_steps": 1, "loss": 0.5}, {"env_steps": 2, "loss": None}]
    assert all(json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines())
