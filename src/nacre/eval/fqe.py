"""Fitted Q Evaluation (Le, Voloshin & Yue 2019, "Batch Policy Learning under Constraints"):
the value of a policy from transitions another policy logged, over discrete or continuous
actions.

FQE fits ``Q^π`` by repeated regression: each iteration regresses ``Q(s, a)`` on
``r + γ (1 − terminated) Σ_a' π(a'|s') Q_prev(s', a')``, with ``Q_prev`` the previous
iteration's fit (here a target network synced every ``target_every`` gradient steps, as in
DQN, Mnih et al. 2015, rather than a regression solved to the end each time). The policy's
value is then ``mean_{s0} Σ_a π(a|s0) Q(s0, a)`` over initial states. Unlike importance
sampling it needs no propensities and its variance does not grow with the horizon; its error
is that of the function class and of the fit (Voloshin et al. 2019, "Empirical Study of
Off-Policy Policy Evaluation for Reinforcement Learning", find it a strong default).

Over continuous actions the Q-network takes ``(s, a)`` and ``π`` is given by actions sampled
from it (one per state for a deterministic policy): ``V^π(s') ≈ mean_k Q(s', a'_k)``.

A transition cut by a time limit is not terminated: it bootstraps from its next observation
like any other (see :mod:`nacre.losses.td`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from nacre.errors import InputError
from nacre.eval.ope import Estimate, percentile_interval
from nacre.eval.stats import mean, stratified_bootstrap_ci
from nacre.losses.td import td_loss, td_target
from nacre.networks.mlp import MLP
from nacre.optim import Adam

Data = ArrayLike | Tensor


@dataclass(frozen=True)
class FQEConfig:
    """How FQE fits its Q-network.

    Attributes:
        gamma: discount of the value being estimated.
        hidden: widths of the Q-network's hidden layers.
        steps: Adam steps in all (``steps / target_every`` FQE iterations).
        target_every: gradient steps per FQE iteration, after which the target network takes
            the fitted weights. Enough iterations are needed for ``γ^iterations`` to vanish.
        batch_size: transitions per minibatch, drawn with replacement.
        lr: Adam's learning rate.
        loss: ``mse`` (the regression of the paper) or ``huber``.
        seed: seeds the network's initial weights and the minibatches.
    """

    gamma: float = 0.99
    hidden: tuple[int, ...] = (64, 64)
    steps: int = 20_000
    target_every: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    loss: Literal["huber", "mse"] = "mse"
    seed: int = 0


@dataclass(frozen=True)
class FQEResult:
    """The estimate and what it came from.

    ``estimate``'s interval is a bootstrap over the initial states only: it shows how much the
    value varies between start states, not how wrong the fitted Q may be (for that, refit on
    resampled episodes with :func:`fqe_bootstrap`). ``initial_values`` are ``V^π(s0)`` per
    initial state; ``q`` maps raw observations to ``[B, A]`` values (discrete actions) or raw
    ``(obs, action)`` pairs to ``[B]`` values (continuous ones); ``losses`` is the mean
    regression loss of each iteration.
    """

    estimate: Estimate
    initial_values: NDArray[np.float64]
    q: nn.Module
    losses: list[float] = field(default_factory=list)


class _Standardizing(nn.Module):
    """An MLP on inputs standardized with the logged data's statistics: the fit then does not
    depend on the units of each feature."""

    def __init__(self, body: nn.Module, shift: Tensor, scale: Tensor) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("shift", shift)
        self.register_buffer("scale", scale)
        self.shift: Tensor
        self.scale: Tensor

    def body_of(self, x: Tensor) -> Tensor:
        out: Tensor = self.body((x - self.shift) / self.scale)
        return out


class _DiscreteQ(_Standardizing):
    """``Q(s, ·)`` ``[B, A]`` of raw observations."""

    def forward(self, obs: Tensor) -> Tensor:
        return self.body_of(obs)

    def at(self, obs: Tensor, action: Tensor) -> Tensor:
        """``Q(s, a)`` ``[B]`` of the logged actions ``[B]``."""
        return self.forward(obs).gather(1, action.unsqueeze(1)).squeeze(1)

    def value(self, obs: Tensor, target: Tensor) -> Tensor:
        """``V^π(s) = Σ_a π(a|s) Q(s, a)``, ``π`` given as ``[B, A]`` probabilities."""
        return (target * self.forward(obs)).sum(dim=1)


class _ContinuousQ(_Standardizing):
    """``Q(s, a)`` ``[...]`` of raw observations and actions ``[..., d]``."""

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.body_of(torch.cat([obs, action], dim=-1)).squeeze(-1)

    def at(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.forward(obs, action)

    def value(self, obs: Tensor, target: Tensor) -> Tensor:
        """``V^π(s) ≈ mean_k Q(s, a_k)``, ``π`` given as ``[B, K, d]`` sampled actions."""
        return self.forward(obs.unsqueeze(1).expand(-1, target.shape[1], -1), target).mean(dim=1)


def _tensor(name: str, x: Data, ndim: int, rows: int | None = None) -> Tensor:
    try:
        t = x.detach().cpu() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
        t = t.to(torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(name, f"expected numbers: {exc}") from exc
    if t.ndim != ndim or t.shape[0] == 0:
        raise InputError(name, f"expected a non-empty {ndim}-D array, got shape {list(t.shape)}")
    if rows is not None and t.shape[0] != rows:
        raise InputError(name, f"expected {rows} rows, got {t.shape[0]}")
    if not torch.isfinite(t).all():
        raise InputError(name, "contains NaN or inf")
    return t


def _policy(name: str, x: Data, rows: int, n_actions: int | None) -> Tensor:
    p = _tensor(name, x, 2, rows)
    if n_actions is not None and p.shape[1] != n_actions:
        raise InputError(name, f"expected {n_actions} actions per row, got {p.shape[1]}")
    if (p < 0).any() or (p.sum(dim=1) - 1).abs().max() > 1e-4:
        raise InputError(name, "rows must be action distributions (>= 0, summing to 1)")
    return p


@dataclass(frozen=True)
class _Transitions:
    """Checked logged transitions as CPU tensors; ``pi0`` is the policy at ``s0``."""

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    terminated: Tensor
    next_target: Tensor
    s0: Tensor
    pi0: Tensor

    def rows(self, i: Tensor) -> _Transitions:
        """These rows of the transitions (the initial states stay as they are)."""
        return _Transitions(self.obs[i], self.action[i], self.reward[i], self.next_obs[i],
                            self.terminated[i], self.next_target[i], self.s0, self.pi0)


def _transitions(obs: Data, action: Data, reward: Data, next_obs: Data, terminated: Data,
                 next_target: Data, initial_obs: Data, initial_target: Data) -> _Transitions:
    """Checked inputs; floating-point ``[N, d]`` actions make the problem continuous."""
    s = _tensor("obs", obs, 2)
    n = s.shape[0]
    s0 = _tensor("initial_obs", initial_obs, 2)
    a = action.detach().cpu() if isinstance(action, Tensor) else torch.as_tensor(
        np.asarray(action))
    if a.is_floating_point():
        a = _tensor("action", a, 2, n)
        pi_next = _actions("next_target", next_target, n, a.shape[1])
        pi0 = _actions("initial_target", initial_target, s0.shape[0], a.shape[1])
    else:
        pi_next = _policy("next_target", next_target, n, None)
        if a.shape != (n,) or a.min() < 0 or a.max() >= pi_next.shape[1]:
            raise InputError("action", f"expected [{n}] integer indices in [0, "
                                       f"{pi_next.shape[1]}) or [{n}, d] continuous actions")
        a = a.long()
        pi0 = _policy("initial_target", initial_target, s0.shape[0], pi_next.shape[1])
    r, s_next = _tensor("reward", reward, 1, n), _tensor("next_obs", next_obs, 2, n)
    done = _tensor("terminated", terminated, 1, n)
    data = _Transitions(s, a, r, s_next, done, pi_next, s0, pi0)
    if data.next_obs.shape[1] != s.shape[1] or s0.shape[1] != s.shape[1]:
        raise InputError("next_obs", "obs, next_obs and initial_obs need the same width")
    return data


def _actions(name: str, x: Data, rows: int, width: int) -> Tensor:
    """The policy's actions at each state, ``[rows, d]`` (one each) or ``[rows, K, d]`` (K
    samples each), as ``[rows, K, d]``."""
    ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
    t = _tensor(name, x, ndim if ndim in (2, 3) else 3, rows)
    t = t.unsqueeze(1) if t.ndim == 2 else t
    if t.shape[2] != width or t.shape[1] == 0:
        raise InputError(name, f"expected [{rows}, {width}] or [{rows}, K, {width}] actions of "
                               f"the evaluated policy, got shape {list(t.shape)}")
    return t


def _check_config(cfg: FQEConfig) -> None:
    if not 0.0 <= cfg.gamma <= 1.0:
        raise InputError("config.gamma", f"must lie in [0, 1], got {cfg.gamma}")
    if min(cfg.steps, cfg.target_every, cfg.batch_size) < 1:
        raise InputError("config", "steps, target_every and batch_size must be >= 1")


def fqe(obs: Data, action: Data, reward: Data, next_obs: Data, terminated: Data,
        next_target: Data, initial_obs: Data, initial_target: Data,
        config: FQEConfig | None = None) -> FQEResult:
    """Estimate the value of a policy ``π`` from logged transitions with FQE.

    Use it where importance sampling breaks down: long episodes or a near-deterministic ``π``
    make the products of ratios explode or vanish, while FQE needs no propensities at all.
    ``obs``/``next_obs`` ``[N, d]``, ``reward`` and ``terminated`` ``[N]``; ``initial_obs``
    ``[M, d]`` the start states. NumPy or torch. ``π`` is given at ``next_obs`` and at the
    start states:

    - discrete actions: ``action`` ``[N]`` (int); ``next_target`` ``[N, A]`` is
      ``π(·|next_obs)`` and ``initial_target`` ``[M, A]`` is ``π(·|s0)``;
    - continuous actions: ``action`` ``[N, k]`` (float); ``next_target`` ``[N, k]`` or
      ``[N, K, k]`` are ``π``'s actions at ``next_obs`` (one per state for a deterministic
      policy, K samples for a stochastic one), ``initial_target`` the same at ``s0``.
    """
    cfg = config or FQEConfig()
    _check_config(cfg)
    data = _transitions(obs, action, reward, next_obs, terminated, next_target, initial_obs,
                        initial_target)
    q, losses = _fit(data, cfg)
    values = _initial_values(q, data)
    point, low, high = stratified_bootstrap_ci(values, mean, seed=cfg.seed)
    return FQEResult(Estimate("fqe", point, low, high, values.shape[0]), values, q, losses)


def _initial_values(q: _DiscreteQ | _ContinuousQ, data: _Transitions) -> NDArray[np.float64]:
    with torch.no_grad():
        values: NDArray[np.float64] = q.value(data.s0, data.pi0).double().numpy()
    return values


def _q_network(data: _Transitions, cfg: FQEConfig) -> _DiscreteQ | _ContinuousQ:
    """A fresh Q-network, seeded without touching the global RNG, standardizing its inputs
    (observations, and continuous actions) with the logged data's statistics."""
    continuous = data.action.is_floating_point()
    x = torch.cat([data.obs, data.action], dim=1) if continuous else data.obs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        body = MLP(x.shape[1], cfg.hidden, 1 if continuous else data.next_target.shape[1])
    scale = x.std(dim=0).clamp(min=1e-6) if x.shape[0] > 1 else torch.ones(x.shape[1])
    return (_ContinuousQ if continuous else _DiscreteQ)(body, x.mean(dim=0), scale)


