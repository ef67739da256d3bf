"""Making environments: any Gymnasium env — by registered id, by ``module:Id``, as an instance
or from a callable (:mod:`nacre.envs.sources`) — as one env or ``B`` copies stepped as a batch,
and nacre's contextual-bandit ids (``bandit/...``)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, AutoresetMode
from gymnasium.vector.utils import CloudpickleWrapper

from nacre.envs.bandits import ClassificationBandit, SyntheticLinearBandit
from nacre.envs.base import Env
from nacre.envs.datasets import load_dataset
from nacre.envs.faults import FaultTolerant
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.sources import Copies, EnvLike, Instance, describe, maker
from nacre.envs.sync import SyncEnvs
from nacre.errors import ConfigError, NacreError, SpaceError

Vectorization = Literal["auto", "none", "sync", "async"]


def make_env(
    env: EnvLike,
    num_envs: int = 1,
    vectorization: Vectorization = "auto",
    max_faults: int = 0,
    **kwargs: Any,
) -> Env:
    """Make a Gymnasium env as a nacre env with ``num_envs`` copies.

    ``env`` is a registered id (``"CartPole-v1"``), ``"module:Id"`` (``module`` is imported
    first, as ``gymnasium.make`` does, and registers ``Id``), a :class:`gymnasium.Env` instance
    (one copy: ``num_envs`` must be 1) or a zero-argument callable returning one (called once
    per copy; its class will do). ``kwargs`` go to ``gymnasium.make`` (ids only).

    ``vectorization``: ``auto`` (one env unwrapped when ``num_envs == 1``, else ``sync``),
    ``none`` (requires ``num_envs == 1``), ``sync`` (nacre's :class:`~nacre.envs.sync.SyncEnvs`,
    one process) or ``async`` (Gymnasium's subprocess vector env; a callable must then be
    picklable).

    ``max_faults > 0``: an exception in a copy's ``step`` or ``reset`` ends its episode as
    truncated and the copy is made anew (an instance: from a deep copy taken now); the
    ``max_faults``-th fault in a row raises :class:`~nacre.errors.EnvFaultError`
    (:mod:`nacre.envs.faults`; with ``async``, inside each copy's subprocess). ``0``:
    exceptions propagate.

    ``bandit/...`` ids are nacre's contextual bandits (:mod:`nacre.envs.bandits`), which are
    natively batched: ``vectorization`` does not apply and ``kwargs`` go to their factory.
    """
    if isinstance(env, str) and env.startswith("bandit/"):
        return make_bandit_env(env, num_envs, **kwargs)
    if num_envs < 1:
        raise ConfigError(f"env.num_envs must be >= 1, got {num_envs}")
    if max_faults < 0:
        raise ConfigError(f"env.max_faults must be >= 0, got {max_faults}")
    if vectorization == "auto":
        vectorization = "none" if num_envs == 1 else "sync"
    if vectorization not in ("none", "sync", "async"):
        raise ConfigError(
            f"env.vectorization: expected one of auto|none|sync|async, got {vectorization!r}"
        )
    if vectorization == "none" and num_envs != 1:
        raise ConfigError("env.vectorization 'none' needs env.num_envs == 1")
    make = (_instance(env, num_envs, vectorization, max_faults, kwargs)
            if isinstance(env, gym.Env) else maker(env, kwargs))
    # The adapters are made outside any except clause: what they refuse (a space nacre does
    # not support) is reported as it is, not blamed on env.kwargs.
    if vectorization == "none":
        return GymEnv(FaultTolerant(make(), make, max_faults) if max_faults else make())
    if vectorization == "sync":
        return SyncEnvs(make, num_envs, max_faults)
    return GymVectorEnv(_subprocess_copies(make, num_envs, max_faults, describe(env)))


def _instance(env: gym.Env[Any, Any], num_envs: int, vectorization: str, max_faults: int,
              kwargs: dict[str, Any]) -> Instance:
    name = describe(env)
    if kwargs:
        raise ConfigError(f"env.kwargs: {sorted(kwargs)} apply to an env id; {name} is an "
                          "instance already")
    if num_envs != 1 or vectorization == "async":
        what = (f"env.num_envs = {num_envs}" if num_envs != 1
                else "vectorization 'async' (a copy in a subprocess)")
        raise ConfigError(f"env: an env instance is one copy; for {what} pass a zero-argument "
                          f"callable that makes one (e.g. its class, "
                          f"{name.rpartition('.')[2]}), called once per copy")
    return Instance(env, Copies(env, "env.max_faults > 0") if max_faults else None)


def _subprocess_copies(make: Callable[[], gym.Env[Any, Any]], num_envs: int, max_faults: int,
                       name: str) -> AsyncVectorEnv:
    """Gymnasium's subprocess vector env (SAME_STEP autoreset); the workers own the copies, and
    each copy handles its own faults there."""
    copy = functools.partial(_tolerant, make, max_faults) if max_faults else make
    # Under the spawn and forkserver start methods (macOS, Windows; Linux from Python 3.14)
    # Gymnasium pickles each worker's maker this way: checked everywhere, so that what runs here
    # runs there, and refused in one line rather than in a worker's traceback.
    try:
        CloudpickleWrapper(copy).__getstate__()  # what Gymnasium sends: serialized, never loaded
    except Exception as exc:  # cloudpickle's PicklingError, TypeError, AttributeError …
        raise ConfigError(f"env: vectorization 'async' sends {name} to subprocesses, and it "
                          f"cannot be pickled ({exc}): define it at module level, or use "
                          "vectorization 'sync'") from exc
    try:
        return AsyncVectorEnv([copy] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    except NacreError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpaceError(f"could not vectorize {name!r}: {exc}") from exc


def _tolerant(make: Callable[[], gym.Env[Any, Any]], max_faults: int) -> FaultTolerant:
    return FaultTolerant(make(), make, max_faults)


BANDIT_ENV_IDS: tuple[str, ...] = (
    "bandit/digits",
    "bandit/wine",
    "bandit/breast_cancer",
    "bandit/letter",
    "bandit/pendigits",
    "bandit/satimage",
    "bandit/yeast",
    "bandit/synthetic-linear",
    "bandit/synthetic-drift",
)
_SYNTHETIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "bandit/synthetic-linear": {},
    "bandit/synthetic-drift": {"drift": 0.01},
}
_DATASET_KWARGS = ("noise_std", "standardize", "cache_dir", "base_url", "progress")
_SYNTHETIC_KWARGS = ("n_actions", "context_dim", "noise_std", "drift", "available_prob",
                     "arm_features", "feature_dim", "problem_seed")


def make_bandit_env(
    env_id: str, num_envs: int = 1, **kwargs: Any
) -> ClassificationBandit | SyntheticLinearBandit:
    """Build a registered bandit env (one of :data:`BANDIT_ENV_IDS`) with ``num_envs`` decisions.

    Data-set ids accept ``noise_std`` and ``standardize`` (for :class:`ClassificationBandit`) and
    the loader's ``cache_dir``, ``base_url`` and ``progress`` (see
    :func:`nacre.envs.datasets.load_dataset`); synthetic ids accept the keyword arguments of
    :class:`SyntheticLinearBandit`.
    """
    if env_id not in BANDIT_ENV_IDS:
        close = difflib.get_close_matches(env_id, BANDIT_ENV_IDS, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"env.id: unknown bandit environment {env_id!r}{hint}; registered: "
                          f"{', '.join(BANDIT_ENV_IDS)}")
    allowed = _SYNTHETIC_KWARGS if env_id in _SYNTHETIC_DEFAULTS else _DATASET_KWARGS
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"env.kwargs: {env_id} does not accept {', '.join(unknown)}; it "
                          f"accepts {', '.join(allowed)}")
    if env_id in _SYNTHETIC_DEFAULTS:
        env = SyntheticLinearBandit(num_envs=num_envs,
                                    **{**_SYNTHETIC_DEFAULTS[env_id], **kwargs})
        env.name = env_id
        return env
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        # checked before the (possibly downloading) load as well as in the constructor
        raise ConfigError(f"env.num_envs must be an integer >= 1, got {num_envs!r}")
    name = env_id.removeprefix("bandit/")
    loader = {k: kwargs.pop(k) for k in ("cache_dir", "base_url", "progress") if k in kwargs}
    X, y = load_dataset(name, **loader)
    return ClassificationBandit(X, y, num_envs=num_envs, name=env_id, **kwargs)


__all__ = ["BANDIT_ENV_IDS", "EnvLike", "Vectorization", "make_bandit_env", "make_env"]
