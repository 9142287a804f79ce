"""The core of ``bench/bench_drift_statistics.py`` on tiny inputs, so that the bench cannot rot:
every figure it prints comes out, in range, and the clear cases come out clearly."""

from __future__ import annotations

import numpy as np

from bench import bench_drift_statistics as bench


def test_the_bench_core_runs_on_tiny_inputs():
    rng = np.random.default_rng(0)
    for kind in ("numeric", "categorical"):
        window, reference = bench.histograms(rng, 30, kind)
        assert window.sum() == 30 and reference.sum() == 30 * bench.REFERENCE_RATIO
        above, drifted = bench.stable_shares(rng, 30, 20, kind)
        assert above > 0.5 and drifted <= 0.15  # small windows: the PSI alone is beyond 0.2, the decision is not
    share, proportion, found = bench.false_discoveries(rng, bench.SHIFT_ROWS, 5, 20, 2)
    assert 0 <= share <= 1 and 0 <= proportion <= 1 and found >= 0.5
    rates = bench.correlation_rates(rng, 10, 10, 0.8, features=3)
    assert len(rates) == 5 and all(0 <= r <= 1 for r in rates)
