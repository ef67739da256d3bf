"""Sequence encoders: read a window of the last ``L`` observations (a
:class:`~nacre.spaces.SequenceBox`) into one feature vector, trained through the learner's loss.

The window's last feature marks the steps of the current episode (1) against the zero padding
before its start (0). The LSTM keeps its state at zero through the padding, so a window that
starts mid-padding reads exactly as the episode's first steps; the transformer masks the padding
out of attention. Acting and learning read the same windows (the agent keeps its envs' windows,
the replay buffer cuts the same ones from its ring), so the summary an action was chosen on is
the summary it is learned on: no stale recurrent state (the mismatch R2D2's burn-in softens).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nacre.errors import SpaceError
from nacre.networks.base import Encoder
from nacre.spaces import SequenceBox


class MaskedLSTM(nn.Module):
    """An LSTM over ``[B, T, D]`` inputs whose state restarts from zero before the steps where
    ``restart`` (``[B, T]``) is True, one step at a time (the readable form; episodes of a batch
    restart at different steps)."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(in_dim, hidden)
        self.hidden = hidden

    def forward(self, x: Tensor, restart: Tensor,
                state: tuple[Tensor, Tensor] | None = None,
                no_grad_steps: int = 0) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Outputs ``[B, T, hidden]`` and the state after the last step; the first
        ``no_grad_steps`` steps run without gradient (burn-in)."""
        b, t = x.shape[:2]
        h, c = state if state is not None else (x.new_zeros(b, self.hidden),
                                                 x.new_zeros(b, self.hidden))
        keep = (~restart).to(x.dtype)[..., None]
        outputs = []
        for i in range(t):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= no_grad_steps):
                h, c = self.cell(x[:, i], (h * keep[:, i], c * keep[:, i]))
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


class LSTMWindowEncoder(Encoder):
    """The LSTM's output after the window's last step; its state is zero until the episode's
    first step in the window (the marker feature goes in too)."""

    def __init__(self, in_dim: int, hidden: int, burn_in: int) -> None:
        super().__init__()
        self.lstm = MaskedLSTM(in_dim, hidden)
        self.burn_in = burn_in
        self.out_dim = hidden

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.float()
        # the state restarts after every padding step: the episode's first step starts at zero
        padding = x[..., -1] < 0.5
        restart = torch.cat([torch.ones_like(padding[:, :1]), padding[:, :-1]], dim=1)
        _, (h, _) = self.lstm(x, restart, no_grad_steps=self.burn_in)
        out: Tensor = h
        return out


class TransformerWindowEncoder(Encoder):
    """A small transformer over the window (learned positions, padding masked out of
    attention); the features are its output at the last, current step. The window holds only
    the past, so reading the last position is causal."""

    def __init__(self, in_dim: int, length: int, hidden: int, layers: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.position = nn.Parameter(torch.zeros(1, length, hidden))
        nn.init.normal_(self.position, std=0.02)
        # layers kept as a list, not nn.TransformerEncoder: its nested-tensor fast path warns
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=2 * hidden, dropout=0.0,
                                       batch_first=True, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = hidden

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.float()
        padding = x[..., -1] < 0.5
        z = self.embed(x) + self.position
        for layer in self.layers:
            z = layer(z, src_key_padding_mask=padding)
        out: Tensor = self.norm(z[:, -1])
        return out


class NextWindowPredictor(nn.Module):
    """Predicts the observations of the next window's last ``rows`` steps from an encoder's
    features and the action taken (one of ``n_actions``, one-hot): a linear map, so the
    features themselves must carry what changes between observations
    (:func:`~nacre.losses.next_window_loss`, weighted by ``weight`` in the learner's loss)."""

    def __init__(self, in_dim: int, n_actions: int, rows: int, observation_width: int,
                 weight: float) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim + n_actions, rows * observation_width)
        self.n_actions = n_actions
        self.rows = rows
        self.observation_width = observation_width
        self.weight = weight

    def forward(self, features: Tensor, action: Tensor) -> Tensor:
        onehot = nn.functional.one_hot(action.long(), self.n_actions).to(features.dtype)
        out: Tensor = self.linear(torch.cat([features, onehot], dim=1))
        return out


def make_sequence_encoder(space: SequenceBox) -> Encoder:
    """The encoder ``space.reader`` names, for windows of ``space``'s shape."""
    length, in_dim = (int(s) for s in space.shape)
    reader = space.reader
    if reader is None:
        raise SpaceError("these windows name no sequence reader (a stacking summarizer's)")
    if reader.kind == "lstm":
        return LSTMWindowEncoder(in_dim, reader.hidden, reader.burn_in)
    if reader.kind == "transformer":
        return TransformerWindowEncoder(in_dim, length, reader.hidden, reader.layers,
                                        reader.heads)
    raise SpaceError(f"unknown sequence reader {reader.kind!r}: lstm | transformer")


__all__ = ["LSTMWindowEncoder", "MaskedLSTM", "NextWindowPredictor",
           "TransformerWindowEncoder", "make_sequence_encoder"]
