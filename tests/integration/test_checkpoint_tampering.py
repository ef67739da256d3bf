"""Checkpoints that were tampered with, belong to another run, or were left behind by a kill:
each gets a typed error (the CLI: one line, exit 2) before anything in the run folder changes,
or is survived."""

import json
import resource
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_runs import SMALL, cli, small_run

import nacre
from nacre.errors import CheckpointError
from nacre.train.checkpoint import MODEL_FILE, STATE_FILE, latest_checkpoint, load_tensors


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 400-step cartpole-dqn run (copied by each test that changes it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    small_run(run, steps=400)
    return run


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run folder except the checkpoints' (what a failed resume must not
    change)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file()}


def edit_state(run: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    path = latest_checkpoint(run) / STATE_FILE
    state = json.loads(path.read_text())
    replaced = change(state)
    path.write_text(json.dumps(state if replaced is None else replaced))


STATE_VARIANTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "no agent": lambda s: s.pop("agent"),
    "no extra": lambda s: s.pop("extra"),
    "no loop": lambda s: s["extra"].pop("loop"),
    "loop is a string": lambda s: s["extra"].update(loop="loop"),
    "agent is a list": lambda s: s.update(agent=[1, 2]),
    "seed is a string": lambda s: s["extra"].update(seed="0"),
    "episodes is a float": lambda s: s["extra"]["loop"].update(episodes=1.5),
    "unknown top-level field": lambda s: s.update(surprise=1),
    "unknown loop field": lambda s: s["extra"]["loop"].update(surprise=1),
    "unknown version": lambda s: s.update(version=99),
    "not a mapping": lambda s: ["state"],
    "env_steps is a string": lambda s: s["agent"].update(env_steps="400"),
    "tensor reference is a number": lambda s: s["agent"]["learner"].update(
        q={"__tensor__": 3}),
}


@pytest.mark.parametrize("variant", sorted(STATE_VARIANTS))
def test_a_tampered_state_json_is_one_line_on_the_cli_and_changes_nothing(
        tmp_path: Path, finished: Path, variant: str) -> None:
    run = copy_run(finished, tmp_path / "run")
    edit_state(run, STATE_VARIANTS[variant])
    before = snapshot(run)
    for args in (("train", "--resume", str(run), "--steps", "800", "--no-progress"),
                 ("eval", str(run), "--episodes", "1")):
        out = cli(*args)
        assert out.returncode == 2, (variant, args, out.stderr)
        assert out.stderr.startswith("nacre: error:") and out.stderr.count("\n") == 1, out.stderr
        assert "Traceback" not in out.stderr
    assert snapshot(run) == before


