"""Vowpal Wabbit as the peer of nacre's contextual bandits: one decision and one update at a time.

`VWAgent` drives VW's ``--cb_explore_adf`` reduction (VW 9.x Python bindings, tested with
``vowpalwabbit==9.11.9``) through the multi-line text format: one ``shared |C ...`` line with the
context, then one ``|A ...`` line per available action. ``predict`` on that example returns a PMF
over the action lines in order; the agent samples from it with its own ``numpy`` generator, so the
randomness that picks actions is the benchmark's, not VW's. ``learn`` sees the same example with
the label ``0:cost:probability`` on the chosen action's line.

References
----------
- J. Langford, L. Li, A. Strehl. Vowpal Wabbit (2007-); https://vowpalwabbit.org, and the wiki
  pages "Contextual Bandit algorithms" and "Contextual Bandit Exploration with SquareCB".
- A. Bietti, A. Agarwal, J. Langford. A Contextual Bandit Bake-off. JMLR 22(133):1-49, 2021
  (arXiv:1802.04064); the VW grids and best fixed hyper-parameters are in
  https://github.com/albietz/cb_bakeoff (``run_vw_job.py``, ``paper_tables.py``).
- D. Foster, A. Rakhlin. Beyond UCB: Optimal and Efficient Contextual Bandits with Regression
  Oracles. ICML 2020 (SquareCB).
- D. Foster, A. Agarwal, M. Dudik, H. Luo, R. Schapire. Practical Contextual Bandits with
  Regression Oracles. ICML 2018 (RegCB).
- A. Agarwal, D. Hsu, S. Kale, J. Langford, L. Li, R. Schapire. Taming the Monster. ICML 2014
  (Online Cover).

Run ``python benchmarks/vw_peer.py`` for the smoke check (a few seconds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pylibvw  # VW's native extension; ships inside the vowpalwabbit wheel
import vowpalwabbit

# Explorer-specific options; `vw_command_line` appends COMMON_ARGS and the seed. Where the
# bake-off (Bietti, Agarwal & Langford 2021) evaluated an explorer, the string is its best fixed
# configuration under the -1/0 cost encoding this module uses (`paper_tables.py`, "best fixed
# algos, selected on 200 datasets, -1/0"); otherwise it is VW's own default. Their learning rate
# was tuned per data set from a grid, so no single value is recommended: VW's defaults (-l 0.5,
# --power_t 0.5, adaptive normalized invariant updates) stay. cb_type is VW's default `mtr` unless
# noted; the bake-off also picked mtr for greedy, epsilon-greedy, bagging and RegCB.
VW_EXPLORERS: dict[str, str] = {
    # Bake-off "G": no explicit exploration, only the diversity of contexts; close second overall.
    "greedy": "--cb_explore_adf --epsilon 0",
    # VW's default epsilon (0.05). The bake-off's best fixed epsilon-greedy used 0.02.
    "epsilon": "--cb_explore_adf --epsilon 0.05",
    # SquareCB with VW's defaults: gamma = gamma_scale * t^gamma_exponent = 10 * sqrt(t). It came
    # after the bake-off; mtr is the only cb_type it accepts.
    "squarecb": "--cb_explore_adf --squarecb --gamma_scale 10 --gamma_exponent 0.5",
    # Bake-off "B-g": 4 bootstrapped policies, the first one always updated ("greedify"); bagging
    # in VW defaults to epsilon 0, and greedify beat plain bagging there.
    "bag": "--cb_explore_adf --bag 4 --greedify",
    # Bake-off "C-nu": Online Cover with 4 policies, psi 0.1, no uniform exploration on
    # zero-probability actions, doubly-robust estimates. VW's bare `--cover 4` would use psi 1.0
    # and epsilon 0.05 uniform exploration instead.
    "cover": "--cb_explore_adf --cover 4 --psi 0.1 --nounif --cb_type dr",
    # Bake-off "RO", its overall winner. RegCB's confidence bounds need the cost range; VW's
    # default is [0, 1], so with cost = -reward this assumes rewards in [0, 1].
    "regcbopt": "--cb_explore_adf --regcbopt --mellowness 0.001 --cb_min_cost -1 --cb_max_cost 0",
}

# -q CA crosses the context namespace (C) with the action namespace (A): without it a linear
# model gives every action the same context term and can only learn a per-action bias.
COMMON_ARGS = "--quiet -q CA"

# 9 significant digits round-trip float32, the precision VW stores feature values in, so VW sees
# the same numbers as a float32 learner fed the same stream.
_FLOAT = "{:.9g}"


# Options VW accumulates when repeated; any other option given twice keeps its FIRST value
# silently (checked with 9.11.9), so an override in extra_args would be ignored without a word.
_REPEATABLE = frozenset(
    {"-q", "--quadratic", "--interactions", "--cubic", "--ignore", "--ignore_linear", "--keep"}
)


def _option_names(args: str) -> set[str]:
    names: set[str] = set()
    for token in args.split():
        if token.startswith("-"):
            try:
                float(token)  # a negative value such as `--cb_min_cost -1`
            except ValueError:
                names.add(token)
    return names


def vw_command_line(explorer: str, seed: int, extra_args: str = "") -> str:
    """VW options for `explorer`: a key of VW_EXPLORERS, or a raw string of ``--cb_explore_adf``
    options (for variants such as ``--cb_explore_adf --softmax --lambda 10`` or ``--first 100``).
    `extra_args` may add options (``-l 0.1``, ``--power_t 0``, ``-b 24``, more ``-q``) but not
    repeat one already set: to change an explorer's own option, pass a raw explorer string."""
    if explorer in VW_EXPLORERS:
        base = VW_EXPLORERS[explorer]
    elif explorer.lstrip().startswith("--cb_explore_adf"):
        base = explorer.strip()
    else:
        raise ValueError(f"unknown explorer {explorer!r}; expected one of {sorted(VW_EXPLORERS)}")
    base = f"{base} {COMMON_ARGS} --random_seed {int(seed)}"
    clash = (_option_names(base) & _option_names(extra_args)) - _REPEATABLE
    if clash:
        raise ValueError(f"extra_args repeats {sorted(clash)}, already in {base!r}")
    return f"{base} {extra_args}".strip()


