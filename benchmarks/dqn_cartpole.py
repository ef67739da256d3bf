"""DQN on CartPole-v1: nacre vs Stable-Baselines3, side by side, plus the physical limit.

Usage::

    python benchmarks/dqn_cartpole.py                 # 5 seeds x 50k steps (~5 min on 2 cores)
    python benchmarks/dqn_cartpole.py --seeds 10 --steps 50000
    python benchmarks/dqn_cartpole.py --quick         # 2 seeds x 5k steps, no memory test

Follows /BENCHMARKS.md: identical RL-Zoo hyper-parameters for both libraries, runs alternate per
seed (nacre s, SB3 s, nacre s+1, ...) in one invocation, every run in a fresh subprocess, ratios
per seed pair, IQM / mean with stratified-bootstrap CIs, and the distance to the physical limit
(raw env step + bare forward + bare update) measured in the same invocation.

Every measurement runs in a worker subprocess of this same script (``--worker KIND``), which
writes one JSON file; the parent process only orchestrates, aggregates and reports. Results go to
``benchmarks/results/dqn_cartpole.{json,png,md}`` (``dqn_cartpole_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import (  # noqa: E402
    best_per_call,
    log,
    rss_bytes,
    write_json,
)

from nacre.eval.stats import summarize_returns  # noqa: E402

NAME = "dqn_cartpole"
ENV_ID = "CartPole-v1"
PRESET = "cartpole-dqn"
THRESHOLD = 475.0
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent

# rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1 (SB3 names). Both libraries run exactly these.
HPARAMS: dict[str, Any] = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.04,
    "net_arch": [256, 256],
    "max_grad_norm": 10.0,
    "loss": "huber",
    "tau": 1.0,
}

REFERENCES = [
    {
        "what": "SB3 DQN CartPole-v1 final return (RL-Zoo hyper-parameters, 50k steps)",
        "value": "500.0 ± 0.0",
        "note": "one trained agent, 300 deterministic evaluation episodes",
        "source": "DLR-RM/rl-baselines3-zoo, benchmark.md",
    },
    {
        "what": "SB3 DQN CartPole-v1 throughput (RL-Zoo params, 50k steps), 2-core machine",
        "value": "≈ 1,350 env-steps/s",
        "note": "earlier measurement on this class of machine, not from this run",
        "source": "BENCHMARKS.md, reference points",
    },
]


# ============================================================================ workers
def worker_nacre(seed: int, steps: int, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One nacre training run via ``nacre.train`` into a temporary run folder."""
    import nacre

    check_nacre_hparams(nacre.load_preset(PRESET))
    return harness.nacre_run(PRESET, seed, steps, THRESHOLD, EVAL_EPISODES, overrides)


def check_nacre_hparams(cfg: Any) -> None:
    """Refuse to run if the preset drifted away from the RL-Zoo hyper-parameters SB3 gets."""
    learner, net, tr = cfg.learner.params, cfg.network.params, cfg.train
    expl = cfg.exploration
    inner = expl.params.inner
    got = {
        "learning_rate": learner.lr, "gamma": learner.gamma, "tau": learner.tau,
        "loss": learner.loss, "max_grad_norm": learner.max_grad_norm,
        "net_arch": list(net.hidden), "buffer_size": cfg.buffer.params.capacity,
        "batch_size": tr.batch_size, "learning_starts": tr.learning_starts,
        "train_freq": tr.train_freq, "gradient_steps": tr.gradient_steps,
        "target_update_interval": tr.target_update_interval,
        "exploration_fraction": inner["decay_fraction"],
        "exploration_initial_eps": inner["start"], "exploration_final_eps": inner["end"],
    }
    bad = {k: (v, HPARAMS[k]) for k, v in got.items() if v != HPARAMS[k]}
    if expl.name != "warmup" or expl.params.steps != HPARAMS["learning_starts"]:
        bad["exploration"] = (expl.name, "warmup of learning_starts steps, then ε-greedy")
    if bad:
        raise SystemExit(f"preset {PRESET} differs from the RL-Zoo hyper-parameters: {bad}")


def worker_sb3(seed: int, steps: int) -> dict[str, Any]:
    """One SB3 DQN run with the RL-Zoo hyper-parameters, torch's default thread count."""
    import gymnasium as gym
    from stable_baselines3 import DQN

    def make() -> Any:
        return DQN("MlpPolicy", gym.make(ENV_ID), **sb3_kwargs(HPARAMS, seed),
                   policy_kwargs={"net_arch": list(HPARAMS["net_arch"])})

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES, "gym.make + DQN(...)")


