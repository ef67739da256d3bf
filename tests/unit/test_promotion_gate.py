"""The OPE gate on simulated promotions whose truth is known (nacre.testing.promotion): a
truly better candidate is promoted and a truly worse one is rejected. The 20-seeds-each-way
measurement is benchmarks/promotion_simulation.py; here one seed each way keeps a gate that
always (or never) promotes from passing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from nacre.testing.promotion import simulate  # noqa: E402


@pytest.mark.parametrize("better", [True, False])
def test_the_gate_follows_the_truth(tmp_path: Path, better: bool) -> None:
    result = simulate(3, better, tmp_path, resamples=200)
    truly_better = result["true_candidate"] > result["true_production"]
    assert truly_better == better  # the simulation sets up what it claims
    assert result["promoted"] == better, result["estimated_difference"]
    assert result["registry_production"] == (2 if better else 1)  # recorded in the registry
