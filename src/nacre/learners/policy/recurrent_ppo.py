"""Recurrent PPO: PPO whose policy and value heads read an LSTM state carried through episodes.

The LSTM belongs to the recurrent summarizer (:class:`~nacre.history.RecurrentHistory`),
which moves each env's state one step per observation while acting. The rollout keeps the state
every env had at the rollout's start (:attr:`Rollout.initial_state
<nacre.data.rollout.Rollout.initial_state>`); learning re-runs the same LSTM over the rollout's
observations from there, zeroing the state where an episode ended as acting did, so the heads
learn on the states the actions were chosen from (up to the parameter changes of the round's
own updates, as in any recurrent PPO). Minibatches are whole env sequences (columns of the
``[T, B]`` rollout), and the gradient of the PPO loss flows through the whole sequence into the
LSTM: one optimizer step trains it with the heads.

Everything else is :class:`~nacre.learners.policy.ppo.PPO`: GAE(λ), the clipped surrogate, the
value loss, the schedules and the KL stop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.errors import InputError
from nacre.history.recurrent import unroll
from nacre.learners.policy.ppo import PPO, Minibatch, PPOConfig
from nacre.losses.returns import gae
from nacre.networks.actor_critic import ActorCritic
from nacre.types import Metrics


@dataclass(frozen=True)
class SequenceMinibatch(Minibatch):
    """Whole env sequences of a processed rollout: every field ``[T, b, ...]`` (time-major),
    plus where episodes start (``start``, ``[T, b]``), the LSTM state before the first step
    (``initial``, ``[b, 2H]``) and which steps are transitions (``valid``, ``[T, b]``)."""

    start: Tensor
    initial: Tensor
    valid: Tensor

    def __len__(self) -> int:
        return int(self.returns.numel())

    def select(self, idx: Tensor) -> SequenceMinibatch:
        """The sequences of env columns ``idx``."""
        old_value = None if self.old_value is None else self.old_value[:, idx]
        mask = None if self.mask is None else self.mask[:, idx]
        return SequenceMinibatch(self.obs[:, idx], self.action[:, idx],
                                 self.old_log_prob[:, idx], self.advantage[:, idx],
                                 self.returns[:, idx], old_value, mask, None,
                                 self.start[:, idx],
                                 self.initial[idx], self.valid[:, idx])


class RecurrentPPO(PPO):
    """PPO over an :class:`~nacre.networks.ActorCritic` that reads the hidden state ``h`` of
    ``lstm`` (shared with the recurrent summarizer, trained by the same optimizer)."""

    def __init__(self, net: ActorCritic, lstm: nn.LSTM, config: PPOConfig | None = None,
                 seed: int = 0) -> None:
        super().__init__(net, config, seed, also_train=lstm.parameters())
        self.lstm = lstm

    @torch.no_grad()
    def rows_of(self, rollout: Rollout) -> SequenceMinibatch:
        """The rollout with the collecting policy's log-probs, values, GAE advantages and
        λ-returns, kept as ``[T, B]`` sequences."""
        if rollout.initial_state is None:
            raise InputError("rollout", "recurrent PPO needs each env's LSTM state at the "
                             "rollout's start (history recurrent with buffer rollout)")
        steps, envs = rollout.steps, rollout.num_envs
        start = torch.zeros_like(rollout.terminated)
        start[1:] = (rollout.terminated | rollout.truncated)[:-1]  # acting reset the state
        h, ends = unroll(self.lstm, rollout.obs, rollout.initial_state, start)
        flat_h = h.reshape(steps * envs, -1)
        values = self.net.value(flat_h).view(steps, envs)
        # the value of each next observation: the next step's where the episode goes on; after
        # a stretch's last step (an episode ended there, or the rollout does) the LSTM reads
        # the true next observation (the final one of an ended episode) from the state there
        next_values = torch.empty_like(values)
        next_values[:-1] = values[1:]
        for t, state in ends:
            h_t, c_t = (x[None].contiguous() for x in state.chunk(2, dim=1))
            _, (h_next, _) = self.lstm(rollout.next_obs[t].float()[None], (h_t, c_t))
            next_values[t] = self.net.value(h_next[0])
        advantages, returns = gae(rollout.reward.float(), values, next_values,
                                  rollout.terminated, rollout.ends, self.config.gamma,
                                  self.config.gae_lambda)
        action = rollout.action.reshape(steps * envs, *rollout.action.shape[2:])
        mask = rollout.mask
        log_prob, _ = self.net.log_prob(flat_h, action, None if mask is None
                                        else mask.reshape(steps * envs, -1))
        return SequenceMinibatch(rollout.obs, rollout.action, log_prob.view(steps, envs),
                                 advantages, returns, values, mask, None, start,
                                 rollout.initial_state,
                                 rollout.valid)

    def _minibatches(self, rows: Minibatch, batch_size: int) -> Iterator[Minibatch]:
        """One epoch: shuffled groups of ``batch_size // T`` whole env sequences (at least
        one)."""
        assert isinstance(rows, SequenceMinibatch)
        steps, envs = rows.returns.shape
        order = torch.randperm(envs, generator=self.generator, device=self.generator.device)
        for idx in torch.split(order.to(rows.returns.device), max(1, batch_size // steps)):
            yield rows.select(idx)

    def _normalized(self, mb: Minibatch) -> Minibatch:
        return mb  # advantages are standardized over the valid steps in learn_minibatch

    def learn_minibatch(self, mb: Minibatch, kl_limit: float | None = None,
                        want_metrics: bool = True, take_step: bool = True) -> Metrics | None:
        """Re-run the LSTM over the sequences (with gradient), then PPO's step on their valid
        steps."""
        assert isinstance(mb, SequenceMinibatch)
        h, _ = unroll(self.lstm, mb.obs, mb.initial, mb.start)
        keep = mb.valid.reshape(-1)
        n = keep.shape[0]
        rows = Minibatch(h.reshape(n, -1)[keep], mb.action.reshape(n, *mb.action.shape[2:])[keep],
                         mb.old_log_prob.reshape(n)[keep], mb.advantage.reshape(n)[keep],
                         mb.returns.reshape(n)[keep],
                         None if mb.old_value is None else mb.old_value.reshape(n)[keep],
                         None if mb.mask is None else mb.mask.reshape(n, -1)[keep], None)
        return super().learn_minibatch(PPO._normalized(self, rows), kl_limit, want_metrics,
                                       take_step)

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        raise InputError("batch", "recurrent PPO learns from whole rollouts (learn_rollout): "
                         "its LSTM re-runs over each env's sequence")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "lstm": self.lstm.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.lstm.load_state_dict(state["lstm"])


__all__ = ["RecurrentPPO", "SequenceMinibatch"]