class VWAgent:
    """One VW ``--cb_explore_adf`` learner behind an act/learn interface.

    Costs are ``-reward``: VW minimises cost, and for rewards in [0, 1] this is the bake-off's
    -1/0 encoding, under which its best fixed configurations (VW_EXPLORERS) were selected and
    which VW's own contextual-bandit tutorials use; ``1 - reward`` would be its 0/1 encoding.
    Either ranks actions exactly as the rewards do. No reward range is enforced, but "regcbopt"
    declares costs in [-1, 0] to VW.

    ``fast=True`` (default) calls the same native functions ``vowpalwabbit.Workspace`` calls
    (``_parse``, ``predict_multi``, ``learn_multi``, ``_finish_example_multi_ex``) without the
    Python ``Example`` wrapper built around every parsed line, which at these sizes costs about
    twice VW's own parsing, prediction and learning (the public path runs 3-4x fewer steps/s);
    ``fast=False`` goes through the public ``Workspace`` API. Both give identical actions and
    PMFs (checked by the smoke test).
    """

    def __init__(
        self,
        explorer: str,
        n_actions: int,
        seed: int,
        extra_args: str = "",
        action_features: np.ndarray | None = None,
        fast: bool = True,
    ) -> None:
        if n_actions < 1:
            raise ValueError("n_actions must be >= 1")
        self.n_actions = int(n_actions)
        self.explorer = explorer
        self.seed = int(seed)
        self.fast = fast
        self.args = vw_command_line(explorer, seed, extra_args)
        self._rng = np.random.default_rng(seed)
        self._ws: Any = vowpalwabbit.Workspace(self.args)
        self._closed = False

        if action_features is None:
            self._action_lines = [f"|A a={a}" for a in range(self.n_actions)]
        else:
            feats = np.asarray(action_features, dtype=np.float64)
            if feats.ndim != 2 or feats.shape[0] != self.n_actions:
                raise ValueError(f"action_features must have shape ({self.n_actions}, G)")
            self._action_lines = [
                "|A" + "".join(f" g{j}:{v:.9g}" for j, v in enumerate(row.tolist()) if v)
                for row in feats
            ]
        # Every example with all actions available is `shared line + _all_block`, and a labelled
        # one is `shared line + _before[a] + label + _from[a]`: no per-step joins for them.
        lines = self._action_lines
        self._all_block = "".join("\n" + line for line in lines)
        self._before = ["".join("\n" + line for line in lines[:a]) for a in range(self.n_actions)]
        self._from = [
            lines[a] + "".join("\n" + ln for ln in lines[a + 1 :]) for a in range(self.n_actions)
        ]
        self._all_actions = list(range(self.n_actions))
        # Masks repeat (a handful of availability patterns per stream): cache their blocks.
        self._mask_cache: dict[bytes, tuple[list[int], str]] = {}

        self._dim = -1
        self._last_xs: list[float] | None = None
        self._last_line = ""
        self._dense_template = ""
        self._feature_fmt: list[Callable[[float], str]] = []

    # ---------------------------------------------------------------- example text

    def _shared_line(self, context: np.ndarray) -> str:
        if context.ndim != 1:
            raise ValueError("context must be a 1-D array")
        xs = context.tolist()
        # learn() usually sees the context act() just formatted; comparing the lists is a
        # fraction of the cost of formatting them again, and safe if the caller reuses a buffer.
        if xs == self._last_xs:
            return self._last_line
        if len(xs) != self._dim:
            self._set_dim(len(xs))
        n_zero = xs.count(0.0)
        # VW's parser drops zero-valued features itself, so all three forms give the same
        # example; they differ only in how fast Python writes the string.
        if n_zero == 0:
            line = self._dense_template.format(*xs)
        elif 2 * n_zero > len(xs):
            fmt = self._feature_fmt
            line = "shared |C" + "".join([fmt[i](xs[i]) for i in np.flatnonzero(context).tolist()])
        else:
            pairs = zip(self._feature_fmt, xs, strict=True)
            line = "shared |C" + "".join([f(v) for f, v in pairs if v])
        self._last_xs, self._last_line = xs, line
        return line

    def _set_dim(self, dim: int) -> None:
        if self._dim != -1:
            raise ValueError(f"context has {dim} features, earlier ones had {self._dim}")
        self._dim = dim
        self._dense_template = "shared |C" + "".join(f" f{i}:{_FLOAT}" for i in range(dim))
        self._feature_fmt = [f" f{i}:{_FLOAT}".format for i in range(dim)]

    def _available(self, mask: np.ndarray | None) -> tuple[list[int], str]:
        if mask is None:
            return self._all_actions, self._all_block
        m = np.asarray(mask, dtype=bool)
        key = m.tobytes()
        hit = self._mask_cache.get(key)
        if hit is None:
            if m.shape != (self.n_actions,):
                raise ValueError(f"mask must have shape ({self.n_actions},)")
            avail = np.flatnonzero(m).tolist()
            if not avail:
                raise ValueError("mask leaves no action available")
            hit = (avail, "".join("\n" + self._action_lines[a] for a in avail))
            if len(self._mask_cache) < 4096:
                self._mask_cache[key] = hit
        return hit

    def example_text(self, context: np.ndarray, mask: np.ndarray | None = None) -> str:
        """The unlabelled multi-line example `act` sends to VW."""
        return self._shared_line(context) + self._available(mask)[1]

    def labelled_text(
        self,
        context: np.ndarray,
        action: int,
        cost: float,
        prob: float,
        mask: np.ndarray | None = None,
    ) -> str:
        """The multi-line example `learn` sends to VW: ``0:cost:prob`` on `action`'s line. In the
        ADF format the line itself identifies the action; VW's tutorials write 0 as its id."""
        label = f"\n0:{cost:.9g}:{prob:.9g} "
        if mask is None:
            if not 0 <= action < self.n_actions:
                raise ValueError(f"action {action} out of range")
            return self._shared_line(context) + self._before[action] + label + self._from[action]
        avail, _ = self._available(mask)
        if action not in avail:
            raise ValueError(f"action {action} is not available under the mask")
        lines = self._action_lines
        return self._shared_line(context) + "".join(
            (label if a == action else "\n") + lines[a] for a in avail
        )

    # ---------------------------------------------------------------- VW calls

    def _parse(self, text: str) -> list[Any]:
        if self.fast:
            return pylibvw.vw._parse(self._ws, text)  # type: ignore[no-any-return]
        return self._ws.parse(text)  # type: ignore[no-any-return]

    def _predict(self, examples: list[Any]) -> list[float]:
        if self.fast:
            pylibvw.vw.predict_multi(self._ws, examples)
            return examples[0].get_action_scores()  # type: ignore[no-any-return]
        return self._ws.predict(examples)  # type: ignore[no-any-return]

    def _learn(self, examples: list[Any]) -> None:
        if self.fast:
            pylibvw.vw.learn_multi(self._ws, examples)
        else:
            self._ws.learn(examples)

    def _finish(self, examples: list[Any]) -> None:
        # Parsed examples come from VW's pool and must go back to it, or every step leaks them.
        if self.fast:
            pylibvw.vw._finish_example_multi_ex(self._ws, examples)
        else:
            self._ws.finish_example(examples)

    def predict_pmf(self, text: str) -> list[float]:
        """VW's PMF over the action lines of `text`, in line order."""
        examples = self._parse(text)
        try:
            return self._predict(examples)
        finally:
            self._finish(examples)

    # ---------------------------------------------------------------- public interface

    def act(
        self, context: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[int, float, np.ndarray]:
        """One decision: (action in 0..K-1, its probability, the PMF over all K actions with
        zeros at unavailable ones)."""
        avail, block = self._available(mask)
        pmf = self.predict_pmf(self._shared_line(context) + block)
        return self._sample(avail, pmf)

    def _sample(self, avail: list[int], pmf: list[float]) -> tuple[int, float, np.ndarray]:
        # VW's PMF is float32 and sums to 1 only up to rounding: sample from it normalised and
        # report the normalised probability, the one the action was actually drawn with.
        total = sum(pmf)
        u = self._rng.random() * total
        acc = 0.0
        pick = len(pmf) - 1
        for i, p in enumerate(pmf):
            acc += p
            if u < acc:
                pick = i
                break
        while pick > 0 and pmf[pick] <= 0.0:  # u fell in the rounding slack past the last p > 0
            pick -= 1
        probs = [p / total for p in pmf]
        if avail is self._all_actions:
            full = np.array(probs)
        else:
            full = np.zeros(self.n_actions)
            full[avail] = probs
        return avail[pick], probs[pick], full

    def learn(
        self,
        context: np.ndarray,
        action: int,
        reward: float,
        prob: float,
        mask: np.ndarray | None = None,
    ) -> None:
        """One update from (context, chosen action, observed reward, probability it was chosen
        with); `mask` must be the one `act` saw."""
        examples = self._parse(self.labelled_text(context, action, -float(reward), prob, mask))
        try:
            self._learn(examples)
        finally:
            self._finish(examples)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ws.finish()

    def __enter__(self) -> VWAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -------------------------------------------------------------------- smoke check


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stream(n: int, dim: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, dim))
    x = rng.standard_normal((n, dim))
    return x, np.argmax(x @ w.T, axis=1)


