"""Dynamic action sets from Gymnasium environments: the conventions nacre's adapters
(:class:`~nacre.envs.gym.GymEnv`, :class:`~nacre.envs.gym.GymVectorEnv`,
:class:`~nacre.envs.sync.SyncEnvs`) read, and :class:`DynamicActions`, a wrapper that makes any
``Discrete`` environment one (Pearl's dynamic action spaces, arXiv 2312.03814, §3.6).

An environment with a ``Discrete(n)`` action space reports which actions it offers at the
observation it returns, in the info of ``reset`` and of every ``step``:

* ``info["action_mask"]`` (:data:`ACTION_MASK_KEY`): ``[n]`` bool or int8, nonzero = available
  (Gymnasium's and PettingZoo's convention). Gymnasium's vector envs gather it as ``[B, n]``
  with their ``info["_action_mask"]`` presence mask.
* or a ``Dict`` observation with an ``"action_mask"`` key (``MultiBinary(n)`` or ``Box``): the
  mask is taken out of the observation (the agent sees the Dict without it) and reported as
  availability.
* ``info["candidates"]`` (:data:`CANDIDATES_KEY`): ``[k]`` int64, ``k <= n``, the catalogue
  items the action slots hold this step; the environment declares the catalogue as
  :class:`~nacre.envs.base.CatalogueEnv` (``env.unwrapped.catalogue``, ``[N, d]`` float32) and
  the agent gets ``DiscreteActionSpace(n, catalogue=...)``.
* ``info["candidate_features"]`` (:data:`CANDIDATE_FEATURES_KEY`): ``[k, d]`` float32, the
  features of this step's candidates, for environments without a catalogue.

Slots past ``k`` are padding, never available; the mask defaults to all True for the ``k``
candidates. A copy that reports none of these offers every action; an environment that never
reports any gives ``available = None``. The adapters report the set at ``result.obs`` in
:attr:`ActionResult.available <nacre.envs.base.ActionResult>`: under SAME_STEP autoreset (nacre's
own) the info of a step that ended an episode is the new episode's reset info, which is what
``result.obs`` holds; under NEXT_STEP the reset step's info holds the reset's too, and the
action of the step before it, which the env ignores, is not checked. The adapters refuse an
unavailable action with :class:`~nacre.errors.InputError` naming the action and the copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch

from nacre.envs.base import CatalogueEnv
from nacre.errors import ConfigError, InputError, SpaceError
from nacre.spaces import ActionSpace, AvailableActions, DiscreteActionSpace, from_gym_action_space

ACTION_MASK_KEY = "action_mask"
CANDIDATES_KEY = "candidates"
CANDIDATE_FEATURES_KEY = "candidate_features"
AVAILABILITY_KEYS = (ACTION_MASK_KEY, CANDIDATES_KEY, CANDIDATE_FEATURES_KEY)

# One copy's report: (mask [n], candidates [k], candidate features [k, d]), each None if absent.
Row = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]


def find_catalogue(env: gym.Env[Any, Any]) -> np.ndarray | None:
    """The ``[N, d]`` float32 catalogue ``env`` declares (:class:`CatalogueEnv`), or None."""
    base = env.unwrapped
    return _catalogue(base.catalogue, type(base).__name__) if isinstance(
        base, CatalogueEnv) else None


def vector_catalogue(env: gym.vector.VectorEnv) -> np.ndarray | None:
    """The catalogue the copies of a Gymnasium vector env declare, or None: read from the first
    copy of a ``SyncVectorEnv``, asked of the workers of an ``AsyncVectorEnv`` (Gymnasium's own
    attribute calls, which the copies answer in their processes)."""
    if isinstance(env, gym.vector.SyncVectorEnv):
        return find_catalogue(env.envs[0])
    if isinstance(env, gym.vector.AsyncVectorEnv) and all(
            env.call("has_wrapper_attr", "catalogue")):
        return _catalogue(env.get_attr("catalogue")[0], "a copy")
    return None


def _catalogue(value: Any, owner: str) -> np.ndarray:
    catalogue = np.array(value, dtype=np.float32)  # a writable copy, for torch
    if catalogue.ndim != 2:
        raise SpaceError(f"{owner}.catalogue must have shape [N, d], got {catalogue.shape}")
    return catalogue


class AvailabilityReader:
    """Reads the conventions above for ``num_envs`` copies of an environment with these spaces;
    holds the last set read (:attr:`current`) and checks actions against it."""

    def __init__(self, observation_space: gym.Space[Any], action_space: gym.Space[Any],
                 num_envs: int, catalogue: np.ndarray | None = None) -> None:
        self.num_envs = num_envs
        self.n = int(action_space.n) if isinstance(action_space, gym.spaces.Discrete) else 0
        self.catalogue = catalogue
        self.current: AvailableActions | None = None
        self._mask: np.ndarray | None = None  # [B, n] bool of current, for the action check
        self._rows = np.arange(num_envs)
        self.mask_in_obs = (isinstance(observation_space, gym.spaces.Dict)
                            and ACTION_MASK_KEY in observation_space.spaces)
        self.observation_space = observation_space
        if self.mask_in_obs:
            assert isinstance(observation_space, gym.spaces.Dict)
            mask_space = observation_space.spaces[ACTION_MASK_KEY]
            if not self.n or mask_space.shape != (self.n,):
                raise SpaceError(f"observation['{ACTION_MASK_KEY}'] must be a mask [n] of a "
                                 f"Discrete(n) action space; got {mask_space!r} for "
                                 f"{action_space!r}")
            rest = {k: s for k, s in observation_space.spaces.items() if k != ACTION_MASK_KEY}
            if not rest:
                raise SpaceError(f"the Dict observation holds only '{ACTION_MASK_KEY}'; nacre "
                                 "needs an observation besides it")
            self.observation_space = gym.spaces.Dict(rest)
        if catalogue is not None and not self.n:
            raise SpaceError(f"a catalogue (CatalogueEnv) needs a Discrete action space, got "
                             f"{action_space!r}")

    def action_space(self, space: gym.Space[Any]) -> ActionSpace:
        """nacre's action space for the env's ``space`` (with the catalogue when declared)."""
        converted = from_gym_action_space(space)
        if self.catalogue is None or not isinstance(converted, DiscreteActionSpace):
            return converted
        return DiscreteActionSpace(converted.n, catalogue=torch.from_numpy(self.catalogue))

    # ------------------------------------------------------------------ observations
    def split(self, obs: Any) -> tuple[Any, np.ndarray | None]:
        """One observation (or a vector env's batch of them) without its mask, and the mask."""
        if not self.mask_in_obs:
            return obs, None
        rest = {k: v for k, v in obs.items() if k != ACTION_MASK_KEY}
        return rest, np.asarray(obs[ACTION_MASK_KEY])

    # ------------------------------------------------------------------ reading
    def info_row(self, info: dict[str, Any], obs_mask: np.ndarray | None = None) -> Row | None:
        """What one copy's ``info`` (and observation mask) report; None: nothing."""
        if obs_mask is None and not (info and (ACTION_MASK_KEY in info or CANDIDATES_KEY in info
                                               or CANDIDATE_FEATURES_KEY in info)):
            return None
        mask = obs_mask if obs_mask is not None else info.get(ACTION_MASK_KEY)
        return mask, info.get(CANDIDATES_KEY), info.get(CANDIDATE_FEATURES_KEY)

    def vector_rows(self, info: dict[str, Any], obs_masks: np.ndarray | None) -> list[Row | None]:
        """The rows of a Gymnasium vector env's gathered ``info`` (``[B, ...]`` per key with
        ``_key`` presence masks) and batched observation masks."""
        columns = []
        for key in AVAILABILITY_KEYS:
            values = obs_masks if key == ACTION_MASK_KEY and obs_masks is not None else (
                info.get(key))
            if values is None:
                columns.append([None] * self.num_envs)
                continue
            present = (np.ones(self.num_envs, np.bool_) if values is obs_masks
                       else np.asarray(info.get("_" + key, np.ones(self.num_envs, np.bool_))))
            columns.append([values[i] if present[i] else None for i in range(self.num_envs)])
        rows: list[Row | None] = []
        for mask, candidates, features in zip(*columns, strict=True):
            absent = mask is None and candidates is None and features is None
            rows.append(None if absent else (mask, candidates, features))
        return rows

    def read(self, rows: Sequence[Row | None]) -> AvailableActions | None:
        """The ``[B, n]`` set of the copies' rows (None when no copy reports one); becomes
        :attr:`current`."""
        if not self.n or all(row is None for row in rows):
            self.current, self._mask = None, None
            return None
        mask = np.ones((self.num_envs, self.n), dtype=np.bool_)
        items: np.ndarray | None = None
        features: np.ndarray | None = None
        for i, row in enumerate(rows):
            if row is None:
                continue
            m, candidates, feats = self._checked(i, row)
            if candidates is not None and self.catalogue is not None:
                if items is None:
                    items = np.zeros((self.num_envs, self.n), dtype=np.int64)
                items[i, : len(candidates)] = candidates
            if feats is not None:
                if features is None:
                    features = np.zeros((self.num_envs, self.n, feats.shape[1]), np.float32)
                features[i, : len(feats)] = feats
            mask[i] = m
        self._mask = mask
        self.current = AvailableActions(
            torch.from_numpy(mask),
            None if features is None else torch.from_numpy(features),
            None if items is None else torch.from_numpy(items))
        return self.current

    def _checked(self, i: int, row: Row) -> tuple[np.ndarray, np.ndarray | None,
                                                   np.ndarray | None]:
        """Row ``i`` validated: its mask ``[n]`` (padding slots False), candidates, features."""
        raw_mask, raw_candidates, raw_features = row
        where = f"env {i} info"
        k = self.n
        candidates = features = None
        if raw_candidates is not None:
            candidates = np.asarray(raw_candidates)
            size = 0 if self.catalogue is None else len(self.catalogue)
            if candidates.ndim != 1 or candidates.dtype.kind not in "iu" or not (
                    len(candidates) <= self.n):
                raise InputError(f"{where}['{CANDIDATES_KEY}']", f"expected at most {self.n} "
                                 f"integer catalogue ids [k], got {candidates!r}")
            if self.catalogue is None and raw_features is None:
                raise InputError(f"{where}['{CANDIDATES_KEY}']", "the environment declares no "
                                 "catalogue: give it a `catalogue` attribute [N, d] "
                                 "(nacre.envs.base.CatalogueEnv) or report "
                                 f"info['{CANDIDATE_FEATURES_KEY}']")
            if self.catalogue is not None and len(candidates) and not (
                    candidates.min() >= 0 and candidates.max() < size):
                raise InputError(f"{where}['{CANDIDATES_KEY}']", f"expected ids in [0, {size}) "
                                 f"(the catalogue's rows), got {candidates.tolist()}")
            k = len(candidates)
        if raw_features is not None:
            features = np.asarray(raw_features, dtype=np.float32)
            width = None if self.catalogue is None else self.catalogue.shape[1]
            if features.ndim != 2 or len(features) > self.n or (
                    candidates is not None and len(features) != k) or (
                    width is not None and features.shape[1] != width):
                raise InputError(f"{where}['{CANDIDATE_FEATURES_KEY}']", f"expected [k, d] "
                                 f"float32 with k <= {self.n} (the candidates' count) and d "
                                 f"{width or 'fixed'}, got shape {features.shape}")
            k = len(features)
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[:k] = True
        if raw_mask is not None:
            given = np.asarray(raw_mask)
            if given.shape != (self.n,):
                raise InputError(f"{where}['{ACTION_MASK_KEY}']", f"expected shape [{self.n}] "
                                 f"(one per action), got {given.shape}")
            mask &= given != 0
        if not mask.any():  # nothing to choose: no policy is defined there
            raise InputError(where, "offers no available action; every observation an agent "
                             "acts on needs at least one")
        return mask, candidates, features

    # ------------------------------------------------------------------ resuming
    def state(self) -> dict[str, Any] | None:
        """:attr:`current` as JSON, for an exact resume: a restored environment's own state does
        not say what its last info reported."""
        if self.current is None:
            return None
        parts = {"mask": self.current.mask, "items": self.current.items,
                 "features": self.current.features}
        return {k: v.tolist() for k, v in parts.items() if v is not None}

    def restore(self, saved: dict[str, Any] | None) -> None:
        """Hold the set :meth:`state` described; ValueError if it does not fit these copies."""
        if saved is None:
            self.current, self._mask = None, None
            return
        shape = (self.num_envs, self.n)
        mask = np.asarray(saved.get("mask"), dtype=np.bool_)
        items = None if "items" not in saved else np.asarray(saved["items"], dtype=np.int64)
        features = (None if "features" not in saved
                    else np.asarray(saved["features"], dtype=np.float32))
        if mask.shape != shape or (items is not None and items.shape != shape) or (
                features is not None and features.shape[:2] != shape):
            raise ValueError(f"a saved candidate set does not fit {shape} (envs, actions)")
        self._mask = mask
        self.current = AvailableActions(
            torch.from_numpy(mask), None if features is None else torch.from_numpy(features),
            None if items is None else torch.from_numpy(items))

    # ------------------------------------------------------------------ checking
    def check(self, actions: np.ndarray, skip: np.ndarray | None = None) -> None:
        """Refuse an action outside :attr:`current` (rows in ``skip`` are not checked: their
        action is ignored). Nothing to do when no mask is held."""
        if self._mask is None:
            return
        ok = self._mask[self._rows, actions]
        if skip is not None:
            ok |= skip
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise InputError("action", f"action {int(actions[i])} of env {i} is not available "
                             "there (see env.available / ActionResult.available)")


_SALT = 0x6D61736B  # keeps the wrapper's draws apart from the env's own, seeded alike


class DynamicActions(gym.Wrapper[Any, Any, Any, Any]):
    """A ``Discrete`` environment whose actions come and go: at each reset and step every
    action is available independently with probability ``available_prob`` (one chosen
    uniformly is forced when none is), reported in ``info["action_mask"]``; an unavailable
    action raises ``ValueError``. The draws depend only on the reset seed and ``seed``.

    >>> env = DynamicActions(gym.make("CartPole-v1"), available_prob=0.5)
    >>> _, info = env.reset(seed=3)
    >>> info["action_mask"]
    array([False,  True])
    """

    def __init__(self, env: gym.Env[Any, Any], available_prob: float = 0.5,
                 seed: int | None = None) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise SpaceError(f"DynamicActions needs a Discrete action space, got "
                             f"{env.action_space!r}")
        if not 0.0 < available_prob <= 1.0:
            raise ConfigError(f"available_prob: must be in (0, 1], got {available_prob}")
        self.available_prob = float(available_prob)
        self.seed = seed
        self._n = int(env.action_space.n)
        self._start = int(env.action_space.start)
        self._rng = np.random.default_rng(None if seed is None else [seed, _SALT])
        self._mask: np.ndarray | None = None

    def _draw(self) -> np.ndarray:
        mask = self._rng.random(self._n) < self.available_prob
        if not mask.any():
            mask[self._rng.integers(self._n)] = True
        self._mask = mask
        return mask.copy()

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            entropy = [seed, _SALT] if self.seed is None else [seed, self.seed, _SALT]
            self._rng = np.random.default_rng(entropy)
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, ACTION_MASK_KEY: self._draw()}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._mask is not None and not self._mask[int(action) - self._start]:
            raise ValueError(f"action {action} is not available: info['{ACTION_MASK_KEY}'] is "
                             f"{self._mask.astype(int).tolist()}")
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, ACTION_MASK_KEY: self._draw()}


__all__ = ["ACTION_MASK_KEY", "AVAILABILITY_KEYS", "CANDIDATES_KEY", "CANDIDATE_FEATURES_KEY",
           "AvailabilityReader", "DynamicActions", "find_catalogue", "vector_catalogue"]
