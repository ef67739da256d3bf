"""Datasets of logged transitions, for offline learning and off-policy evaluation.

A :class:`Dataset` keeps its transitions in the replay buffer's preallocated columnar storage
(:class:`~nacre.data.ReplayBuffer`, one column per logging environment, time-major), so that
``dataset.sample(n)`` is the same index gather as online replay and a learner cannot tell the
two apart. Each row keeps the behaviour policy's propensity of its action: what importance
sampling estimators need (:mod:`nacre.eval.ope`). Continuous actions are stored in the
environment's units, their propensities as densities in those units.

On disk a dataset is a folder: ``data.safetensors`` (every column; never pickled) and
``dataset.json`` (format, counts, :class:`DatasetInfo`), written under a temporary name and
renamed into place. :mod:`nacre.data.minari_io` reads and writes the Minari format.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.data.tensor_files import load_tensors, save_tensors
from nacre.data.validate import all_finite, check_flags, check_step_values
from nacre.errors import CheckpointError, InputError

DATA_FILE = "data.safetensors"
META_FILE = "dataset.json"
FORMAT = "nacre-dataset"
FORMAT_VERSION = 1
_COLUMNS = ("obs", "action", "reward", "next_obs", "terminated", "truncated", "propensity")
_MAX_META = 1024 * 1024


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is of.

    Attributes:
        env_id: the environment the transitions were logged in (``""``: unknown).
        policy: how they were logged (``"random"``, ``"medium"``, a run folder …).
        ref_min_score: return of a random policy, for normalized scores (None: unknown).
        ref_max_score: return of an expert policy, for normalized scores (None: unknown).
        n_actions: number of discrete actions (None: continuous or unknown).
        description: free text.
    """

    env_id: str = ""
    policy: str = ""
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    n_actions: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        low, high = self.ref_min_score, self.ref_max_score
        if (low is None) != (high is None) or low is not None and high is not None and not (
                math.isfinite(low) and math.isfinite(high) and high > low):
            raise InputError("info", f"reference scores must both be given, finite, with "
                             f"ref_max_score > ref_min_score; got {low}, {high}")
        if self.n_actions is not None and self.n_actions < 1:
            raise InputError("info", f"n_actions must be >= 1, got {self.n_actions}")

    def normalized_score(self, episode_return: float) -> float:
        """``(R − random) / (expert − random)``: 0 is the random policy, 1 the expert (D4RL's
        score divided by 100; Pearl reports it this way)."""
        if self.ref_min_score is None or self.ref_max_score is None:
            raise InputError("dataset", "has no reference scores (ref_min_score, "
                             "ref_max_score) to normalize returns with")
        return (episode_return - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)


