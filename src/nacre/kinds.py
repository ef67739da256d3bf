"""The declared kinds of components: what a learner's scores are, what data a learner learns from,
what a buffer hands over. :func:`nacre.build` checks that components fit from these alone."""

from __future__ import annotations

from enum import StrEnum


class ScoresKind(StrEnum):
    """What a learner's ``scores`` are, so that exploration can say what it can read."""

    VALUES = "values"  # [B, K] action values (Q-values, predicted rewards)
    LOGITS = "logits"  # [B, K] logits of a categorical policy
    POSTERIOR = "posterior"  # [B, K, 2(+D)] posterior mean and spread (bandits)
    GAUSSIAN = "gaussian"  # [B, 2, d] mean and log std of a Gaussian policy
    ACTION = "action"  # [B, d] the action of a deterministic actor
    SQUASHED = "squashed"  # [B, 3, d] tanh(mean), mean, log std of a squashed Gaussian
    FACTORED = "factored"  # [B, k, K_max] logits of k independent categoricals (pad: -inf)
    ENSEMBLE = "ensemble"  # [B, K, 1 + M] the mean of M members' action values, then each's


class LearnerKind(StrEnum):
    """What data a learner learns from (and so which buffers fit it)."""

    REPLAY = "replay"  # sampled batches of transitions (a replay or an online buffer)
    ROLLOUT = "rollout"  # whole on-policy rollouts, then forgets them
    ONLINE = "online"  # every transition exactly once, in order (exact posteriors)


class BufferKind(StrEnum):
    """What a buffer hands to :meth:`nacre.Agent.learn`."""

    REPLAY = "replay"  # random samples of everything it holds
    ROLLOUT = "rollout"  # one whole rollout, read and cleared by an on-policy learner
    ONLINE = "online"  # every transition observed since the last round, once


__all__ = ["BufferKind", "LearnerKind", "ScoresKind"]