def _fit(data: _Transitions, cfg: FQEConfig) -> tuple[_DiscreteQ | _ContinuousQ, list[float]]:
    """The FQE regression: minibatch Adam steps on ``Q(s, a)`` towards ``td_target`` from a
    target network that takes the fitted weights every ``target_every`` steps."""
    obs, action, reward, next_obs = data.obs, data.action, data.reward, data.next_obs
    terminated, next_target = data.terminated, data.next_target
    generator = torch.Generator().manual_seed(cfg.seed)
    q = _q_network(data, cfg)
    q_target = copy.deepcopy(q).requires_grad_(False)
    optimizer = Adam(q.parameters(), lr=cfg.lr)
    losses: list[float] = []
    running = torch.zeros(())
    for step in range(1, cfg.steps + 1):
        i = torch.randint(obs.shape[0], (cfg.batch_size,), generator=generator)
        with torch.no_grad():  # V^π(s') under the previous iteration's Q
            next_value = q_target.value(next_obs[i], next_target[i])
            y = td_target(reward[i], next_value, terminated[i], cfg.gamma)
        q_sa = q.at(obs[i], action[i])
        loss = td_loss(q_sa, y, cfg.loss)
        optimizer.minimize(loss)
        running += loss.detach()
        if step % cfg.target_every == 0:  # one FQE iteration done: Q_prev ← Q
            q_target.load_state_dict(q.state_dict())
            losses.append(float(running) / cfg.target_every)
            running.zero_()
    return q.eval().requires_grad_(False), losses  # a fitted result, not a model to train


