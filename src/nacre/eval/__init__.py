"""Evaluation: statistics across runs (IQM and bootstrap confidence intervals) and off-policy
evaluation of a policy from logged data (importance sampling, doubly robust, FQE)."""

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
from nacre.eval.stats import iqm, mean, stratified_bootstrap_ci, summarize_returns

__all__ = [
    "BanditEstimator", "Estimate", "FQEConfig", "FQEResult", "SequentialEstimator",
    "bootstrap_bandit", "bootstrap_sequential", "dm", "dr", "fqe", "fqe_bootstrap", "ips",
    "iqm", "mean", "pdis", "snips", "stratified_bootstrap_ci", "summarize_returns", "switch_dr",
    "wpdis",
]
