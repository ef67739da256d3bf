"""Evaluation statistics across runs (IQM and bootstrap confidence intervals)."""

from nacre.eval.stats import iqm, mean, stratified_bootstrap_ci, summarize_returns

__all__ = ["iqm", "mean", "stratified_bootstrap_ci", "summarize_returns"]