def fqe_bootstrap(obs: Data, action: Data, reward: Data, next_obs: Data, terminated: Data,
                  next_target: Data, initial_obs: Data, initial_target: Data,
                  episode_starts: ArrayLike, config: FQEConfig | None = None, *,
                  refits: int = 20, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """FQE's point estimate with a percentile interval from ``refits`` fits on episodes
    resampled with replacement (``episode_starts``: the row where each episode begins).

    Unlike :func:`fqe`'s interval this one includes the fit's own error, at ``refits + 1``
    times the cost; with few refits its ends are rough, so read it as a guide.
    """
    cfg = config or FQEConfig()
    _check_config(cfg)
    data = _transitions(obs, action, reward, next_obs, terminated, next_target, initial_obs,
                        initial_target)
    n = data.obs.shape[0]
    starts = np.asarray(episode_starts)
    if (starts.ndim != 1 or starts.size == 0 or not np.issubdtype(starts.dtype, np.integer)
            or starts[0] != 0 or (np.diff(starts) <= 0).any() or starts[-1] >= n):
        raise InputError("episode_starts", f"must be integers from 0, increasing strictly "
                                           f"below {n}")
    if refits < 2 or not 0.0 < confidence < 1.0:
        raise InputError("refits", "needs refits >= 2 and confidence in (0, 1)")
    point = float(_initial_values(_fit(data, cfg)[0], data).mean())
    ends = np.append(starts[1:], n)
    rng = np.random.default_rng(seed)
    values = []
    for k in range(refits):
        picked = rng.integers(0, starts.size, size=starts.size)
        rows = np.concatenate([np.arange(starts[e], ends[e]) for e in picked])
        q, _ = _fit(data.rows(torch.as_tensor(rows)), replace(cfg, seed=cfg.seed + k + 1))
        values.append(float(_initial_values(q, data).mean()))
    low, high = percentile_interval(np.asarray(values), confidence)
    return Estimate("fqe", point, low, high, int(starts.size), confidence, refits)


__all__ = ["FQEConfig", "FQEResult", "fqe", "fqe_bootstrap"]