def _run(agent: VWAgent, x: np.ndarray, best: np.ndarray, blocks: int = 10) -> tuple[float, float]:
    """(average reward, decisions+updates per second); reward 1 for the best action, else 0.
    The rate is the median over `blocks` consecutive blocks, so that a few preempted
    milliseconds on a shared machine do not decide it."""
    total = 0.0
    rates = []
    clock = time.perf_counter
    for xs, bs in zip(np.array_split(x, blocks), np.array_split(best, blocks), strict=True):
        t0 = clock()
        for xt, bt in zip(xs, bs.tolist(), strict=True):
            a, p, _ = agent.act(xt)
            r = 1.0 if a == bt else 0.0
            agent.learn(xt, a, r, p)
            total += r
        rates.append(len(xs) / (clock() - t0))
    return total / len(x), float(np.median(rates))


def _time_split(agent: VWAgent, x: np.ndarray, best: np.ndarray) -> dict[str, float]:
    """Median microseconds per step in each part of act + learn, by the agent's own helpers
    (medians of per-step times, robust to preemption; the clock reads add ~0.05 us each)."""
    clock = time.perf_counter
    times = np.empty((len(x), 6))
    for i, (xt, bt) in enumerate(zip(x, best.tolist(), strict=True)):
        t0 = clock()
        text = agent.example_text(xt)
        t1 = clock()
        ex = agent._parse(text)
        t2 = clock()
        pmf = agent._predict(ex)
        t3 = clock()
        agent._finish(ex)
        t4 = clock()
        a, p, _ = agent._sample(agent._all_actions, pmf)
        t5 = clock()
        text = agent.labelled_text(xt, a, -(1.0 if a == bt else 0.0), p)
        t6 = clock()
        ex = agent._parse(text)
        t7 = clock()
        agent._learn(ex)
        t8 = clock()
        agent._finish(ex)
        t9 = clock()
        times[i] = (
            (t1 - t0) + (t6 - t5),  # build: both example strings
            (t2 - t1) + (t7 - t6),  # parse: VW's text parser, both examples
            t3 - t2,  # predict + reading the PMF
            t5 - t4,  # sample: draw, normalise, full PMF array
            t8 - t7,  # learn
            (t4 - t3) + (t9 - t8),  # finish: both examples back to VW's pool
        )
    med = np.median(times, axis=0) * 1e6
    return dict(
        zip(["build", "parse", "predict", "sample", "learn", "finish"], med.tolist(), strict=True)
    )


