"""Built-in history summarizers."""

from __future__ import annotations

from dataclasses import dataclass

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError, check_config
from nacre.history import IdentityHistory, SequenceHistory, StackingHistory
from nacre.history.recurrent import RecurrentHistory
from nacre.spaces import ActionFeatures, SequenceReader

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "history")


@component("identity", NoParams, "state = current observation (default)")
def _identity(cfg: NoParams, ctx: BuildContext) -> IdentityHistory:
    return IdentityHistory()


@dataclass(frozen=True)
class StackingConfig:
    """``k``: how many of the last observations the state holds; ``actions``: each with the
    action taken at its step (one-hot for discrete actions) and the episode marker."""

    k: int = 4
    actions: bool = False


@component("stacking", StackingConfig,
           "state = the last k observations (windows cut from replay when sampled)")
def _stacking(cfg: StackingConfig, ctx: BuildContext) -> StackingHistory | SequenceHistory:
    if cfg.actions:  # rows [observation, action, marker], flattened by the network
        return SequenceHistory(cfg.k, None, ActionFeatures(ctx.action_space))
    return StackingHistory(cfg.k)


def _check_predict(predict: int, length: int) -> None:
    if not 0 <= predict <= length:
        raise ConfigError(f"history.predict: how many of the next window's steps to predict, "
                          f"in [0, length = {length}]; got {predict}")


def _actions(on: bool, ctx: BuildContext) -> ActionFeatures | None:
    return ActionFeatures(ctx.action_space) if on else None


@dataclass(frozen=True)
class LSTMConfig:
    """``length``: how many of the last observations the LSTM reads at each decision;
    ``hidden``: its state size; ``burn_in``: oldest steps of a window read without gradient;
    ``actions``: each observation with the action taken at its step; ``predict``: also train
    the LSTM to predict the observations of the next window's last ``predict`` steps (DQN
    family; 0: off), that loss weighted by ``predict_weight``."""

    length: int = 8
    hidden: int = 64
    burn_in: int = 0
    actions: bool = False
    predict: int = 0
    predict_weight: float = 1.0

    def __post_init__(self) -> None:
        check_config(self, "history", positive=("hidden", "predict_weight"))
        _check_predict(self.predict, self.length)


@component("lstm", LSTMConfig,
           "state = an LSTM's reading of the last `length` observations, trained end to end")
def _lstm(cfg: LSTMConfig, ctx: BuildContext) -> SequenceHistory:
    return SequenceHistory(cfg.length, SequenceReader("lstm", cfg.hidden, cfg.burn_in,
                                                      predict=cfg.predict,
                                                      predict_weight=cfg.predict_weight),
                           _actions(cfg.actions, ctx))


@dataclass(frozen=True)
class TransformerConfig:
    """``length``: how many of the last observations it attends over; ``hidden``: the model
    width (a multiple of ``heads``); ``layers``: encoder layers; ``actions``: each observation
    with the action taken at its step; ``predict``, ``predict_weight``: as the LSTM's."""

    length: int = 8
    hidden: int = 64
    layers: int = 1
    heads: int = 2
    actions: bool = False
    predict: int = 0
    predict_weight: float = 1.0

    def __post_init__(self) -> None:
        check_config(self, "history", positive=("hidden", "layers", "heads", "predict_weight"))
        _check_predict(self.predict, self.length)


@component("transformer", TransformerConfig,
           "state = a small transformer over the last `length` observations, trained end to end")
def _transformer(cfg: TransformerConfig, ctx: BuildContext) -> SequenceHistory:
    return SequenceHistory(cfg.length, SequenceReader("transformer", cfg.hidden, 0, cfg.layers,
                                                      cfg.heads, cfg.predict,
                                                      cfg.predict_weight),
                           _actions(cfg.actions, ctx))


@dataclass(frozen=True)
class RecurrentConfig:
    """``hidden``: the LSTM's state size (what the policy and value heads read)."""

    hidden: int = 64

    def __post_init__(self) -> None:
        check_config(self, "history", positive=("hidden",))


@component("recurrent", RecurrentConfig,
           "state = an LSTM's state carried through the episode (recurrent PPO: learner ppo, "
           "buffer rollout)")
def _recurrent(cfg: RecurrentConfig, ctx: BuildContext) -> RecurrentHistory:
    return RecurrentHistory(cfg.hidden, ctx.device)