class Dataset:
    """Logged transitions ``(s, a, r, s', terminated, truncated, propensity)``.

    Build one with :meth:`from_arrays` (rows in logging order, episodes one after another),
    :meth:`from_buffer_state` (a replay buffer's state, e.g. a run's checkpoint) or
    :meth:`load`; draw batches with :meth:`sample`; read everything in order with
    :meth:`arrays`.

    Example:
        >>> import numpy as np
        >>> data = Dataset.from_arrays(
        ...     obs=np.zeros((4, 2), np.float32), action=np.array([0, 1, 1, 0]),
        ...     reward=np.ones(4), next_obs=np.zeros((4, 2), np.float32),
        ...     terminated=np.array([0, 1, 0, 1]), truncated=np.zeros(4), seed=0)
        >>> len(data), data.num_episodes, data.sample(3).obs.shape
        (4, 2, torch.Size([3, 2]))
    """

    def __init__(self, buffer: ReplayBuffer, info: DatasetInfo | None = None,
                 layout: Mapping[str, Any] | None = None) -> None:
        """``buffer``: a filled replay buffer (its storage becomes the dataset's); ``layout``:
        its ``state_dict()`` if the caller has it at hand (else taken here, a copy)."""
        if len(buffer) == 0:
            raise InputError("dataset", "holds no transitions")
        self.buffer = buffer
        self.info = info or DatasetInfo()
        state = buffer.state_dict() if layout is None else layout
        rows, pos, b = int(state["rows"]), int(state["pos"]), int(state["num_envs"])
        order = torch.remainder(pos - rows + torch.arange(rows), rows)  # oldest row first
        index = (order[None, :] * b + torch.arange(b)[:, None]).reshape(-1)
        valid = state["tensors"].get("valid")
        # storage rows of the valid transitions: column by column, each in time order (so an
        # episode's steps are consecutive)
        self._index = index if valid is None else index[valid.reshape(-1)[index]]
        self._column = torch.remainder(self._index, b).numpy()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any,
                    truncated: Any, propensity: Any = None, *, cost: Any = None,
                    info: DatasetInfo | None = None, seed: int | None = None) -> Dataset:
        """A dataset of ``N`` transitions given as arrays or tensors with leading dim ``N``, in
        logging order (an episode's steps consecutive); ``propensity`` None means 1 (actions
        chosen deterministically). Every column is checked before anything is stored."""
        cols = {name: _array(name, value) for name, value in zip(
            _COLUMNS, (obs, action, reward, next_obs, terminated, truncated,
                       np.ones(len(_array("reward", reward)), np.float32)
                       if propensity is None else propensity), strict=True)}
        n = len(cols["reward"])
        _check_columns(cols, n, info.n_actions if info else None)
        tensors = {name: torch.from_numpy(np.ascontiguousarray(arr)).unsqueeze(1)
                   for name, arr in _typed(cols).items()}
        if cost is not None:
            costs = _array("cost", cost).astype(np.float32)
            if costs.shape != (n,) or not all_finite(costs):
                raise InputError("cost", f"expected {n} finite numbers, got shape {costs.shape}")
            tensors["cost"] = torch.from_numpy(costs).unsqueeze(1)
        return cls.from_buffer_state({"tensors": tensors, "pos": 0, "rows": n, "num_envs": 1},
                                     info, seed)

    @classmethod
    def from_buffer_state(cls, state: Mapping[str, Any], info: DatasetInfo | None = None,
                          seed: int | None = None) -> Dataset:
        """A dataset holding what a replay buffer's ``state_dict()`` holds (the replay of a
        run's checkpoint, say): the same storage, no copy beyond loading it."""
        buffer = ReplayBuffer(max(1, int(state["rows"]) * int(state["num_envs"])), seed=seed)
        generator = state.get("generator", buffer.generator.get_state())
        buffer.load_state_dict({**state, "generator": generator})
        if seed is not None:
            buffer.generator.manual_seed(seed)
        return cls(buffer, info, state)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._index)

    def sample(self, batch_size: int) -> TransitionBatch:
        """``batch_size`` transitions drawn uniformly (with replacement)."""
        return self.buffer.sample(batch_size)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every transition in logging order (per logging env), as NumPy arrays with leading
        dim ``N``: the columns ``obs, action, reward, next_obs, terminated, truncated,
        propensity`` (and ``cost`` where logged)."""
        tensors = self.buffer.state_dict()["tensors"]
        names = [*_COLUMNS, *(["cost"] if "cost" in tensors else [])]
        return {name: tensors[name].flatten(0, 1)[self._index].numpy() for name in names}

    def episode_starts(self, cols: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Row indices (into :meth:`arrays`, or ``cols`` read from it) where an episode begins:
        after an end, and at each logging env's first row (which may be mid-episode)."""
        cols = self.arrays() if cols is None else cols
        ends = cols["terminated"] | cols["truncated"]
        starts = np.ones(len(ends), np.bool_)
        starts[1:] = ends[:-1] | (self._column[1:] != self._column[:-1])
        return np.flatnonzero(starts)

    @property
    def num_episodes(self) -> int:
        return len(self.episode_starts())

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode (the behaviour policy's)."""
        cols = self.arrays()
        return np.add.reduceat(cols["reward"].astype(np.float64), self.episode_starts(cols))

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the dataset to the folder ``path`` (which must not exist), atomically."""
        path = Path(path)
        if path.exists():
            raise InputError("path", f"{path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            cols = self.arrays()
            save_tensors({k: torch.from_numpy(v) for k, v in cols.items()}, tmp / DATA_FILE)
            meta = {"format": FORMAT, "version": FORMAT_VERSION, "transitions": len(
                cols["reward"]), "info": dataclasses.asdict(self.info)}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None) -> Dataset:
        """A dataset saved with :meth:`save`; checked before it is used, never unpickled."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file() or not (path / DATA_FILE).is_file():
            raise CheckpointError(f"{path} is not a nacre dataset (needs {META_FILE} and "
                                  f"{DATA_FILE}); Minari datasets: nacre.data.minari_io")
        if meta_path.stat().st_size > _MAX_META:
            raise CheckpointError(f"{meta_path} is larger than {_MAX_META} bytes")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{meta_path} is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get(
                "version") != FORMAT_VERSION:
            raise CheckpointError(f"{meta_path}: not a {FORMAT} version {FORMAT_VERSION} file")
        try:
            info = DatasetInfo(**meta.get("info", {}))
        except (TypeError, InputError) as exc:
            raise CheckpointError(f"{meta_path}: info: {exc}") from exc
        expected = {*_COLUMNS, "cost"}
        cols = load_tensors(path / DATA_FILE)
        unknown = set(cols) - expected
        if unknown or set(_COLUMNS) - set(cols):
            raise CheckpointError(f"{path / DATA_FILE}: expected the columns {sorted(expected)}"
                                  f", got {sorted(cols)}")
        arrays = {k: v.numpy() for k, v in cols.items()}
        try:
            return cls.from_arrays(**arrays, info=info, seed=seed)
        except InputError as exc:
            raise CheckpointError(f"{path}: {exc}") from exc


def _array(name: str, value: Any) -> np.ndarray:
    arr = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
    if arr.ndim == 0:
        raise InputError(name, "expected an array with a leading dimension N")
    return arr


def _check_columns(cols: dict[str, np.ndarray], n: int, n_actions: int | None) -> None:
    if n == 0:
        raise InputError("reward", "expected at least one transition")
    for name, arr in cols.items():
        if len(arr) != n:
            raise InputError(name, f"expected {n} rows (as reward has), got {len(arr)}")
    if cols["obs"].shape != cols["next_obs"].shape:
        raise InputError("next_obs", f"shape {cols['next_obs'].shape} != obs shape "
                         f"{cols['obs'].shape}")
    for name in ("reward", "terminated", "truncated", "propensity"):
        if cols[name].ndim != 1:
            raise InputError(name, f"expected shape ({n},), one value per transition, got "
                             f"{cols[name].shape}")
    if cols["action"].dtype.kind in "iub" and cols["action"].ndim != 1:
        raise InputError("action", f"expected discrete actions of shape ({n},), got "
                         f"{cols['action'].shape}")
    if cols["obs"].dtype != cols["next_obs"].dtype:
        raise InputError("next_obs", f"dtype {cols['next_obs'].dtype} != obs dtype "
                         f"{cols['obs'].dtype}")
    for name in ("obs", "next_obs", "reward"):
        if cols[name].dtype.kind == "f" and not all_finite(cols[name]):
            raise InputError(name, "contains NaN or inf")
    check_flags("terminated", cols["terminated"])
    check_flags("truncated", cols["truncated"])
    discrete = cols["action"].dtype.kind in "iub"
    if discrete and n_actions is None:
        n_actions = int(cols["action"].max()) + 1
    check_step_values(cols["action"], cols["propensity"], n_actions if discrete else None)


def _typed(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns in the dtypes the replay storage keeps."""
    out = dict(cols)  # no copy where a column has its dtype already
    out["reward"] = cols["reward"].astype(np.float32, copy=False)
    out["propensity"] = cols["propensity"].astype(np.float32, copy=False)
    out["terminated"] = cols["terminated"].astype(np.bool_, copy=False)
    out["truncated"] = cols["truncated"].astype(np.bool_, copy=False)
    integer = cols["action"].dtype.kind in "iub"
    out["action"] = cols["action"].astype(np.int64 if integer else np.float32, copy=False)
    if cols["obs"].dtype == np.float64:
        out["obs"] = cols["obs"].astype(np.float32)
        out["next_obs"] = cols["next_obs"].astype(np.float32)
    return out


__all__ = ["DATA_FILE", "META_FILE", "Dataset", "DatasetInfo"]