def _check_paths_agree(explorer: str, x: np.ndarray, best: np.ndarray) -> None:
    fast = VWAgent(explorer, 3, seed=7)
    slow = VWAgent(explorer, 3, seed=7, fast=False)
    rng = np.random.default_rng(5)
    try:
        for t, (xt, bt) in enumerate(zip(x, best.tolist(), strict=True)):
            mask = None if t % 2 else rng.random(3) < 0.7
            if mask is not None:
                mask[rng.integers(3)] = True
            a, p, pmf = fast.act(xt, mask)
            a2, p2, pmf2 = slow.act(xt, mask)
            assert a == a2 and p == p2 and np.array_equal(pmf, pmf2), (explorer, pmf, pmf2)
            r = 1.0 if a == bt else 0.0
            fast.learn(xt, a, r, p, mask)
            slow.learn(xt, a, r, p, mask)
    finally:
        fast.close()
        slow.close()


def _check_masks_and_action_features(x: np.ndarray, best: np.ndarray) -> float:
    rng = np.random.default_rng(3)
    with VWAgent("epsilon", 3, seed=1, action_features=np.eye(3)) as agent:
        total = 0.0
        for xt, bt in zip(x, best.tolist(), strict=True):
            mask = rng.random(3) < 0.8
            mask[bt if rng.random() < 0.5 else rng.integers(3)] = True
            a, p, pmf = agent.act(xt, mask)
            assert mask[a] and np.all(pmf[~mask] == 0.0) and abs(pmf.sum() - 1.0) < 1e-9
            assert p == pmf[a] > 0.0
            r = 1.0 if a == bt else 0.0
            agent.learn(xt, a, r, p, mask)
            total += r
    return total / len(x)


