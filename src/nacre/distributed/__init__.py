"""Scale-out: collectors stepping their own environments for one learner, in this process or
as Ray actors (the ``[ray]`` extra), from the same config file (docs/distributed.md).

Design
------
A run with ``train.sync_every > 0`` has ``train.num_collectors`` *collectors*
(:class:`~nacre.distributed.collector.Collector`). Each builds, from the run's config, its own
``env.num_envs`` environments and an acting copy of the agent — the same
:func:`nacre.build`, the same ``act`` / ``observe`` — and steps them a *chunk* at a time:
``k = sync_every / (num_collectors × num_envs)`` steps (rounded up), acting with the learner's
weights of the chunk's start. What its agent stores comes back as a
:class:`~nacre.data.StepChunk`: ``[k, B, ...]`` NumPy arrays per field, no Python object per
transition.

The learner is the run's agent in the driver process, trained by the loop of
:func:`nacre.fit` (:func:`nacre.train.loop.run_loop`): the chunks of all collectors are
joined side by side — to the learner, one env of ``num_collectors × num_envs`` copies — and
handed to the loop one step at a time, each stored in the learner's buffer and counted as
``observe`` would. So ``train_freq``, ``gradient_steps``, ``learning_starts``, target updates,
logging, evaluation and checkpoints run on the same schedule, counted in env steps over all
envs, and the run folder (``metrics.jsonl``, ``checkpoints/``, ``summary.json``, plots) and
the progress display are those of any run. When a chunk is used up, the learner's
``state_dict`` is sent to every collector (when a training round changed it since the last
send) and the next chunk is collected. The schedule is synchronous: collectors wait while the
learner trains, and the learner waits for the slowest collector.

Same result on either backend. ``train.backend`` decides only where collectors run: ``local``
— plain objects in the learner's process, stepped one after the other
(:class:`~nacre.distributed.driver.LocalCollectors`); ``ray`` — one Ray actor each, stepping at
once (:class:`~nacre.distributed.ray_backend.RayCollectors`). Everything a collector computes
depends only on the config, its index and the weights it is sent, so the same config and seed
give the same learner, bit for bit, on either (tests/integration/test_ray_backend.py). Seeds:
collector ``i``'s envs are copies ``i·B … i·B + B − 1`` of the learner's one env, seeded as those
copies would be; exploration schedules read the run's step count as if every env stepped
together; acting draws from each collector's own generator — collector 0's seeded as the
in-process agent's, so that one collector syncing every step (``sync_every = num_envs``)
reproduces the in-process loop exactly, and the others' from ``(seed, index)``.

What is not covered (a :class:`~nacre.errors.ConfigError` says what to change): contextual
bandits (online buffers: their learners see every decision at once), observation
normalization (``env.normalize``: each collector would keep its own statistics), safety modules
that learn (``cost_filter``, ``reward_constrained``), dynamic action sets (candidate sets are not
carried in chunks), offline runs. On-policy learners (PPO, REINFORCE) are covered when each
rollout is collected by the policy that learns it: ``sync_every`` must divide ``train_freq``.
A resumed run continues from its checkpoint with fresh episodes and fresh acting streams (the
collectors' envs and generators are not checkpointed).
"""

from nacre.distributed.collector import ChunkRecorder, Collector, PackedState, pack, unpack
from nacre.distributed.driver import (
    CollectedSteps,
    CollectorEnvs,
    LocalCollectors,
    fit_collectors,
    make_collectors,
)

__all__ = [
    "ChunkRecorder",
    "CollectedSteps",
    "CollectorEnvs",
    "Collector",
    "LocalCollectors",
    "PackedState",
    "fit_collectors",
    "make_collectors",
    "pack",
    "unpack",
]
