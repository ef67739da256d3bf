"""Making environments by id: any registered Gymnasium id (one env, or ``B`` copies stepped as a
batch) and nacre's contextual-bandit ids (``bandit/...``)."""

from __future__ import annotations

import difflib
import functools
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from nacre.envs.bandits import ClassificationBandit, SyntheticLinearBandit
from nacre.envs.base import Env
from nacre.envs.datasets import load_dataset
from nacre.envs.faults import FaultTolerant
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.sync import SyncEnvs
from nacre.errors import ConfigError, SpaceError

Vectorization = Literal["auto", "none", "sync", "async"]


def make_env(
    env_id: str,
    num_envs: int = 1,
    vectorization: Vectorization = "auto",
    max_faults: int = 0,
    **kwargs: Any,
) -> Env:
    """Make a registered Gymnasium env (any id) as a nacre env with ``num_envs`` copies.

    ``vectorization``: ``auto`` (one env unwrapped when ``num_envs == 1``, else ``sync``),
    ``none`` (requires ``num_envs == 1``), ``sync`` (nacre's :class:`~nacre.envs.sync.SyncEnvs`,
    one process) or ``async`` (Gymnasium's subprocess vector env).

    ``max_faults > 0``: an exception in a copy's ``step`` or ``reset`` ends its episode as
    truncated and the copy is made anew; the ``max_faults``-th fault in a row raises
    :class:`~nacre.errors.EnvFaultError` (:mod:`nacre.envs.faults`; with ``async``, inside each
    copy's subprocess). ``0``: exceptions propagate.

    ``bandit/...`` ids are nacre's contextual bandits (:mod:`nacre.envs.bandits`), which are
    natively batched: ``vectorization`` does not apply and ``kwargs`` go to their factory.
    """
    if env_id.startswith("bandit/"):
        return make_bandit_env(env_id, num_envs, **kwargs)
    if num_envs < 1:
        raise ConfigError(f"env.num_envs must be >= 1, got {num_envs}")
    if max_faults < 0:
        raise ConfigError(f"env.max_faults must be >= 0, got {max_faults}")
    if env_id not in gym.registry:
        close = [k for k in gym.registry if k.lower().startswith(env_id.lower().split("-")[0])]
        hint = f" (similar: {', '.join(sorted(close)[:5])})" if close else ""
        raise ConfigError(f"env.id: unknown Gymnasium environment {env_id!r}{hint}")
    if vectorization == "auto":
        vectorization = "none" if num_envs == 1 else "sync"
    if vectorization == "none":
        if num_envs != 1:
            raise ConfigError("env.vectorization 'none' needs env.num_envs == 1")
        def make() -> gym.Env[Any, Any]:
            return gym.make(env_id, **kwargs)

        try:
            return GymEnv(FaultTolerant(make(), make, max_faults) if max_faults else make())
        except TypeError as exc:
            raise ConfigError(f"env.kwargs: {env_id} does not accept {kwargs}: {exc}") from exc
    if vectorization not in ("sync", "async"):
        raise ConfigError(
            f"env.vectorization: expected one of auto|none|sync|async, got {vectorization!r}"
        )
    if vectorization == "sync":
        try:
            return SyncEnvs(lambda: gym.make(env_id, **kwargs), num_envs, max_faults)
        except TypeError as exc:
            raise ConfigError(f"env.kwargs: {env_id} does not accept {kwargs}: {exc}") from exc
    # Gymnasium's subprocess workers own the copies: each copy handles its own faults there.
    remake = functools.partial(gym.make, env_id, **kwargs)
    wrappers = ([functools.partial(FaultTolerant, make=remake, max_faults=max_faults)]
                if max_faults else None)
    try:
        vec = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode=vectorization,
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            wrappers=wrappers,
            **kwargs,
        )
    except (TypeError, ValueError) as exc:
        raise SpaceError(f"could not vectorize {env_id!r}: {exc}") from exc
    return GymVectorEnv(vec)


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


__all__ = ["BANDIT_ENV_IDS", "Vectorization", "make_bandit_env", "make_env"]
