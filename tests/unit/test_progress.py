"""Progress bar and loggers."""

import io
import json
import math

from nacre.train.loggers import JSONLLogger, read_metrics
from nacre.train.progress import ProgressBar


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
