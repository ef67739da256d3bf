"""Contextual-bandit envs and their data sets: loaders, cache, rewards, regret, resume, registry.

The UCI loaders are exercised against small samples of each file format in ``tests/data/uci``
served through a ``file://`` URL (the test machine has no internet access).
"""

from __future__ import annotations

import io
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import nacre
from nacre.envs.bandits import ClassificationBandit, SyntheticLinearBandit
from nacre.envs.base import ActionResult
from nacre.envs.datasets import DatasetError, DownloadError, load_dataset
from nacre.envs.make import BANDIT_ENV_IDS, make_bandit_env
from nacre.errors import ConfigError, InputError

UCI_DIR = Path(__file__).resolve().parents[1] / "data" / "uci"
UCI_URL = UCI_DIR.as_uri()
MISSING_URL = (UCI_DIR.parent / "no-such-mirror").as_uri()

# name -> (server files, features, classes in the samples)
UCI = {
    "letter": (["letter-recognition/letter-recognition.data"], 16, 10),
    "pendigits": (["pendigits/pendigits.tra", "pendigits/pendigits.tes"], 16, 10),
    "satimage": (["statlog/satimage/sat.trn", "statlog/satimage/sat.tst"], 36, 6),
    "yeast": (["yeast/yeast.data"], 8, 10),
}


def _rows(rel: str) -> int:
    return sum(1 for line in (UCI_DIR / rel).read_text().splitlines() if line.strip())


def _regret(result: ActionResult) -> np.ndarray:
    assert result.regret is not None  # bandit envs always report it
    return result.regret


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------
# data sets


@pytest.mark.parametrize("name", sorted(UCI))
def test_uci_download_then_cache(name: str, tmp_path: Path) -> None:
    files, d, classes = UCI[name]
    X, y = load_dataset(name, cache_dir=tmp_path, base_url=UCI_URL, progress=False)
    n = sum(_rows(f) for f in files)  # train and test files are concatenated
    assert X.shape == (n, d) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y).tolist()) == set(range(classes))
    # stored at <cache>/<name>/<file name>, with no temporary files left behind
    assert _files(tmp_path) == sorted(f"{name}/{Path(f).name}" for f in files)
    # the second load never touches the server
    X2, y2 = load_dataset(name, cache_dir=tmp_path, base_url=MISSING_URL, progress=False)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_uci_parsing_and_label_order(tmp_path: Path) -> None:
    X, y = load_dataset("letter", cache_dir=tmp_path, base_url=UCI_URL, progress=False)
    first = (UCI_DIR / "letter-recognition/letter-recognition.data").read_text().splitlines()[0]
    fields = first.split(",")
    np.testing.assert_array_equal(X[0], np.array(fields[1:], dtype=np.float32))
    assert y[0] == ord(fields[0]) - ord("A")  # the samples hold A..J: sorted letters
    X, y = load_dataset("satimage", cache_dir=tmp_path, base_url=UCI_URL, progress=False)
    raw = [int(line.split()[-1]) for f in UCI["satimage"][0]
           for line in (UCI_DIR / f).read_text().splitlines()]
    mapping = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 7: 5}
    assert y.tolist() == [mapping[c] for c in raw]
    X, y = load_dataset("yeast", cache_dir=tmp_path, base_url=UCI_URL, progress=False)
    line = (UCI_DIR / "yeast/yeast.data").read_text().splitlines()[0].split()
    np.testing.assert_allclose(X[0], np.array(line[1:9], dtype=np.float32))
    names = sorted({ln.split()[-1] for ln in (UCI_DIR / "yeast/yeast.data").read_text()
                    .splitlines()})
    assert y[0] == names.index(line[-1])


def test_uci_mirror_and_cache_from_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NACRE_UCI_URL", UCI_URL + "/")
    monkeypatch.setenv("NACRE_DATA_DIR", str(tmp_path / "cache"))
    X, _ = load_dataset("yeast", progress=False)
    assert X.shape == (40, 8)
    assert _files(tmp_path / "cache") == ["yeast/yeast.data"]


