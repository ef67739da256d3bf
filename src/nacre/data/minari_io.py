"""Reading and writing Minari datasets (Farama's offline-RL format, D4RL's successor).

Minari keeps a dataset as episodes: ``observations`` holds ``T + 1`` entries (the reset
observation, then one after each step), ``actions``, ``rewards``, ``terminations`` and
``truncations`` hold ``T``, and ``infos`` is a dict of per-step arrays. A nacre
:class:`~nacre.data.dataset.Dataset` keeps transitions. The mapping, for step ``t`` of an
episode::

    obs[t] = observations[t]        action[t] = actions[t]         reward[t] = rewards[t]
    next_obs[t] = observations[t+1] terminated[t] = terminations[t]
    truncated[t] = truncations[t]   propensity[t] = infos["propensity"][t]  (1.0 if absent)
    cost[t] = infos["cost"][t]      (only where every episode has it)

Minari has no propensities: nacre writes the behaviour policy's ones into
``infos["propensity"]`` (``T + 1`` entries, like every Minari info, aligned with the
observation the action was chosen at; the last is 1.0, no action follows it) and reads them back
from there. Datasets from elsewhere read as 1.0, so importance-sampling estimators
(:mod:`nacre.eval.ope`) need the propensities from another source.

An episode that ends on neither flag (cut by the end of the log) is read, and written, as
truncated, so that episode boundaries survive both ways. Observations may be Box, Discrete,
MultiBinary or MultiDiscrete; actions Box or Discrete (Discrete spaces that start at ``k`` are
shifted to start at 0). Dict and Tuple observations are refused: flatten them first.

Minari is an optional dependency: ``pip install "nacre[offline]"`` (Minari with its HDF5
storage). Nothing here touches the network except :func:`download_minari`.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from nacre.data.dataset import Dataset, DatasetInfo
from nacre.errors import CheckpointError, InputError, MissingExtraError, SpaceError, require

# Minari's own id grammar, ``(namespace/)name-vN``, with the version required (Minari's parser
# fails with a TypeError on an id without one)
_ID = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")
_METADATA = "metadata.json"
_OBS_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)
_ACTION_SPACES = (spaces.Box, spaces.Discrete)


def _minari() -> ModuleType:
    return require("minari", "offline", "minari")


def datasets_root() -> Path:
    """Where Minari keeps local datasets: ``$MINARI_DATASETS_PATH``, else
    ``~/.minari/datasets`` (Minari's own rule)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    return Path(root) if root is not None else Path.home() / ".minari" / "datasets"


# ---------------------------------------------------------------------------------- reading
def load_minari(dataset_id_or_path: str | os.PathLike[str], *,
                seed: int | None = None) -> Dataset:
    """A local Minari dataset as a nacre :class:`~nacre.data.dataset.Dataset`.

    Args:
        dataset_id_or_path: a dataset id (``"D4RL/door/human-v2"``), looked up under
            :func:`datasets_root`, or the path of a dataset's folder (or of its ``data``
            folder). A ``Path``, or a string naming an existing folder, is a path.
        seed: seeds the dataset's sampling.

    The :class:`~nacre.data.dataset.DatasetInfo` is filled from the dataset: ``env_id`` from
    its environment spec, ``ref_min_score``/``ref_max_score`` where Minari has them,
    ``policy`` from ``algorithm_name``, ``n_actions`` for a Discrete action space.

    Propensities come from ``infos["propensity"]`` (where nacre writes them); a dataset without
    them (every dataset Minari hosts) reads as 1.0 everywhere, so importance-sampling
    estimators need the behaviour policy's propensities from elsewhere.

    Raises:
        CheckpointError: no such dataset, or one that cannot be read.
        SpaceError: observations or actions of a space nacre does not support.
    """
    minari = _minari()
    data_path = _data_path(dataset_id_or_path)
    try:
        data = minari.MinariDataset(str(data_path))
    except ImportError as exc:  # e.g. an arrow dataset without pyarrow
        raise MissingExtraError(f"{data_path}: {exc}") from exc
    except (ValueError, KeyError, TypeError, OSError, AssertionError) as exc:
        raise CheckpointError(f"{data_path}: not a readable Minari dataset: {exc}") from exc
    obs_space, act_space = data.observation_space, data.action_space
    _check_space("observation_space", obs_space, _OBS_SPACES)
    _check_space("action_space", act_space, _ACTION_SPACES)
    try:
        episodes = [_transitions(ep, obs_space, act_space) for ep in data.iterate_episodes()]
    except (KeyError, OSError) as exc:
        raise CheckpointError(f"{data_path}: cannot read its episodes: {exc}") from exc
    episodes = [ep for ep in episodes if len(ep["reward"])]
    if not episodes:
        raise CheckpointError(f"{data_path}: holds no steps")
    with_cost = sum("cost" in ep for ep in episodes)
    if 0 < with_cost < len(episodes):
        raise CheckpointError(f"{data_path}: infos['cost'] is in {with_cost} of "
                              f"{len(episodes)} episodes (all or none)")
    cols = {k: np.concatenate([ep[k] for ep in episodes]) for k in episodes[0]}
    metadata = data.storage.metadata
    spec = data.env_spec
    info = DatasetInfo(
        env_id=spec.id if spec is not None else "",
        policy=str(metadata.get("algorithm_name", "")),
        ref_min_score=_score(metadata.get("ref_min_score")),
        ref_max_score=_score(metadata.get("ref_max_score")),
        n_actions=int(act_space.n) if isinstance(act_space, spaces.Discrete) else None,
        description=str(metadata.get("description", "")))
    try:
        return Dataset.from_arrays(**cols, info=info, seed=seed)
    except InputError as exc:
        raise CheckpointError(f"{data_path}: {exc}") from exc


def _data_path(source: str | os.PathLike[str]) -> Path:
    """The folder holding the dataset's ``metadata.json``."""
    as_path = isinstance(source, os.PathLike) or Path(source).is_dir()
    folder = Path(source) if as_path else datasets_root() / str(source)
    for candidate in (folder / "data", folder):
        if (candidate / _METADATA).is_file():
            return candidate
    where = f"at {folder}" if as_path else f"{str(source)!r} under {datasets_root()}"
    raise CheckpointError(f"no Minari dataset {where} (set MINARI_DATASETS_PATH, or download "
                          "it with nacre.data.minari_io.download_minari)")


def _check_space(field: str, space: gym.Space[Any], allowed: tuple[type, ...]) -> None:
    if isinstance(space, allowed):
        return
    names = ", ".join(t.__name__ for t in allowed)
    hint = (" (flatten them first, e.g. with gymnasium.wrappers.FlattenObservation, and "
            "write the dataset again)") if isinstance(space, spaces.Dict | spaces.Tuple) else ""
    raise SpaceError(f"{field}: nacre datasets hold {names} spaces, this Minari dataset has "
                     f"{space}{hint}")


def _transitions(ep: Any, obs_space: gym.Space[Any],
                 act_space: gym.Space[Any]) -> dict[str, np.ndarray]:
    """One Minari episode as nacre's transition columns."""
    n = len(ep.rewards)
    observations = _shifted(np.asarray(ep.observations), obs_space)
    if len(observations) != n + 1:
        raise CheckpointError(f"episode {ep.id}: {len(observations)} observations for {n} "
                              "steps (Minari keeps T + 1)")
    terminated = np.asarray(ep.terminations, np.bool_).reshape(n)
    truncated = np.array(ep.truncations, np.bool_).reshape(n)
    if n and not (terminated[-1] or truncated[-1]):
        truncated[-1] = True  # cut by the end of the log: keep the episode boundary
    infos = ep.infos if isinstance(ep.infos, dict) else {}
    cols = {
        "obs": observations[:-1], "action": _shifted(np.asarray(ep.actions), act_space),
        "reward": np.asarray(ep.rewards), "next_obs": observations[1:],
        "terminated": terminated, "truncated": truncated,
        "propensity": _per_step(ep.id, "propensity", infos.get("propensity"), n, 1.0)}
    if "cost" in infos:
        cols["cost"] = _per_step(ep.id, "cost", infos["cost"], n, 0.0)
    return cols


def _shifted(values: np.ndarray, space: gym.Space[Any]) -> np.ndarray:
    if isinstance(space, spaces.Discrete) and int(space.start) != 0:
        return values - int(space.start)
    return values


def _per_step(episode: int, key: str, value: Any, n: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n, default, np.float32)
    arr = np.asarray(value, np.float32)
    if arr.ndim != 1 or len(arr) not in (n, n + 1):
        raise CheckpointError(f"episode {episode}: infos[{key!r}] has shape {arr.shape}, "
                              f"expected ({n},) or ({n + 1},)")
    return arr[:n]


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------- download
def download_minari(dataset_id: str, *, force: bool = False) -> Path:
    """Download a dataset from Minari's remote server into :func:`datasets_root` with
    ``minari.download_dataset`` and return its folder; then :func:`load_minari` reads it.

    Needs network access and Minari's download extra: ``pip install "minari[hf]"``.
    ``force`` downloads again over a local copy.
    """
    minari = _minari()
    try:
        minari.download_dataset(dataset_id, force_download=force)
    except ImportError as exc:
        raise MissingExtraError(f'downloading Minari datasets needs its remote client: pip '
                                f'install "minari[hf]" ({exc})') from exc
    return datasets_root() / dataset_id


# ---------------------------------------------------------------------------------- writing
def save_minari(dataset: Dataset, dataset_id: str, *, env: str | gym.Env[Any, Any] | None = None,
                observation_space: gym.Space[Any] | None = None,
                action_space: gym.Space[Any] | None = None, author: str | None = None,
                author_email: str | None = None, code_permalink: str | None = None) -> Path:
    """Write ``dataset`` as the local Minari dataset ``dataset_id`` (``(namespace/)name-vN``)
    under :func:`datasets_root`, with ``minari.create_dataset_from_buffers``, and return its
    folder. The id must be new.

    Args:
        env: the environment the data is of: a Gymnasium id or env (its spec is recorded, not
            made). Default: ``dataset.info.env_id`` where it is a registered Gymnasium id.
        observation_space, action_space: the spaces to record. Default: ``env``'s where it is
            an env object, else read from the data (Box of unbounded floats, Discrete of
            ``info.n_actions`` or the largest value + 1, Box of the integer dtype's range).
        author, author_email, code_permalink: Minari's provenance metadata.

    Episodes are rebuilt from the consecutive rows (:meth:`Dataset.episode_starts`), each
    episode's last observation from its last ``next_obs``; an episode cut by the end of the log
    is written truncated. Propensities (and costs) go into ``infos``; ``info.policy``,
    ``info.description`` and the reference scores into Minari's metadata. Observations are
    stored losslessly (no JPEG encoding of image spaces).

    Raises:
        InputError: a malformed or taken id, an unknown ``env`` id, spaces that do not fit the
            data, or rows whose ``next_obs`` is not the next row's ``obs`` inside an episode
            (Minari keeps one observation per step).
    """
    minari = _minari()
    if not _ID.match(dataset_id):
        raise InputError("dataset_id", f"expected (namespace/)name-vN, e.g. "
                         f"'nacre/cartpole/random-v0', got {dataset_id!r}")
    folder = datasets_root() / dataset_id
    if folder.exists():
        raise InputError("dataset_id", f"{folder} already exists")
    cols = dataset.arrays()
    starts = dataset.episode_starts(cols)
    _check_continuity(cols, starts)
    spec, env_spaces = _env_spec(env, dataset.info.env_id)
    obs_space = _first(observation_space, env_spaces[0], _space_of(
        np.concatenate([cols["obs"], cols["next_obs"]]), None))
    act_space = _first(action_space, env_spaces[1], _space_of(
        cols["action"], dataset.info.n_actions))
    for space, names in ((obs_space, ("obs", "next_obs")), (act_space, ("action",))):
        if isinstance(space, spaces.Discrete):  # nacre counts from 0, the space from start
            cols.update({k: cols[k] + int(space.start) for k in names})
    _check_fits("observation_space", obs_space, cols["obs"])
    _check_fits("action_space", act_space, cols["action"])
    episode_buffer = require("minari.data_collector", "offline", "minari").EpisodeBuffer
    bounds = [*starts.tolist(), len(cols["reward"])]
    buffers = [episode_buffer(**_episode(cols, s, e)) for s, e in pairwise(bounds)]
    extra: dict[str, Any] = {k: v for k, v in (
        ("ref_min_score", dataset.info.ref_min_score),
        ("ref_max_score", dataset.info.ref_max_score)) if v is not None}
    if spec is not None:
        try:
            extra["env_spec"] = spec.to_json()
        except TypeError as exc:  # kwargs that JSON cannot hold
            raise InputError("env", f"its spec cannot be written as JSON: {exc}") from exc
    try:
        with warnings.catch_warnings():
            # Minari warns for each provenance field left None; a nacre dataset has no value
            # for most of them
            warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.utils")
            created = minari.create_dataset_from_buffers(
                dataset_id, buffers, observation_space=obs_space, action_space=act_space,
                algorithm_name=dataset.info.policy or None,
                description=dataset.info.description or None, author=author,
                author_email=author_email, code_permalink=code_permalink,
                data_format="hdf5", jpeg_encoding=False)
        # written after creation: given to create_dataset_from_buffers, an env spec makes the
        # env, and reference scores are kept only with an env, which it makes too (and with a
        # max score alone, it rolls out a random policy for the min)
        if extra:
            created.storage.update_metadata(extra)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _check_continuity(cols: dict[str, np.ndarray], starts: np.ndarray) -> None:
    n = len(cols["reward"])
    if n < 2:
        return
    inside = np.ones(n, np.bool_)
    inside[starts] = False  # rows that continue the episode of the row before
    same = (cols["next_obs"][:-1].reshape(n - 1, -1) == cols["obs"][1:].reshape(n - 1, -1))
    bad = np.flatnonzero(inside[1:] & ~same.all(axis=1))
    if bad.size:
        raise InputError("dataset", f"row {bad[0] + 1}: obs is not the previous row's next_obs "
                         "though no episode ended there; Minari keeps one observation per "
                         "step, so these rows cannot be written as episodes")


def _env_spec(env: str | gym.Env[Any, Any] | None, env_id: str) -> tuple[
        EnvSpec | None, tuple[gym.Space[Any] | None, gym.Space[Any] | None]]:
    """The env spec to record, and the spaces an env object gives."""
    if isinstance(env, gym.Env):
        return env.spec, (env.observation_space, env.action_space)
    name = env if env is not None else env_id
    if not name:
        return None, (None, None)
    try:
        return gym.spec(name), (None, None)
    except gym.error.Error as exc:
        if env is not None:
            raise InputError("env", f"{name!r} is not a registered Gymnasium id: {exc}") from exc
        return None, (None, None)  # info.env_id names no registered env: record no spec


def _first(*candidates: gym.Space[Any] | None) -> gym.Space[Any]:
    # not `a or b`: Tuple and Dict spaces have a length, so an empty one is falsy
    return next(space for space in candidates if space is not None)


def _space_of(values: np.ndarray, n: int | None) -> gym.Space[Any]:
    shape = values.shape[1:]
    if values.dtype == np.bool_:
        return spaces.MultiBinary(list(shape))
    if values.dtype.kind in "iu":
        if not shape:
            return spaces.Discrete(n if n is not None else int(values.max()) + 1)
        bits = np.iinfo(values.dtype)
        return spaces.Box(bits.min, bits.max, shape, values.dtype.type)
    return spaces.Box(-np.inf, np.inf, shape, values.dtype.type)


def _check_fits(field: str, space: gym.Space[Any], values: np.ndarray) -> None:
    if space.shape != values.shape[1:]:
        raise InputError(field, f"{space} has shape {space.shape}, the data {values.shape[1:]}")
    if isinstance(space, spaces.Discrete) and (values.dtype.kind not in "iu" or not (
            int(space.start) <= int(values.min()) and int(values.max()) < space.start + space.n)):
        raise InputError(field, f"{space} does not hold the values {int(values.min())}.."
                         f"{int(values.max())}")


def _episode(cols: dict[str, np.ndarray], s: int, e: int) -> dict[str, Any]:
    """Rows ``s:e`` (one episode) as the fields of a Minari ``EpisodeBuffer``."""
    truncated = cols["truncated"][s:e].copy()
    if not (cols["terminated"][e - 1] or truncated[-1]):
        truncated[-1] = True  # cut by the end of the log
    infos = {"propensity": np.append(cols["propensity"][s:e], np.float32(1.0))}
    if "cost" in cols:
        infos["cost"] = np.append(cols["cost"][s:e], np.float32(0.0))
    return {
        "observations": np.concatenate([cols["obs"][s:e], cols["next_obs"][e - 1:e]]),
        "actions": cols["action"][s:e], "rewards": cols["reward"][s:e],
        "terminations": cols["terminated"][s:e], "truncations": truncated, "infos": infos}


__all__ = ["datasets_root", "download_minari", "load_minari", "save_minari"]
