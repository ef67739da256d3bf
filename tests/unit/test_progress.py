"""Progress bar and loggers."""

import io
import json
import math

from nacre.train.loggers import JSONLLogger, read_metrics
from nacre.train.progress import ProgressBar


def test_progress_bar_shows_steps_rate_and_eta() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, stream=out, enabled=True, min_interval=0.0)
    bar.note = "eval 42.0"
    bar.update(250)
    bar.close(1000)
    text = out.getvalue()
    assert "250/1,000 steps" in text and "steps/s" in text and "ETA" in text
    assert "eval 42.0" in text and text.endswith("\n")


def test_progress_bar_is_silent_off_a_terminal() -> None:
    out = io.StringIO()  # not a tty
    bar = ProgressBar(10, stream=out)
    bar.update(5, force=True)
    bar.close(10)
    assert out.getvalue() == ""


def test_jsonl_logger_writes_one_row_per_line_and_nan_as_null(tmp_path) -> None:
    logger = JSONLLogger(tmp_path / "m.jsonl")
    logger.log({"env_steps": 1, "loss": 0.5})
    logger.log({"env_steps": 2, "loss": math.nan})
    logger.close()
    rows = read_metrics(tmp_path / "m.jsonl")
    assert rows == [{"env_steps": 1, "loss": 0.5}, {"env_steps": 2, "loss": None}]
    assert all(json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines())
