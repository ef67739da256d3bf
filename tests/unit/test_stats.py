"""Interquartile mean and bootstrap intervals (nacre.eval.stats) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from nacre.eval import iqm, mean, stratified_bootstrap_ci, summarize_returns


def test_iqm_cuts_a_quarter_from_each_end() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(np.mean([3, 4, 5, 6]))
    assert iqm([5.0, 1.0, 3.0]) == pytest.approx(3.0)  # n < 4: the mean
    with pytest.raises(ValueError):
        iqm([])


def test_bootstrap_interval_holds_the_point_and_shrinks_with_more_runs() -> None:
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 2, 5), rng.normal(10, 2, 200)
    p, lo, hi = stratified_bootstrap_ci(few, mean)
    assert lo <= p <= hi
    p2, lo2, hi2 = stratified_bootstrap_ci(many, mean)
    assert hi2 - lo2 < hi - lo and lo2 < 10 < hi2
    assert stratified_bootstrap_ci([3.0, 3.0], iqm) == (3.0, 3.0, 3.0)


def test_summary_counts_runs_at_the_threshold() -> None:
    out = summarize_returns([500, 500, 400, 480], threshold=475)
    assert out["n"] == 4 and out["fraction_ge_threshold"] == 0.75
    assert out["iqm_ci95"][0] <= out["iqm"] <= out["iqm_ci95"][1]