def test_state_json_that_is_not_json_or_too_large(tmp_path: Path, finished: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    state = latest_checkpoint(run) / STATE_FILE
    state.write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid nacre checkpoint state"):
        nacre.load_run(run)
    with open(state, "wb") as fh:  # sparse: 100 MB on paper, nothing on disk
        fh.truncate(100 * 1024 * 1024)
    with pytest.raises(CheckpointError, match="at most"):
        nacre.load_run(run)


@pytest.mark.parametrize("other", ["acrobot-dqn", "cartpole-ppo"])
def test_a_checkpoint_of_another_preset_names_the_tensor(
        tmp_path: Path, finished: Path, other: str) -> None:
    run = copy_run(finished, tmp_path / "run")
    foreign = tmp_path / "foreign"
    if other == "cartpole-ppo":
        small_run(foreign, steps=200, preset=other)
    else:
        nacre.train(other, steps=200, out=foreign, overrides=SMALL, progress=False)
    import shutil

    mine = latest_checkpoint(run)
    shutil.rmtree(mine)
    shutil.copytree(latest_checkpoint(foreign), mine)
    before = snapshot(run)
    with pytest.raises(CheckpointError, match="does not fit|another configuration") as info:
        nacre.resume(run, steps=800, progress=False)
    assert str(run) in str(info.value) or "learner/" in str(info.value)
    assert snapshot(run) == before


def test_a_header_describing_gigabytes_is_refused_before_reading(
        tmp_path: Path, finished: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    model = latest_checkpoint(run) / MODEL_FILE
    size = 2 * 1024**3
    header = json.dumps({"huge": {"dtype": "F32", "shape": [size // 4],
                                  "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(model, "wb") as fh:  # a sparse file: 2 GiB long, a few KB on disk
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + size)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the tensors of the header are not those state.json refers to
    with pytest.raises(CheckpointError, match="missing tensor"):
        nacre.load_run(run)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 100, grown_mib


def test_tensors_larger_than_the_available_memory_are_refused_before_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    checkpoint = sys.modules[load_tensors.__module__]  # nacre.train is also a function's name
    model = tmp_path / MODEL_FILE
    size = 2 * 1024**3
    header = json.dumps({"buffer/obs": {"dtype": "F32", "shape": [size // 4],
                                        "data_offsets": [0, size]}}).encode()
    with open(model, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + size)
    monkeypatch.setattr(checkpoint, "available_memory", lambda: 2**30)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"2\.00 GiB of tensors, more than the 1\.00 GiB"):
        load_tensors(model, referenced={"buffer/obs"})
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 100, grown_mib


def test_a_tensor_of_the_wrong_shape_is_refused_before_reading(tmp_path: Path) -> None:
    from nacre.train.checkpoint import save_tensors

    path = tmp_path / MODEL_FILE
    import torch

    save_tensors({"w": torch.zeros(3, 2)}, path)
    with pytest.raises(CheckpointError, match=r"'w' is \[3, 2\] torch.float32, but this run's "
                                              r"agent has \[2, 2\]"):
        load_tensors(path, expected={"w": ((2, 2), torch.float32)})
    with pytest.raises(CheckpointError, match="does not refer to"):
        load_tensors(path, referenced=set())
    with pytest.raises(CheckpointError, match="missing tensor 'v'"):
        load_tensors(path, referenced={"w", "v"})


ENV_STATE_VARIANTS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    # any attribute name from the file: never set
    "unknown attribute": lambda layers: layers[-1]["attrs"].update(surprise=1),
    "dunder attribute": lambda layers: layers[-1]["attrs"].update(__class__=1),
    # a bit generator looked up by a name from the file
    "bit generator by name": lambda layers: layers[-1]["attrs"]["_np_random"][
        "__generator__"].update(bit_generator="RandomState"),
    # an allocation sized by the file
    "huge dtype": lambda layers: layers[-1]["attrs"].update(
        state={"__ndarray__": [1], "dtype": "S2000000000", "shape": [1]}),
    "shape the data does not fill": lambda layers: layers[-1]["attrs"].update(
        state={"__ndarray__": [1.0], "dtype": "float64", "shape": [100000, 100000]}),
    "array of another shape": lambda layers: layers[-1]["attrs"].update(
        state={"__ndarray__": [1.0, 2.0], "dtype": "float64", "shape": [2]}),
    "generator replaced by a number": lambda layers: layers[-1]["attrs"].update(_np_random=3),
}


@pytest.mark.parametrize("variant", sorted(ENV_STATE_VARIANTS))
def test_a_tampered_environment_state_is_refused(tmp_path: Path, finished: Path,
                                                 variant: str) -> None:
    run = copy_run(finished, tmp_path / "run")
    edit_state(run, lambda s: ENV_STATE_VARIANTS[variant](s["extra"]["env_state"]["env"]))
    before = snapshot(run)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="env_state"):
        nacre.resume(run, steps=800, progress=False)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024 < 100
    assert snapshot(run) == before


def test_the_newest_complete_checkpoint_is_used_and_stale_temporaries_removed(
        tmp_path: Path, finished: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    good = latest_checkpoint(run)
    incomplete = run / "checkpoints" / "step_000000099999"
    incomplete.mkdir()
    (incomplete / MODEL_FILE).write_bytes(b"")
    stale = run / "checkpoints" / ".step_000000099999.tmp-999999999"  # no such process
    stale.mkdir()
    assert latest_checkpoint(run) == good
    nacre.resume(run, steps=600, progress=False)
    assert not stale.exists()
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 600


def test_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path: Path,
                                                              finished: Path) -> None:
    import shutil

    run = copy_run(finished, tmp_path / "run")
    shutil.rmtree(run / "checkpoints")  # as after a kill -9 before the first checkpoint
    out = cli("train", "cartpole-dqn", "--out", str(run), "--no-progress")
    assert out.returncode == 2 and "--resume" in out.stderr
    with pytest.warns(UserWarning, match="starts again from step 0"):
        summary = nacre.resume(run, steps=400, progress=False).summary
    assert summary["env_steps"] == 400
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["env_steps"] for r in rows if "eval/return_mean" not in r] == [200, 400]