def test_failed_download_leaves_nothing_and_says_where_to_put_the_file(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        load_dataset("yeast", cache_dir=tmp_path, base_url=MISSING_URL, progress=False)
    message = str(info.value)
    assert MISSING_URL + "/yeast/yeast.data" in message
    assert str(tmp_path / "yeast" / "yeast.data") in message
    assert _files(tmp_path) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    class Cut(io.BytesIO):
        headers = {"Content-Length": "1000"}

        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= 100:
                raise TimeoutError("timed out")
            return super().read(100)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Cut(b"x" * 1000))
    with pytest.raises(DownloadError, match="timed out"):
        load_dataset("yeast", cache_dir=tmp_path, base_url="https://mirror.invalid",
                     progress=False)
    assert _files(tmp_path) == []

    class Short(io.BytesIO):  # the connection closes early without an error
        headers = {"Content-Length": "1000"}

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Short(b"x" * 10))
    with pytest.raises(DownloadError, match="got 10 of 1000 bytes"):
        load_dataset("yeast", cache_dir=tmp_path, base_url="https://mirror.invalid",
                     progress=False)
    assert _files(tmp_path) == []


def test_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    server = tmp_path / "server" / "yeast"
    server.mkdir(parents=True)
    good = (UCI_DIR / "yeast/yeast.data").read_text().splitlines()
    server.joinpath("yeast.data").write_text("\n".join([good[0], good[1], "BAD_YEAST 0.1 CYT"]))
    with pytest.raises(DatasetError, match=r"yeast\.data, line 3: expected 8 features"):
        load_dataset("yeast", cache_dir=tmp_path / "c", base_url=(tmp_path / "server").as_uri(),
                     progress=False)
    server.joinpath("yeast.data").write_text(good[0].replace("0.", "x.", 1))
    with pytest.raises(DatasetError, match="line 1: cannot parse"):
        load_dataset("yeast", cache_dir=tmp_path / "d", base_url=(tmp_path / "server").as_uri(),
                     progress=False)


@pytest.mark.parametrize(("name", "shape", "classes"), [
    ("digits", (1797, 64), 10), ("wine", (178, 13), 3), ("breast_cancer", (569, 30), 2)])
def test_sklearn_datasets(name: str, shape: tuple[int, int], classes: int) -> None:
    X, y = load_dataset(name)
    assert X.shape == shape and X.dtype == np.float32 and y.dtype == np.int64
    assert np.unique(y).tolist() == list(range(classes))


def test_missing_sklearn_and_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    with pytest.raises(ConfigError, match=r'pip install "nacre\[datasets\]"'):
        load_dataset("wine")
    with pytest.raises(ConfigError, match="letter"):
        load_dataset("lettre")


# ---------------------------------------------------------------------------------------------
# ClassificationBandit


def _index_bandit(n: int = 10, k: int = 3, **kwargs: Any) -> ClassificationBandit:
    """Row i has the single feature i, so observations name the rows they came from."""
    X = np.arange(n, dtype=np.float32)[:, None]
    y = np.arange(n) % k
    return ClassificationBandit(X, y, standardize=False, **kwargs)


def test_classification_rewards_and_regret() -> None:
    env = ClassificationBandit(*load_dataset("wine"), num_envs=5)
    obs = env.reset(seed=0)
    assert obs.shape == (5, 13) and obs.dtype == np.float32 and env.one_step
    assert env.action_space.n == 3 and env.available is None
    assert env.observation_space.shape == (13,)
    for _ in range(20):
        best = env.optimal_action()
        r = env.step(torch.as_tensor(best))
        np.testing.assert_array_equal(r.reward, np.ones(5, np.float32))
        np.testing.assert_array_equal(_regret(r), np.zeros(5, np.float32))
        assert r.obs is r.next_obs and r.terminated.all() and not r.truncated.any()
        assert r.episode_lengths == [1] * 5 and r.episode_returns == [1.0] * 5
        wrong = (env.optimal_action() + 1) % 3
        r = env.step(wrong)
        assert r.reward.tolist() == [0.0] * 5 and _regret(r).tolist() == [1.0] * 5
        assert r.reward.dtype == np.float32 and _regret(r).dtype == np.float32
    np.testing.assert_allclose(env.mean_rewards().sum(axis=1), 1.0)


