"""Several seeds in parallel processes, and the aggregate over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nacre
from nacre.cli import main
from nacre.errors import ConfigError, NacreError
from nacre.train.seeds import parse_seeds


def test_seed_lists_and_ranges_parse() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3,7") == [1, 3, 7]
    assert parse_seeds("0-1,5") == [0, 1, 5]
    for bad in ("", "a", "3-x", "1,1", "-2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_seeds_run_in_parallel_and_are_aggregated(tmp_path: Path) -> None:
    cfg = nacre.load_preset("cartpole-dqn").with_overrides(
        ["train.steps=1200", "train.eval_every=600", "train.eval_episodes=2",
         "train.learn_threads=1"])
    result = nacre.train_seeds(cfg, [0, 1, 2], tmp_path / "seeds", progress=False)
    agg = json.loads((tmp_path / "seeds" / "aggregate.json").read_text())
    assert agg == json.loads(json.dumps(result.aggregate))
    finals = [json.loads((tmp_path / "seeds" / f"seed_{s}" / "summary.json").read_text())
              ["final_eval_return_mean"] for s in (0, 1, 2)]
    stats = agg["final_eval_return"]
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(sum(finals) / 3)
    assert stats["iqm_ci95"][0] <= stats["iqm"] <= stats["iqm_ci95"][1]
    assert agg["seeds"] == [0, 1, 2] and not agg["failed"]
    assert len({tuple(json.loads((tmp_path / "seeds" / f"seed_{s}" / "summary.json").read_text())
                      ["final_eval_returns"]) for s in (0, 1, 2)}) > 1  # the seeds differ
    png = tmp_path / "seeds" / "plots" / "aggregate.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="already holds"):
        nacre.train_seeds(cfg, [0], tmp_path / "seeds", progress=False)


def test_a_config_every_seed_fails_on_is_reported(tmp_path: Path) -> None:
    cfg = nacre.load_preset("cartpole-dqn").with_overrides(["train.steps=100"])
    bad = tmp_path / "bad"
    (bad / "seed_0").mkdir(parents=True)
    (bad / "seed_0" / "metrics.jsonl").write_text("")  # the seed's folder already holds a run
    with pytest.raises(NacreError, match="every seed failed"):
        nacre.train_seeds(cfg, [0], bad, progress=False)


def test_the_command_line_runs_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["train", "cartpole-dqn", "--seeds", "3-4", "--steps", "300", "--out", str(out),
                 "--set", "train.eval_episodes=1", "train.learn_threads=1"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["seeds"] == [3, 4] and Path(printed["out"]) == out
    assert (out / "seed_3" / "summary.json").is_file() and (out / "aggregate.json").is_file()
    assert main(["train", "cartpole-dqn", "--seeds", "0-1", "--seed", "3"]) == 2
