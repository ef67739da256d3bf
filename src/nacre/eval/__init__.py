"""Evaluation: statistics across runs (IQM and bootstrap confidence intervals) and off-policy
evaluation of a policy from logged data (importance sampling, doubly robust, FQE; bootstrap
intervals that refit the reward model)."""

from nacre.eval.fqe import FQEConfig, FQEResult, fqe, fqe_bootstrap
from nacre.eval.ope import (
    BanditEstimator,
    Estimate,
    SequentialEstimator,
    bootstrap_bandit,
    bootstrap_sequential,
    dm,
    dr,
    ips,
    pdis,
    snips,
    switch_dr,
    wpdis,
)
from nacre.eval.ope_bootstrap import (
    FitQ,
    bootstrap_bandit_refit,
    bootstrap_difference_refit,
    cross_fit,
    ridge_q,
)
from nacre.eval.stats import iqm, mean, stratified_bootstrap_ci, summarize_returns

__all__ = [
    "BanditEstimator", "Estimate", "FQEConfig", "FQEResult", "FitQ", "SequentialEstimator",
    "bootstrap_bandit", "bootstrap_bandit_refit", "bootstrap_difference_refit",
    "bootstrap_sequential", "cross_fit", "dm",
    "dr", "fqe", "fqe_bootstrap", "ips", "iqm", "mean", "pdis", "ridge_q", "snips",
    "stratified_bootstrap_ci", "summarize_returns", "switch_dr", "wpdis",
]