def main() -> None:
    n, dim, k = 2000, 5, 3
    x, best = _stream(n, dim, k, seed=0)
    print(
        f"vowpalwabbit {vowpalwabbit.__version__}; stream: {n} steps, {dim}-dim contexts, "
        f"{k} actions, reward 1 iff action = argmax W x (random policy: {1 / k:.3f})"
    )
    print(f"{'explorer':<10} {'avg reward':>10} {'steps/s':>9} {'steps/s public API':>19}  options")
    for name in VW_EXPLORERS:
        with VWAgent(name, k, seed=0) as agent:
            avg, sps = _run(agent, x, best)
        with VWAgent(name, k, seed=0, fast=False) as agent:
            avg_pub, sps_pub = _run(agent, x, best)
        assert avg == avg_pub, (name, avg, avg_pub)
        print(f"{name:<10} {avg:>10.3f} {sps:>9.0f} {sps_pub:>19.0f}  {vw_command_line(name, 0)}")
        assert avg > 1 / k + 0.2, f"{name}: average reward {avg:.3f} is not clearly above random"

    for name in VW_EXPLORERS:
        _check_paths_agree(name, x[:300], best[:300])
    print("fast and public-API paths: identical actions and PMFs, every explorer, 300 steps, masks")

    avg = _check_masks_and_action_features(x, best)
    print(f"masks + action features (epsilon): avg reward {avg:.3f}, PMF zero where masked")
    assert avg > 0.5

    print("time split, microseconds per step (one act + one learn), fast path:")
    for name in VW_EXPLORERS:
        with VWAgent(name, k, seed=0) as agent:
            split = _time_split(agent, x, best)
        total = sum(split.values())
        cells = "  ".join(f"{part} {us:5.2f}" for part, us in split.items())
        print(f"  {name:<9} {cells}  | total {total:5.1f}")
    print("  build = both example strings (Python), parse = VW's text parser on both, finish =")
    print("  both examples back to VW's pool, sample = draw + PMF array (Python); medians per step")

    # Memory: 20k more steps must not move the resident set (examples go back to VW's pool).
    xm, bm = _stream(20_000, dim, k, seed=1)
    with VWAgent("cover", k, seed=0) as agent:
        _run(agent, xm[:2000], bm[:2000])
        before = _rss_mib()
        _run(agent, xm, bm)
        after = _rss_mib()
    print(f"RSS over 20,000 more steps (cover): {before:.1f} -> {after:.1f} MiB")
    assert after - before < 2.0, "resident memory grows with steps"


if __name__ == "__main__":
    main()
