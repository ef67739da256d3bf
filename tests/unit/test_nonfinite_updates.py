"""A gradient that is not finite (a diverging loss, a reward whose square overflows float32)
never reaches the parameters: the update is skipped and counted, or, configured so, raises."""

import pytest
import torch

import nacre
from nacre.data.batch import TransitionBatch
from nacre.errors import NonFiniteUpdateError
from nacre.optim import Adam


def test_adam_skips_a_nonfinite_step_and_counts_it() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    opt = Adam([w], lr=0.1)
    opt.minimize((w * 2).sum())
    after_one = w.detach().clone()
    state = opt.state_dict()
    opt.minimize((w * float("inf")).sum())
    assert torch.equal(w.detach(), after_one) and opt.skipped_steps == 1
    assert str(opt.state_dict()) == str(state)  # moments and step counter untouched
    opt.minimize((w * 2).sum())
    assert not torch.equal(w.detach(), after_one) and opt.skipped_steps == 1


def test_adam_raises_when_told_to() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    opt = Adam([w], lr=0.1, nonfinite="raise")
    with pytest.raises(NonFiniteUpdateError, match="not finite"):
        opt.minimize((w * float("nan")).sum())
    assert torch.equal(w.detach(), torch.ones(3))


def overflowing_batch() -> TransitionBatch:
    """Valid by every input check (finite), but an MSE TD error of 3e38 overflows float32."""
    n = 8
    return TransitionBatch(obs=torch.zeros(n, 4), action=torch.zeros(n, dtype=torch.int64),
                           reward=torch.full((n,), 3e38), next_obs=torch.zeros(n, 4),
                           terminated=torch.ones(n))


@pytest.mark.parametrize("accelerate", ["off", "auto"])
def test_a_learner_skips_by_default_and_raises_when_configured(accelerate: str) -> None:
    overrides = ["learner.loss=mse", f"train.accelerate={accelerate}"]
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(overrides))
    before = {k: v.clone() for k, v in run.agent.learner.q.state_dict().items()}  # type: ignore[attr-defined]
    run.agent.learn_batch(overflowing_batch())
    after = run.agent.learner.q.state_dict()  # type: ignore[attr-defined]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert run.agent.learner.optimizer.skipped_steps == 1  # type: ignore[attr-defined]

    strict = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(
        [*overrides, "learner.nonfinite=raise"]))
    with pytest.raises(NonFiniteUpdateError):
        strict.agent.learn_batch(overflowing_batch())
