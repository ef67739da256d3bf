"""Typed errors raised at nacre's public boundary.

Every error names the field that was wrong and what was expected, so a user never has to read a
stack trace from deep inside torch to learn that a reward was NaN or a preset name misspelt.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class NacreError(Exception):
    """Base class of every error nacre raises on purpose."""


class ConfigError(NacreError, ValueError):
    """A configuration, preset or component name is wrong; the message names the field."""


class InputError(NacreError, ValueError):
    """Data handed to a public method has the wrong shape, dtype, range or non-finite values."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SpaceError(NacreError, TypeError):
    """An observation or action space nacre does not support."""


def check_positive(field: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{field}: must be > 0, got {value}")


def check_unit_interval(field: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{field}: must be in [0, 1], got {value}")


def check_config(config: object, section: str = "learner", *, positive: tuple[str, ...] = (),
                 unit_interval: tuple[str, ...] = ()) -> None:
    """Check the named fields of a config dataclass (fields that are None are optional and
    skipped): ``positive`` ones must be > 0, ``unit_interval`` ones in [0, 1]. Errors name
    ``section.field``."""
    values = vars(config)
    for name in positive:
        if values[name] is not None:
            check_positive(f"{section}.{name}", values[name])
    for name in unit_interval:
        if values[name] is not None:
            check_unit_interval(f"{section}.{name}", values[name])


class CheckpointError(NacreError, ValueError):
    """A checkpoint folder is missing, incomplete, or does not match the agent it is loaded into."""


class EnvFaultError(NacreError, RuntimeError):
    """An environment kept raising: ``env.max_faults`` faults in a row (the message says the
    last one). The run stopped with a checkpoint; resume it once the environment is mended."""


class NonFiniteUpdateError(NacreError, ArithmeticError):
    """An update's gradient was NaN or inf and the optimizer was told to raise rather than skip
    the step (``nacre.optim.Adam(nonfinite="raise")``)."""


class MissingExtraError(NacreError, ImportError):
    """An optional dependency is not installed; the message names the pip command that adds it."""


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module``, which an optional extra of nacre provides, or raise
    :class:`MissingExtraError`: ``tensorboard is not installed: pip install "nacre[tensorboard]"``.

    ``package`` is what the user knows to be missing (default: ``extra``). Any ImportError
    counts — a package present but broken fails the same way, its own error chained as the
    cause for who reads the traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f'{package or extra} is not installed: pip install "nacre[{extra}]"') from exc
