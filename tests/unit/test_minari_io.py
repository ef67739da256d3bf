"""nacre.data.minari_io: nacre → Minari → nacre round trips, reading datasets that Minari's
own API wrote, and the errors. Everything stays in a temporary MINARI_DATASETS_PATH; nothing
touches the network."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from nacre.data import Dataset, DatasetInfo
from nacre.data.minari_io import load_minari, save_minari
from nacre.errors import CheckpointError, InputError, MissingExtraError, SpaceError

minari = pytest.importorskip("minari")
EpisodeBuffer = pytest.importorskip("minari.data_collector").EpisodeBuffer
Box, Discrete = gym.spaces.Box, gym.spaces.Discrete


@pytest.fixture(autouse=True)
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(folder))
    return folder


def _episodes(lengths: list[int], ends: list[str], obs_dim: int,
              seed: int) -> dict[str, np.ndarray]:
    """Chained transitions (each next_obs is the next row's obs inside an episode); ``ends``
    says how each episode ends: "term", "trunc" or "cut" (neither flag: the log's end)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "obs", "next_obs", "terminated", "truncated")}
    for n, end in zip(lengths, ends, strict=True):
        states = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
        cols["obs"].append(states[:-1])
        cols["next_obs"].append(states[1:])
        flags = np.zeros((2, n), np.bool_)
        flags[0, -1], flags[1, -1] = end == "term", end == "trunc"
        cols["terminated"].append(flags[0])
        cols["truncated"].append(flags[1])
    out = {k: np.concatenate(v) for k, v in cols.items()}
    total = sum(lengths)
    out["reward"] = rng.normal(size=total).astype(np.float32)
    out["propensity"] = rng.uniform(0.1, 1.0, size=total).astype(np.float32)
    return out


def _discrete() -> Dataset:
    cols = _episodes([5, 3, 4], ["term", "trunc", "cut"], 4, seed=0)
    cols["action"] = np.random.default_rng(1).integers(0, 2, len(cols["reward"]))
    info = DatasetInfo(env_id="CartPole-v1", policy="random", ref_min_score=9.3,
                       ref_max_score=500.0, n_actions=2, description="a CartPole-like log")
    return Dataset.from_arrays(**cols, info=info)


def _continuous() -> Dataset:
    cols = _episodes([4, 6], ["trunc", "term"], 3, seed=2)
    n = len(cols["reward"])
    cols["action"] = np.random.default_rng(3).uniform(-1, 1, (n, 2)).astype(np.float32)
    cols["propensity"] *= 3.0  # densities may exceed 1
    cost = np.random.default_rng(4).uniform(0, 1, n).astype(np.float32)
    return Dataset.from_arrays(**cols, cost=cost, info=DatasetInfo(policy="medium"))


def _assert_same(got: Dataset, want: Dataset) -> None:
    a, b = got.arrays(), want.arrays()
    b["truncated"] = b["truncated"].copy()
    b["truncated"][-1] |= ~b["terminated"][-1]  # the cut episode comes back truncated
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        assert a[name].dtype == b[name].dtype, name
    np.testing.assert_array_equal(got.episode_starts(), want.episode_starts())


@pytest.mark.parametrize("make", [_discrete, _continuous])
def test_round_trip_keeps_every_column_and_the_info(make, root: Path) -> None:
    data = make()
    folder = save_minari(data, "nacre/test/log-v0")
    assert folder == root / "nacre" / "test" / "log-v0"
    for source in ("nacre/test/log-v0", folder, folder / "data"):
        back = load_minari(source, seed=0)
        _assert_same(back, data)
        assert back.info == data.info
        assert back.num_episodes == data.num_episodes


def test_minari_itself_reads_what_nacre_wrote() -> None:
    data = _discrete()
    save_minari(data, "nacre/cartpole-v1")
    loaded = minari.load_dataset("nacre/cartpole-v1")
    assert loaded.total_episodes == 3 and loaded.total_steps == len(data)
    assert loaded.env_spec.id == "CartPole-v1"
    assert minari.get_normalized_score(loaded, np.array([500.0])) == pytest.approx(1.0)
    first = next(loaded.iterate_episodes())
    assert first.observations.shape == (6, 4) and first.actions.shape == (5,)
    np.testing.assert_array_equal(first.infos["propensity"][:5], data.arrays()["propensity"][:5])


def test_discrete_space_starting_at_k_is_shifted_both_ways() -> None:
    data = _discrete()
    save_minari(data, "shifted-v0", action_space=Discrete(2, start=1))
    stored = np.concatenate([ep.actions for ep in minari.load_dataset("shifted-v0")])
    np.testing.assert_array_equal(stored, data.arrays()["action"] + 1)
    _assert_same(load_minari("shifted-v0"), data)


def test_reads_a_dataset_written_by_minaris_own_api() -> None:
    rng = np.random.default_rng(0)
    buffers = []
    for n, end in ((4, "term"), (3, "cut")):
        flags = np.zeros((2, n), np.bool_)
        flags[0, -1] = end == "term"
        buffers.append(EpisodeBuffer(
            observations=rng.normal(size=(n + 1, 4)).astype(np.float32),
            actions=rng.integers(0, 2, n), rewards=np.ones(n), terminations=flags[0],
            truncations=flags[1], infos={"step": np.arange(n + 1)}))
    minari.create_dataset_from_buffers(
        "cartpole/expert-v1", buffers, env="CartPole-v1", eval_env="CartPole-v1",
        algorithm_name="hand", author="nacre tests", author_email="tests@nacre.invalid",
        code_permalink="https://example.invalid/nacre", description="two episodes",
        ref_min_score=9.0, ref_max_score=500.0)

    data = load_minari("cartpole/expert-v1")

    cols = data.arrays()
    obs0 = buffers[0].observations
    np.testing.assert_array_equal(cols["obs"][:4], obs0[:-1])
    np.testing.assert_array_equal(cols["next_obs"][:4], obs0[1:])
    np.testing.assert_array_equal(cols["action"], np.concatenate([b.actions for b in buffers]))
    np.testing.assert_array_equal(cols["propensity"], np.ones(7, np.float32))
    assert cols["terminated"].tolist() == [False] * 3 + [True] + [False] * 3
    assert cols["truncated"].tolist() == [False] * 6 + [True]  # cut: read as truncated
    assert data.episode_starts().tolist() == [0, 4]
    assert data.info == DatasetInfo(env_id="CartPole-v1", policy="hand", ref_min_score=9.0,
                                    ref_max_score=500.0, n_actions=2, description="two episodes")


def test_missing_dataset_is_a_checkpoint_error(root: Path) -> None:
    with pytest.raises(CheckpointError, match="no Minari dataset 'nope/missing-v0'"):
        load_minari("nope/missing-v0")
    with pytest.raises(CheckpointError, match="no Minari dataset at"):
        load_minari(root / "elsewhere")


def test_dict_observations_are_refused_with_a_hint() -> None:
    space = gym.spaces.Dict({"pos": Box(-1, 1, (2,)), "vel": Box(-1, 1, (2,))})
    obs = {k: np.zeros((3, 2), np.float32) for k in ("pos", "vel")}
    with pytest.warns(UserWarning, match="env_spec is None"):  # no env: Minari warns
        _create_dicts(space, obs)
    with pytest.raises(SpaceError, match="observation_space.*Dict.*FlattenObservation"):
        load_minari("dicts-v0")


def _create_dicts(space: gym.spaces.Dict, obs: dict[str, np.ndarray]) -> None:
    minari.create_dataset_from_buffers(
        "dicts-v0", [EpisodeBuffer(observations=obs, actions=np.zeros(2, np.int64),
                                   rewards=np.zeros(2), terminations=np.array([False, True]),
                                   truncations=np.zeros(2, np.bool_))],
        observation_space=space, action_space=Discrete(2), algorithm_name="x", author="x",
        author_email="x", code_permalink="x", description="x", eval_env="CartPole-v1")


def test_save_errors(root: Path) -> None:
    data = _discrete()
    with pytest.raises(InputError, match="dataset_id"):
        save_minari(data, "no version")
    save_minari(data, "taken-v0")
    with pytest.raises(InputError, match="already exists"):
        save_minari(data, "taken-v0")
    with pytest.raises(InputError, match="env"):
        save_minari(data, "unknown-env-v0", env="NoSuchEnv-v9")
    with pytest.raises(InputError, match="action_space"):
        save_minari(data, "small-space-v0", action_space=Discrete(1))
    cols = data.arrays()
    cols["obs"][1] += 1.0  # row 1 no longer follows row 0, though no episode ended
    broken = Dataset.from_arrays(**cols)
    with pytest.raises(InputError, match="row 1"):
        save_minari(broken, "broken-v0")
    assert sorted(p.name for p in root.iterdir()) == ["taken-v0"]


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "minari", None)
    with pytest.raises(MissingExtraError, match=r'pip install "nacre\[offline\]"'):
        load_minari("anything-v0")