def sb3_kwargs(h: dict[str, Any], seed: int) -> dict[str, Any]:
    """The constructor arguments SB3's DQN (and sb3-contrib's QR-DQN) take from ``h``."""
    names = ("learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma",
             "train_freq", "gradient_steps", "target_update_interval", "exploration_fraction",
             "exploration_initial_eps", "exploration_final_eps", "max_grad_norm")
    return {**{k: h[k] for k in names}, "seed": seed, "device": "cpu", "verbose": 0}


def _mlp(hidden: Sequence[int]) -> Any:
    from torch import nn

    layers: list[nn.Module] = []
    last = 4
    for width in hidden:
        layers += [nn.Linear(last, width), nn.ReLU()]
        last = width
    layers.append(nn.Linear(last, 2))
    return nn.Sequential(*layers)


def worker_limits(quick: bool) -> dict[str, Any]:
    """Raw costs of the three pieces of work DQN cannot avoid: env step, forward, update."""
    import gymnasium as gym
    import torch
    import torch.nn.functional as F

    torch.set_flush_denormal(True)
    # --- raw env.step: random valid actions, reset on done (the reset is part of the cost).
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n_env = 50_000 if quick else 200_000
    actions = [int(a) for a in rng.integers(0, 2, size=n_env)]
    step, reset = env.step, env.reset

    def run_env(acts: list[int]) -> float:
        t0 = time.perf_counter()
        for a in acts:
            _, _, terminated, truncated, _ = step(a)
            if terminated or truncated:
                reset()
        return (time.perf_counter() - t0) / len(acts)

    run_env(actions[:5000])
    chunk = n_env // 5
    env_step = min(run_env(actions[i * chunk:(i + 1) * chunk]) for i in range(5))

    # --- bare forward, one observation, one thread.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = _mlp(HPARAMS["net_arch"])
    x = torch.randn(1, 4)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]

    def functional() -> torch.Tensor:
        h = x
        for i, lin in enumerate(linears):
            h = F.linear(h, lin.weight, lin.bias)
            if i < len(linears) - 1:
                h = torch.relu(h)
        return h

    def matvec() -> torch.Tensor:
        v = x.reshape(-1)
        for i, lin in enumerate(linears):
            v = torch.addmv(lin.bias, lin.weight, v)
            if i < len(linears) - 1:
                v = torch.relu_(v)
        return v

    n_fwd = 5_000 if quick else 20_000
    with torch.inference_mode():
        fwd_module = best_per_call(lambda: net(x), n_fwd)
        fwd_functional = min(best_per_call(functional, n_fwd), best_per_call(matvec, n_fwd))

    # --- bare DQN update at batch 64 (plain torch, as a user would write it).
    online, target = _mlp(HPARAMS["net_arch"]), _mlp(HPARAMS["net_arch"])
    target.load_state_dict(online.state_dict())
    opt = torch.optim.Adam(online.parameters(), lr=HPARAMS["learning_rate"], fused=True)
    b = HPARAMS["batch_size"]
    obs, next_obs = torch.randn(b, 4), torch.randn(b, 4)
    act = torch.randint(0, 2, (b,))
    rew, done = torch.ones(b), (torch.rand(b) < 0.05).float()
    gamma, clip = HPARAMS["gamma"], HPARAMS["max_grad_norm"]
    params = list(online.parameters())

    def update() -> None:
        with torch.no_grad():
            y = rew + gamma * (1.0 - done) * target(next_obs).max(dim=1).values
        q = online(obs).gather(1, act[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()

    # The same update with the backward pass written out by hand (no autograd): all parameters,
    # gradients and Adam moments in one flat buffer each, so one fused Adam kernel updates
    # everything; the clipping factor and the 1/batch of the mean are folded into the kernel's
    # grad_scale; one step counter. The cheapest way we know to do this work with torch's kernels.
    lin = [m for m in online if isinstance(m, torch.nn.Linear)]
    tlin = [m for m in target if isinstance(m, torch.nn.Linear)]
    flat_params = [p for m in lin for p in (m.weight, m.bias)]
    sizes = [p.numel() for p in flat_params]
    flat = torch.cat([p.detach().reshape(-1) for p in flat_params])
    weights = [v.view_as(p) for v, p in zip(torch.split(flat, sizes), flat_params, strict=True)]
    flat_grad = torch.zeros_like(flat)
    grads = [v.view_as(p) for v, p in zip(torch.split(flat_grad, sizes), flat_params,
                                          strict=True)]
    moments = (torch.zeros_like(flat), torch.zeros_like(flat))
    adam_step, grad_scale = torch.zeros(()), torch.ones(())
    lr = HPARAMS["learning_rate"]
    rounds = 128  # gradient steps per training round (RL-Zoo: 128 every 256 env steps)
    r_obs, r_next = torch.randn(rounds * b, 4), torch.randn(rounds * b, 4)
    r_act = torch.randint(0, 2, (rounds * b,))
    r_rew, r_done = torch.ones(rounds * b), (torch.rand(rounds * b) < 0.05).float()

    def targets_of(next_states: torch.Tensor, r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        h = next_states
        for i, m in enumerate(tlin):
            h = torch.addmm(m.bias, h, m.weight.t())
            if i < len(tlin) - 1:
                h.relu_()
        return r + gamma * (1.0 - d) * h.amax(dim=1)

    def step_by_hand(x: torch.Tensor, wide_y: torch.Tensor, mask: torch.Tensor) -> None:
        acts, h = [x], x
        for i in range(len(weights) // 2):
            h = torch.addmm(weights[2 * i + 1], h, weights[2 * i].t())
            if i < len(weights) // 2 - 1:
                h.relu_()
                acts.append(h)
        dh = (h - wide_y).clamp_(-1.0, 1.0).mul_(mask)
        for i in range(len(weights) // 2 - 1, -1, -1):
            torch.mm(dh.t(), acts[i], out=grads[2 * i])
            torch.sum(dh, 0, out=grads[2 * i + 1])
            if i > 0:
                dh = torch.ops.aten.threshold_backward(torch.mm(dh, weights[2 * i]), acts[i], 0)
        n = x.shape[0]
        norm = float(torch.linalg.vector_norm(flat_grad)) / n
        grad_scale.fill_(n * max((norm + 1e-6) / clip, 1.0))
        adam_step.add_(1)
        torch._fused_adam_([flat], [flat_grad], [moments[0]], [moments[1]], [], [adam_step],
                           lr=lr, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8,
                           amsgrad=False, maximize=False, grad_scale=grad_scale,
                           found_inf=None)

    def wide_and_mask(y: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wide = y[:, None].expand(-1, 2).contiguous()
        return wide, torch.zeros_like(wide).scatter_(1, a[:, None], 1.0)

    @torch.no_grad()
    def update_by_hand() -> None:
        step_by_hand(obs, *wide_and_mask(targets_of(next_obs, rew, done), act))

    @torch.no_grad()
    def round_by_hand() -> None:
        # A whole training round: the target net does not move within it, so all its targets
        # come from a few 1024-row forward passes; then the updates, one per batch.
        y = torch.cat([targets_of(*chunk) for chunk in zip(
            r_next.split(1024), r_rew.split(1024), r_done.split(1024), strict=True)])
        wide, mask = wide_and_mask(y, r_act)
        for x, w, m in zip(r_obs.split(b), wide.split(b), mask.split(b), strict=True):
            step_by_hand(x, w, m)

    # Short blocks, many of them, alternating the variants: the machine is shared and its speed
    # comes in bursts, so the minimum over many short blocks is the robust estimate of the cost.
    n_upd = 100 if quick else 200
    update_cost: dict[str, float] = {}
    for _ in range(2 if quick else 4):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for key, fn in ((str(threads), update), (f"{threads}_by_hand", update_by_hand)):
                cost = best_per_call(fn, n_upd, blocks=5, warmup=20)
                update_cost[key] = min(update_cost.get(key, float("inf")), cost)
            key = f"{threads}_by_hand_rounds"
            cost = best_per_call(round_by_hand, max(1, n_upd // rounds), blocks=5, warmup=1)
            update_cost[key] = min(update_cost.get(key, float("inf")), cost / rounds)
    torch.set_num_threads(1)
    return {
        "env_step_s": env_step,
        "env_step_method": f"gym.make({ENV_ID!r}).step with random valid actions, reset on "
        f"done; fastest of 5 blocks of {chunk} steps",
        "forward_s": min(fwd_module, fwd_functional),
        "forward_module_s": fwd_module,
        "forward_functional_s": fwd_functional,
        "forward_method": "4-256-256-2 MLP, 1 observation, torch.inference_mode, 1 thread; "
        f"nn.Sequential call, an F.linear chain and an addmv (matrix-vector) chain, fastest of 5 "
        f"blocks of {n_fwd}; the fastest is used",
        "update_s": min(update_cost.values()),
        "update_s_by_threads": update_cost,
        "update_method": "target forward (no_grad) + online forward + smooth_l1 + backward + "
        "clip_grad_norm_(10) + Adam step at batch 64, three ways: plain torch (autograd + "
        "torch.optim.Adam(fused=True)); by hand (backward written out, flat parameters, one "
        "fused Adam kernel called directly); by hand in rounds (128 updates whose targets come "
        f"from 1024-row target forward passes, cost / 128); fastest of 4 x 5 blocks of {n_upd} "
        "updates, alternating the variants, with 1 and 2 threads; the fastest of all six is "
        "used",
    }


def worker_acting(quick: bool) -> dict[str, Any]:
    """Per-step cost of nacre's act + observe at B=1 vs a bare forward pass of the same net."""
    import torch

    import nacre
    from nacre.accel import apply_process_settings
    from nacre.threads import configure_threads

    configure_threads(1, 0)
    apply_process_settings()  # what nacre.train does with train.accelerate: auto
    run = nacre.build(nacre.load_preset(PRESET))
    agent, env = run.agent, run.env
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space)
    for _ in range(2_000):  # past the random warm-up phase, so ε-greedy scores actions
        agent.observe(env.step(agent.act()))
    q = agent.learner.q  # type: ignore[attr-defined]  # DQN's online Q-network
    n = 3_000 if quick else 20_000
    clock = time.perf_counter
    out: dict[str, Any] = {"steps_per_mode": n, "warmup_steps": 2_000}
    for mode, exploit in (("epsilon_greedy", False), ("greedy", True)):
        act_s = observe_s = step_s = 0.0
        for _ in range(n):
            t0 = clock()
            action = agent.act(exploit)
            t1 = clock()
            result = env.step(action)
            t2 = clock()
            agent.observe(result)
            t3 = clock()
            act_s += t1 - t0
            step_s += t2 - t1
            observe_s += t3 - t2
        # The bare forward pass, timed the same way (one perf_counter pair per call).
        last_obs = np.ascontiguousarray(result.obs, dtype=np.float32)
        x = torch.from_numpy(last_obs)
        fwd_s = fwd_int_s = 0.0
        with torch.inference_mode():
            for _ in range(n):
                t0 = clock()
                q(x)
                fwd_s += clock() - t0
            for _ in range(n):  # incl. numpy -> tensor and argmax -> int
                t0 = clock()
                int(q(torch.from_numpy(last_obs)).argmax(1)[0])
                fwd_int_s += clock() - t0
        act_observe = (act_s + observe_s) / n
        out[mode] = {
            "act_s": act_s / n,
            "observe_s": observe_s / n,
            "act_observe_s": act_observe,
            "nacre_env_step_s": step_s / n,
            "bare_forward_s": fwd_s / n,
            "bare_forward_numpy_to_int_s": fwd_int_s / n,
            "ratio_act_observe_to_forward": act_observe / (fwd_s / n),
        }
    out["method"] = (
        "nacre.build(load_preset('cartpole-dqn')) after configure_threads(1, 0) and the "
        "accelerate: auto process settings; per step, "
        "agent.act() and agent.observe(result) are timed with perf_counter around each call "
        "(env.step runs between them, untimed); observe includes the replay-buffer write. "
        "Bare forward: agent.learner.q(obs) under torch.inference_mode, timed the same way."
    )
    out["torch_threads"] = torch.get_num_threads()
    return out


def worker_memory_nacre() -> dict[str, Any]:
    """RSS growth of a nacre ReplayBuffer holding 1M CartPole transitions vs its nbytes."""
    import nacre

    capacity, b = 1_000_000, 1_000
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((b, 4)).astype(np.float32)
    next_obs = rng.standard_normal((b, 4)).astype(np.float32)
    action = rng.integers(0, 2, size=b)
    reward = np.ones(b, np.float32)
    terminated = rng.random(b) < 0.05
    truncated = np.zeros(b, bool)
    before = rss_bytes()
    buf = nacre.ReplayBuffer(capacity=capacity, seed=0)
    t0 = time.perf_counter()
    for _ in range(capacity // b):
        buf.add(nacre.StepBatch(obs, action, reward, next_obs, terminated, truncated))
    fill = time.perf_counter() - t0
    after = rss_bytes()
    growth = after - before
    return {
        "capacity": capacity,
        "transitions": len(buf),
        "nbytes": buf.nbytes,
        "bytes_per_transition": buf.nbytes / len(buf),
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_growth_bytes": growth,
        "rss_growth_over_nbytes": growth / buf.nbytes,
        "fill_s": fill,
        "method": f"ReplayBuffer(capacity={capacity}) filled by {capacity // b} adds of B={b} "
        "CartPole-shaped transitions (obs float32[4], action int64, reward float32, "
        "terminated/truncated bool); RSS from /proc/self/statm before construction and after "
        "filling",
    }


def worker_memory_sb3() -> dict[str, Any]:
    """The same for SB3's ReplayBuffer (1M transitions, CartPole spaces)."""
    import gymnasium as gym
    from stable_baselines3.common.buffers import ReplayBuffer

    capacity, b = 1_000_000, 1_000
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((b, 4)).astype(np.float32)
    next_obs = rng.standard_normal((b, 4)).astype(np.float32)
    action = rng.integers(0, 2, size=(b, 1))
    reward = np.ones(b, np.float32)
    done = (rng.random(b) < 0.05).astype(np.float32)
    infos: list[dict[str, Any]] = [{} for _ in range(b)]
    before = rss_bytes()
    # n_envs=b gives the same 1M slots (buffer_size // n_envs rows of b) and a vectorized add.
    buf = ReplayBuffer(capacity, env.observation_space, env.action_space, device="cpu", n_envs=b)
    arrays = {k: v for k, v in vars(buf).items() if isinstance(v, np.ndarray)}
    nbytes = sum(a.nbytes for a in arrays.values())
    t0 = time.perf_counter()
    for _ in range(capacity // b):
        buf.add(obs, next_obs, action, reward, done, infos)
    fill = time.perf_counter() - t0
    after = rss_bytes()
    growth = after - before
    return {
        "capacity": capacity,
        "transitions": buf.size() * b,
        "nbytes": nbytes,
        "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype), "nbytes": a.nbytes}
                   for k, a in arrays.items()},
        "bytes_per_transition": nbytes / capacity,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_growth_bytes": growth,
        "rss_growth_over_nbytes": growth / nbytes,
        "fill_s": fill,
        "method": f"stable_baselines3 ReplayBuffer({capacity}, CartPole spaces, n_envs={b}, "
        "optimize_memory_usage=False) filled by 1000 adds; nbytes = sum of its numpy arrays",
    }


def run_worker(args: argparse.Namespace) -> None:
    kind = args.worker
    if kind == "nacre":
        data = worker_nacre(args.seed, args.steps)
    elif kind == "nacre-off":
        data = worker_nacre(args.seed, args.steps, harness.OFF)
    elif kind == "sb3":
        data = worker_sb3(args.seed, args.steps)
    elif kind == "limits":
        data = worker_limits(args.quick)
    elif kind == "acting":
        data = worker_acting(args.quick)
    elif kind == "memory-nacre":
        data = worker_memory_nacre()
    elif kind == "memory-sb3":
        data = worker_memory_sb3()
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    write_json(args.out, data)


# ============================================================================ orchestration
def spawn(kind: str, tmp: Path, *extra: str) -> dict[str, Any]:
    return harness.spawn(__file__, kind, tmp, *extra)


def orchestrate(args: argparse.Namespace) -> None:
    seeds = list(range(args.seeds))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dqn-cartpole-bench-") as tmp_name:
        tmp = Path(tmp_name)
        quick = ["--quick"] if args.quick else []
        log("measuring the physical limit (env step, forward, update) ...")
        limits_before = spawn("limits", tmp, *quick)
        log("measuring acting overhead ...")
        acting = spawn("acting", tmp, *quick)
        runs = harness.run_alternating(__file__, tmp, seeds, args.steps)
        log("measuring the physical limit again ...")
        limits_after = spawn("limits", tmp, *quick)
        memory = None
        if not args.quick:
            log("measuring replay memory ...")
            memory = {"nacre": spawn("memory-nacre", tmp), "sb3": spawn("memory-sb3", tmp)}
    report = aggregate(args, seeds, runs, limits_before, limits_after, acting, memory)
    harness.write_report(report, NAME, args.quick, args.out_dir, markdown, plot, REFERENCES,
                         started, t_start)


def aggregate(
    args: argparse.Namespace, seeds: list[int], runs: dict[str, list[dict[str, Any]]],
    limits_before: dict[str, Any], limits_after: dict[str, Any], acting: dict[str, Any],
    memory: dict[str, Any] | None,
) -> dict[str, Any]:
    nacre_runs, sb3_runs = runs["nacre"], runs["sb3"]
    throughput = harness.throughput(
        runs, "env_steps / wall_s of the whole training call (nacre: nacre.train; SB3: "
        "gym.make + DQN(...) + learn), per seed pair")
    returns = {lib: summarize_returns([r["final_eval_return"] for r in rs], threshold=THRESHOLD)
               for lib, rs in runs.items()}
    # Physical limit: per component, the faster of the two measurements in this invocation.
    costs = {k: min(limits_before[k], limits_after[k])
             for k in ("env_step_s", "forward_s", "update_s")}
    grad_steps = int(np.median([r["grad_steps"] for r in nacre_runs]))
    ideal = (args.steps * costs["env_step_s"] + args.steps * costs["forward_s"]
             + grad_steps * costs["update_s"])
    nacre_wall = float(np.median([r["wall_s"] for r in nacre_runs]))
    nacre_loop = float(np.median([r["loop_minus_eval_wall_s"] for r in nacre_runs]))
    sb3_wall = float(np.median([r["wall_s"] for r in sb3_runs]))
    limit = {
        "formula": "ideal = steps x env_step + steps x forward + grad_steps x update",
        "env_steps": args.steps,
        "act_calls": args.steps,
        "grad_steps": grad_steps,
        "costs_s": costs,
        "ideal_s": ideal,
        "efficiency_nacre": ideal / nacre_wall,
        "efficiency_nacre_per_seed": [ideal / r["wall_s"] for r in nacre_runs],
        "efficiency_nacre_learning_only": ideal / nacre_loop,
        "ideal_over_sb3_wall": ideal / sb3_wall,
        "nacre_wall_s_median": nacre_wall,
        "sb3_wall_s_median": sb3_wall,
        "measurements": {"before_training": limits_before, "after_training": limits_after},
    }
    return {
        "config": {"env_id": ENV_ID, "nacre_preset": PRESET, "steps": args.steps,
                   "seeds": seeds, "quick": args.quick, "hyperparameters": HPARAMS,
                   "eval_episodes": EVAL_EPISODES, "threshold": THRESHOLD,
                   "order": [f"{lib}:{s}" for s in seeds for lib in harness.LIBRARIES]},
        "runs": runs,
        "throughput": throughput,
        "returns": returns,
        "time_to_threshold_nacre": {
            **harness.time_to_threshold(nacre_runs),
            "note": "first periodic evaluation (10 exploit episodes) with mean ≥ 475; resolution "
            "= eval_every; not measured for SB3 (no evaluation during learn)",
        },
        "physical_limit": limit,
        "contention": harness.contention(runs),
        "acting": acting,
        "memory": memory,
    }


# ============================================================================ reporting
def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _ci(summary: dict[str, Any], key: str) -> str:
    lo, hi = summary[f"{key}_ci95"]
    return f"{summary[key]:.1f} [{lo:.1f}, {hi:.1f}]"


def markdown(rep: dict[str, Any]) -> str:
    cfg, tp, ret, lim = rep["config"], rep["throughput"], rep["returns"], rep["physical_limit"]
    runs, ver, mach = rep["runs"], rep["versions"], rep["machine"]
    n = len(cfg["seeds"])
    nr, sr = runs["nacre"], runs["sb3"]

    def med(lib: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[lib]]))

    frac = {lib: f"{round(ret[lib]['fraction_ge_threshold'] * n)}/{n}" for lib in ret}
    ttt = rep["time_to_threshold_nacre"]
    ttt_s = (f"{_f(ttt['env_steps_median'])} steps / {ttt['wall_s_median']:.1f} s "
             f"({ttt['reached']}/{ttt['of']} seeds)" if ttt["reached"] else
             f"not reached (0/{ttt['of']})")
    eval_every = nr[0]["time_to_threshold"]["resolution_env_steps"] if nr[0][
        "time_to_threshold"] else "10,000"
    nacre_threads = f"{nr[0]['torch_threads_act']} act / {nr[0]['torch_threads_learn']} learn"
    quick = " — QUICK SMOKE TEST, not a result" if cfg["quick"] else ""
    lines = [
        f"### DQN on CartPole-v1: nacre vs Stable-Baselines3{quick}",
        "",
        f"RL-Zoo hyper-parameters for both, {_f(cfg['steps'])} env steps, {n} seeds "
        f"({', '.join(map(str, cfg['seeds']))}), runs alternating nacre/SB3 per seed, each in a "
        f"fresh process. Machine: {mach['cpu_model']}, {mach['cpu_count']} cores, "
        f"{mach['memory_gib']} GiB; Python {ver['python']}, torch {ver['torch']}, "
        f"SB3 {ver['stable-baselines3']}, gymnasium {ver['gymnasium']}, numpy {ver['numpy']}, "
        f"nacre {ver['nacre']} ({ver.get('nacre_git', '?')}). "
        f"`{rep['command']}`, {rep['started_utc'][:10]}.",
        "",
        "| | nacre | SB3 | nacre / SB3 | Reference (not measured here) |",
        "|---|---:|---:|---:|---|",
        f"| env-steps/s, median (whole training call) | {_f(tp['nacre']['median'])} | "
        f"{_f(tp['sb3']['median'])} | **{tp['ratio_median']:.2f}×** (median of {n} per-seed "
        f"ratios; {tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) | SB3 ≈ 1,350 on this class of "
        "machine (BENCHMARKS.md) |",
        f"| env-steps/s, learning only (nacre loop − evals; SB3 `learn`) | "
        f"{_f(tp['nacre']['learning_only_median'])} | {_f(tp['sb3']['learning_only_median'])} | "
        f"{tp['learning_only_ratio_median']:.2f}× | |",
        f"| wall time per run, median | {tp['nacre']['wall_s_median']:.1f} s | "
        f"{tp['sb3']['wall_s_median']:.1f} s | | |",
        f"| final return, mean [95% CI] | {_ci(ret['nacre'], 'mean')} | "
        f"{_ci(ret['sb3'], 'mean')} | | 500.0 ± 0.0 (RL Zoo benchmark.md, 1 run) |",
        f"| final return, IQM [95% CI] | {_ci(ret['nacre'], 'iqm')} | {_ci(ret['sb3'], 'iqm')} "
        "| | |",
        f"| seeds with final return ≥ 475 | {frac['nacre']} | {frac['sb3']} | | |",
        f"| time to 475 (eval every {eval_every} steps) | {ttt_s} | not measured | | |",
        f"| env steps / gradient steps done | {_f(med('nacre', 'env_steps'))} / "
        f"{_f(med('nacre', 'grad_steps'))} | {_f(med('sb3', 'env_steps'))} / "
        f"{_f(med('sb3', 'grad_steps'))} | | |",
        f"| peak RSS, median | {med('nacre', 'peak_rss_mib'):.0f} MiB | "
        f"{med('sb3', 'peak_rss_mib'):.0f} MiB | "
        f"{med('nacre', 'peak_rss_mib') / med('sb3', 'peak_rss_mib'):.2f}× | |",
        f"| torch threads | {nacre_threads} | {sr[0]['torch_threads']} (torch default) | | |",
        "",
        "Final return: mean of 10 greedy episodes after training (nacre: `exploit=True`; SB3: "
        "`evaluate_policy(deterministic=True)`). CIs: 2,000-resample stratified bootstrap. "
        "nacre's wall time includes its periodic evaluations, checkpoint and plot; SB3's does not "
        "include any evaluation."
        + (" SB3 always completes its last `train_freq` rollout, so it runs past the requested "
           "steps (and may run one more training round); steps/s uses each library's actual "
           "step count."
           if med("sb3", "env_steps") != med("nacre", "env_steps") else ""),
        "",
    ]
    cont = rep["contention"]
    if cont["other_cores_busy_max"] > 0.2:
        lines += [
            f"> **Warning:** other processes kept on average {cont['other_cores_busy_mean']:.2f} "
            f"(max {cont['other_cores_busy_max']:.2f}) of the {cont['machine_cores']} cores "
            "busy during the training runs: absolute times are unreliable; rerun on an idle "
            "machine before publishing.",
            "",
        ]
    lines += [
        "**Distance to the physical limit** (costs measured in the same invocation, best of two "
        "measurements)",
        "",
        "| Work | Cost each | Count | Total |",
        "|---|---:|---:|---:|",
    ]
    c = lim["costs_s"]
    by_t = lim["measurements"]["before_training"]["update_s_by_threads"]
    rows = [
        ("raw `env.step` (CartPole-v1)", c["env_step_s"], lim["env_steps"]),
        ("forward, 1 obs, 4-256-256-2, 1 thread", c["forward_s"], lim["act_calls"]),
        ("DQN update, batch 64: fastest of plain torch (1 thread "
         f"{_us(by_t['1'])}, 2 threads {_us(by_t['2'])}), by hand (1 thread "
         f"{_us(by_t['1_by_hand'])}, 2 threads {_us(by_t['2_by_hand'])}) and by hand in "
         f"128-update rounds with batched targets (1 thread {_us(by_t['1_by_hand_rounds'])}, "
         f"2 threads {_us(by_t['2_by_hand_rounds'])})",
         c["update_s"], lim["grad_steps"]),
    ]
    for label, cost, count in rows:
        lines.append(f"| {label} | {_us(cost)} | {_f(count)} | {cost * count:.2f} s |")
    lines += [
        f"| **ideal** | | | **{lim['ideal_s']:.2f} s** |",
        f"| nacre wall (median) → efficiency = ideal / wall | | | {lim['nacre_wall_s_median']:.2f}"
        f" s → **{lim['efficiency_nacre']:.0%}** (learning only: "
        f"{lim['efficiency_nacre_learning_only']:.0%}) |",
        f"| SB3 wall (median) → ideal / wall | | | {lim['sb3_wall_s_median']:.2f} s → "
        f"{lim['ideal_over_sb3_wall']:.0%} |",
        "",
    ]
    act = rep["acting"]
    e, g = act["epsilon_greedy"], act["greedy"]
    lines += [
        "**Acting overhead** (nacre, B = 1, 1 thread, per step, env.step excluded)",
        "",
        "| | greedy (`exploit=True`) | ε-greedy |",
        "|---|---:|---:|",
        f"| `agent.act()` + `agent.observe(result)` | {_us(g['act_observe_s'])} | "
        f"{_us(e['act_observe_s'])} |",
        f"| of which `observe` (incl. replay write) | {_us(g['observe_s'])} | "
        f"{_us(e['observe_s'])} |",
        f"| bare forward `agent.learner.q(obs)` | {_us(g['bare_forward_s'])} | "
        f"{_us(e['bare_forward_s'])} |",
        f"| ratio | **{g['ratio_act_observe_to_forward']:.2f}×** | "
        f"**{e['ratio_act_observe_to_forward']:.2f}×** |",
        "",
    ]
    mem = rep["memory"]
    if mem:
        mn, ms = mem["nacre"], mem["sb3"]
        mib = 2**20
        lines += [
            "**Replay memory** (1,000,000 CartPole transitions, filled)",
            "",
            "| | nacre `ReplayBuffer` | SB3 `ReplayBuffer` |",
            "|---|---:|---:|",
            f"| storage (`nbytes`) | {mn['nbytes'] / mib:.1f} MiB | {ms['nbytes'] / mib:.1f} MiB |",
            f"| bytes per transition | {mn['bytes_per_transition']:.1f} | "
            f"{ms['bytes_per_transition']:.1f} |",
            f"| process RSS growth after filling | {mn['rss_growth_bytes'] / mib:.1f} MiB | "
            f"{ms['rss_growth_bytes'] / mib:.1f} MiB |",
            f"| RSS growth / nbytes | {mn['rss_growth_over_nbytes']:.2f} | "
            f"{ms['rss_growth_over_nbytes']:.2f} |",
            "",
        ]
    lines += harness.readability_rows(rep)
    return "\n".join(lines)


def plot(rep: dict[str, Any], path: Path) -> None:
    harness.plot_side_by_side(rep, path, "DQN", THRESHOLD)



# ============================================================================ entry point
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 5)")
    p.add_argument("--steps", type=int, default=None, help="env steps per run (default 50000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 seeds x 5k steps, shorter micro-benchmarks, no memory test")
    p.add_argument("--out-dir", default=str(HERE / "results"), help="where results are written")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    if args.steps is None:
        args.steps = 5_000 if args.quick else 50_000
    if args.seeds < 1 or args.steps < 1:
        p.error("--seeds and --steps must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