@pytest.mark.parametrize("num_envs", [1, 3, 10, 25])
def test_classification_passes_are_permutations(num_envs: int) -> None:
    env = _index_bandit(n=10, num_envs=num_envs)
    stream = [env.reset(seed=3)[:, 0]]
    for _ in range(60 // num_envs):
        stream.append(env.step(np.zeros(num_envs, np.int64)).obs[:, 0])
    rows = np.concatenate(stream).astype(int)
    passes = rows[: len(rows) // 10 * 10].reshape(-1, 10)
    assert len(passes) >= 5
    for p in passes:  # every row exactly once per pass
        assert sorted(p.tolist()) == list(range(10))
    assert len({tuple(p) for p in passes}) > 1  # a new order each pass
    again = _index_bandit(n=10, num_envs=num_envs)
    np.testing.assert_array_equal(again.reset(seed=3)[:, 0], stream[0])  # seeded


def test_classification_noise_and_standardization() -> None:
    X = np.c_[np.linspace(0, 10, 50), np.full(50, 4.0)]
    y = np.arange(50) % 2
    env = ClassificationBandit(X, y, num_envs=100, noise_std=0.5)
    np.testing.assert_allclose(env.X[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(env.X[:, 0].std(), 1.0, atol=1e-5)
    assert (env.X[:, 1] == 0).all()  # a constant column carries no information
    env.reset(seed=0)
    residuals = []
    for _ in range(50):
        best = env.optimal_action()
        r = env.step(best)
        residuals.append(r.reward - 1.0)
        assert (_regret(r) == 0).all()
    noise = np.concatenate(residuals)
    assert abs(noise.mean()) < 0.03 and abs(noise.std() - 0.5) < 0.03


@pytest.mark.parametrize(("X", "y", "match"), [
    (np.zeros((0, 3)), np.zeros(0, int), "non-empty"),
    (np.zeros(5), np.zeros(5, int), "2-D"),
    (np.zeros((4, 2)), np.array([0, 1, 0]), "match X"),
    (np.array([[0.0], [np.nan], [1.0]]), np.array([0, 1, 0]), "NaN"),
    (np.zeros((3, 1)), np.array([0.0, 1.0, 0.0]), "integer labels"),
    (np.zeros((3, 1)), np.array([1, 2, 1]), "every label present"),
    (np.zeros((3, 1)), np.array([0, -1, 0]), "every label present"),
    (np.zeros((3, 1)), np.array([0, 0, 0]), "at least 2 classes"),
])
def test_classification_input_validation(X: np.ndarray, y: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        ClassificationBandit(X, y)


def test_action_validation() -> None:
    env = _index_bandit(num_envs=2)
    with pytest.raises(InputError, match="reset"):
        env.step(np.zeros(2, np.int64))
    env.reset(seed=0)
    for bad in (np.zeros(3, np.int64), np.zeros((2, 1), np.int64), np.array([0.0, 1.0]),
                np.array([0, 3]), torch.tensor([-1, 0])):
        with pytest.raises(InputError, match="action"):
            env.step(bad)
    env.step([0, 2])  # lists of ints are fine
    with pytest.raises(ConfigError):
        _index_bandit(num_envs=0)
    with pytest.raises(ConfigError):
        _index_bandit(noise_std=-1.0)


def test_classification_resume_continues_the_stream() -> None:
    env = ClassificationBandit(*load_dataset("wine"), num_envs=7, noise_std=0.3)
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(30):  # into the second pass
        env.step(rng.integers(3, size=7))
    state = json.loads(json.dumps(env.get_state()))
    actions = [rng.integers(3, size=7) for _ in range(40)]
    expected = [env.step(a) for a in actions]
    twin = ClassificationBandit(*load_dataset("wine"), num_envs=7, noise_std=0.3)
    assert twin.set_state(state)
    for a, r in zip(actions, expected, strict=True):
        t = twin.step(a)
        np.testing.assert_array_equal(t.obs, r.obs)
        np.testing.assert_array_equal(t.reward, r.reward)
        np.testing.assert_array_equal(_regret(t), _regret(r))
    other = ClassificationBandit(*load_dataset("wine"), num_envs=3)
    assert not other.set_state(state)  # another batch size: refused, unchanged
    assert not _index_bandit(num_envs=7).set_state(state)  # other data


def test_reset_without_seed() -> None:
    env = _index_bandit(n=50, num_envs=5)
    fresh = env.reset()  # never seeded: OS entropy, still a valid stream
    assert fresh.shape == (5, 1)
    first = env.reset(seed=1)
    cont = env.reset()  # continues the seeded stream rather than repeating it
    assert not np.array_equal(first, cont)
    np.testing.assert_array_equal(env.reset(seed=1), first)


# ---------------------------------------------------------------------------------------------
# SyntheticLinearBandit


def test_synthetic_regret_and_optimal_action() -> None:
    env = SyntheticLinearBandit(num_envs=32, noise_std=0.0)
    obs = env.reset(seed=0)
    assert obs.shape == (32, 16) and obs.dtype == np.float32 and env.available is None
    rng = np.random.default_rng(1)
    mus = []
    for _ in range(20):
        mu = env.mean_rewards()
        mus.append(mu)
        best = env.optimal_action()
        np.testing.assert_array_equal(best, mu.argmax(axis=1))
        a = rng.integers(10, size=32)
        r = env.step(a)
        assert (_regret(r) >= 0).all()
        np.testing.assert_allclose(_regret(r), mu.max(1) - mu[np.arange(32), a], atol=1e-6)
        np.testing.assert_allclose(r.reward, mu[np.arange(32), a], atol=1e-6)  # no noise
        r = env.step(torch.as_tensor(env.optimal_action()))
        np.testing.assert_array_equal(_regret(r), np.zeros(32, np.float32))
    assert 0.5 < np.concatenate(mus).var() < 2.0  # about unit variance by construction


def test_synthetic_reward_mean_matches_mu() -> None:
    env = SyntheticLinearBandit(num_envs=64, noise_std=0.1)
    env.reset(seed=2)
    rng = np.random.default_rng(3)
    residuals = []
    for _ in range(200):
        a = rng.integers(10, size=64)
        mu = env.mean_rewards()[np.arange(64), a]
        residuals.append(env.step(a).reward - mu)
    noise = np.concatenate(residuals)
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.1) < 0.005


def test_synthetic_availability() -> None:
    env = SyntheticLinearBandit(n_actions=10, num_envs=64, available_prob=0.1)
    env.reset(seed=4)
    sizes = []
    for _ in range(50):
        assert env.available is not None
        mask = env.available.mask
        assert mask.dtype == torch.bool and mask.shape == (64, 10)
        assert mask.any(dim=1).all()  # never an empty candidate set
        best = env.optimal_action()
        assert mask[torch.arange(64), torch.as_tensor(best)].all()
        mu = np.where(mask.numpy(), env.mean_rewards(), -np.inf)
        np.testing.assert_array_equal(best, mu.argmax(axis=1))
        sizes.append(mask.sum(dim=1).float().mean().item())
        r = env.step(best)
        np.testing.assert_array_equal(_regret(r), np.zeros(64, np.float32))
        assert r.available is env.available
    assert 1.0 < np.mean(sizes) < 1.6  # p = 0.1 of 10, plus the forced arm when none is drawn
    unavailable = (~env.available.mask[0]).nonzero()[0, 0].item()  # type: ignore[union-attr]
    action = env.optimal_action()
    action[0] = unavailable
    with pytest.raises(InputError, match="not available"):
        env.step(action)


def test_synthetic_drift_moves_weights_and_keeps_scale() -> None:
    still = SyntheticLinearBandit(num_envs=4)
    w0 = still.weights
    still.reset(seed=0)
    for _ in range(20):
        still.step(still.optimal_action())
    np.testing.assert_array_equal(still.weights, w0)
    env = SyntheticLinearBandit(n_actions=20, context_dim=32, num_envs=4, drift=0.1)
    start = env.weights
    env.reset(seed=0)
    for _ in range(500):
        env.step(np.zeros(4, np.int64))
    w = env.weights
    assert abs(np.corrcoef(start.ravel(), w.ravel())[0, 1]) < 0.3  # (0.995^500 ≈ 0.08)
    assert 0.85 < w.std() < 1.15 and abs(w.mean()) < 0.15


def test_synthetic_arm_features() -> None:
    env = SyntheticLinearBandit(n_actions=12, context_dim=6, feature_dim=4, arm_features=True,
                                num_envs=8, drift=0.05)
    E = env.action_space.features
    assert E is not None and E.dtype == torch.float32 and E.shape == (12, 4)
    assert env.action_space.action_dim == 4
    obs = env.reset(seed=0)
    for _ in range(3):
        W = env.weights
        assert W.shape == (12, 6)
        assert np.linalg.matrix_rank(W) == 4  # W = E @ M: linear in the arm features
        M, *_ = np.linalg.lstsq(E.double().numpy(), W, rcond=None)
        np.testing.assert_allclose(E.double().numpy() @ M, W, atol=1e-5)
        np.testing.assert_allclose(env.mean_rewards(), obs.astype(np.float64) @ W.T)
        obs = env.step(env.optimal_action()).obs
    big = SyntheticLinearBandit(n_actions=200, context_dim=50, arm_features=True,
                                feature_dim=16)
    assert 0.8 < big.weights.std() < 1.2  # the scaling keeps mu at about unit variance


@pytest.mark.parametrize("kwargs", [
    {"noise_std": 0.2},
    {"drift": 0.05, "available_prob": 0.4},
    {"arm_features": True, "drift": 0.02, "available_prob": 0.5, "noise_std": 0.3},
])
def test_synthetic_resume_continues_the_stream(kwargs: dict[str, Any]) -> None:
    env = SyntheticLinearBandit(num_envs=5, **kwargs)
    env.reset(seed=21)
    for _ in range(17):
        env.step(env.optimal_action())
    state = json.loads(json.dumps(env.get_state()))
    expected, masks = [], []
    for _ in range(30):
        expected.append(env.step(env.optimal_action()))
        masks.append(None if env.available is None else env.available.mask.clone())
    twin = SyntheticLinearBandit(num_envs=5, **kwargs)
    assert twin.set_state(state)
    for r, m in zip(expected, masks, strict=True):
        t = twin.step(twin.optimal_action())
        np.testing.assert_array_equal(t.obs, r.obs)
        np.testing.assert_array_equal(t.reward, r.reward)
        np.testing.assert_array_equal(_regret(t), _regret(r))
        if m is not None:
            assert twin.available is not None and torch.equal(twin.available.mask, m)
    np.testing.assert_array_equal(twin.weights, env.weights)
    assert not SyntheticLinearBandit(num_envs=5, problem_seed=1).set_state(state)
    assert not SyntheticLinearBandit(num_envs=4, **kwargs).set_state(state)


def test_synthetic_config_validation() -> None:
    for bad in ({"drift": 1.0}, {"available_prob": 0.0}, {"noise_std": -0.1},
                {"n_actions": 1}, {"num_envs": 0}):
        with pytest.raises(ConfigError):
            SyntheticLinearBandit(**bad)


# ---------------------------------------------------------------------------------------------
# registry


def test_make_env_routes_bandit_ids(tmp_path: Path) -> None:
    env = nacre.make_env("bandit/digits", num_envs=4)
    assert isinstance(env, ClassificationBandit) and env.num_envs == 4
    assert env.reset(seed=0).shape == (4, 64) and env.action_space.n == 10
    assert env.name == "bandit/digits"
    drift = nacre.make_env("bandit/synthetic-drift", num_envs=2, n_actions=5)
    assert isinstance(drift, SyntheticLinearBandit)
    assert drift.drift == 0.01 and drift.action_space.n == 5
    linear = make_bandit_env("bandit/synthetic-linear", drift=0.2)
    assert isinstance(linear, SyntheticLinearBandit) and linear.drift == 0.2
    yeast = nacre.make_env("bandit/yeast", num_envs=3, cache_dir=tmp_path, base_url=UCI_URL,
                           progress=False, noise_std=0.1)
    assert isinstance(yeast, ClassificationBandit) and yeast.action_space.n == 10
    assert yeast.noise_std == 0.1 and yeast.reset(seed=0).shape == (3, 8)
    assert len(BANDIT_ENV_IDS) == 9


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean bandit/digits"):
        nacre.make_env("bandit/digit")
    with pytest.raises(ConfigError, match="bandit/synthetic-linear"):
        nacre.make_env("bandit/nope")
    with pytest.raises(ConfigError, match="n_actions"):
        nacre.make_env("bandit/wine", n_actions=3)
    with pytest.raises(ConfigError, match="cache_dir"):
        nacre.make_env("bandit/synthetic-linear", cache_dir="/tmp")
    with pytest.raises(ConfigError, match="num_envs"):
        nacre.make_env("bandit/wine", num_envs=0)
