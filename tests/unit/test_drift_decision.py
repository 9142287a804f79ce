"""The size-aware drift decision without Spark: the chi-square tail against scipy, the pooled bins,
the test's p-value against scipy's chi-square of an independently computed PSI, and the per-slice
finaliser's decision over each window's features (the threshold with scipy's Benjamini-Hochberg)."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from perfmon_spark.drift_windows import DriftPlan, finalise_drift_slice
from perfmon_spark.metrics import drift, significance
from perfmon_spark.metrics.drift import MIN_EXPECTED, pooled, psi_p_value
from perfmon_spark.metrics.significance import chi2_sf
from perfmon_spark.windows.finalise import Reference
from tests import oracle

DAY = 86400
T0 = 1_767_225_600  # 2026-01-01 UTC
EDGES = tuple(np.linspace(-2.5, 2.5, 21))


@pytest.mark.parametrize("module", [significance, drift])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 19, 20, 99, 200, 1001])
def test_chi2_tail_equals_scipy(df):
    for x in (0.0, 1e-3, 0.5, 3.0, 10.0, 30.0, 100.0, 1000.0, 5000.0):
        expected = stats.chi2.sf(x, df)
        assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-10, abs=1e-300), (x, df)


@pytest.mark.parametrize("ordered", [True, False])
def test_pooled_bins_expect_enough_rows_and_keep_every_count(ordered):
    rng = np.random.default_rng(4)
    for _ in range(200):
        bins = int(rng.integers(2, 30))
        shares = rng.dirichlet(np.full(bins, 0.5))
        w = rng.multinomial(int(rng.integers(1, 400)), shares).astype(float)
        r = rng.multinomial(int(rng.integers(1, 4000)), shares).astype(float)
        pw, pr = pooled(w, r, ordered=ordered)
        assert pw.sum() == w.sum() and pr.sum() == r.sum()
        n, m = w.sum(), r.sum()
        expected = min(n, m) * (pr / m if ordered else (pw + pr) / (n + m))
        assert len(pw) == 1 or (expected >= MIN_EXPECTED - 1e-9).all()
        used = (w + r) > 0  # each pooled bin is a run of neighbours: the cumulative counts agree at its end
        order = np.arange(used.sum()) if ordered else np.argsort(-(w + r)[used], kind="stable")
        assert set(np.cumsum(pw)) <= set(np.cumsum(w[used][order]))


def test_p_value_is_the_chi_square_tail_of_the_scaled_psi_on_pooled_bins_williams_corrected():
    rng = np.random.default_rng(5)
    for n, m in ((30, 90), (100, 100), (1000, 14000)):
        w = rng.multinomial(n, np.full(20, 0.05)).astype(float)
        r = rng.multinomial(m, np.full(20, 0.05)).astype(float)
        for ordered in (True, False):
            pw, pr = pooled(w, r, ordered=ordered)
            table = np.vstack([pw, pr])  # Williams (1976) for an r x c table: rows n and m, columns the bins
            total, (rows, cols) = table.sum(), table.shape
            q = 1 + (total * np.sum(1 / table.sum(axis=0)) - 1) * (total * np.sum(1 / table.sum(axis=1)) - 1) / (
                6 * total * (rows - 1) * (cols - 1)
            )
            expected = stats.chi2.sf(oracle.psi(pw, pr) / (1 / n + 1 / m) / q, cols - 1)
            assert psi_p_value(w, r, ordered=ordered) == pytest.approx(expected, rel=1e-9)
    four_rows = np.array([3.0, 1, 0]), np.array([50.0, 40, 10])  # one pooled bin
    assert np.isnan(psi_p_value(*four_rows, ordered=True))


def slice_rows(rows_per_day: int, shift_from: int, seed: int = 0) -> pd.DataFrame:
    """``drift_stats`` rows of one slice and version over 10 days: features a (its mean moves by
    0.8 sd from day ``shift_from``), b and c (stable), on ``EDGES``' 20 bins."""
    rng = np.random.default_rng(seed)
    inner = np.asarray(EDGES)[1:-1]
    rows = []
    for feature in "abc":
        for d in range(10):
            x = rng.normal(0.8 if feature == "a" and d >= shift_from else 0.0, 1.0, rows_per_day)
            counts = np.bincount(np.searchsorted(inner, x), minlength=len(EDGES))  # the value bins, the null bin
            rows.append(("v1", "*", "*", pd.Timestamp(T0 + d * DAY, unit="s"), feature, counts.tolist()))
    return pd.DataFrame(
        rows, columns=["model_version", "slice_key", "slice_value", "bucket_start", "feature", "bin_counts"]
    )


def plan_of(fdr: float = 0.05) -> DriftPlan:
    return DriftPlan(
        granularity_seconds=DAY,
        windows=(("1 day", DAY), ("3 days", 3 * DAY)),
        reference=Reference(3 * DAY, None, (("*", T0), ("v1", T0))),
        features=tuple((f, True, EDGES) for f in "abc"),
        psi_threshold=0.2,
        fdr=fdr,
    )


def test_a_window_drifts_where_its_psi_passes_the_threshold_and_the_test_over_its_features():
    out = finalise_drift_slice(slice_rows(300, shift_from=6), plan_of())
    psi = out[out["measure"] == "psi"]
    assert out.loc[out["measure"] != "psi", ["p_value", "is_drifted"]].isna().all().all()
    before = psi["window_end"] < pd.Timestamp(T0 + 3 * DAY, unit="s")  # the reference period has not ended
    assert psi.loc[before, ["value", "p_value", "is_drifted"]].isna().all().all()
    tested = psi[~before]
    assert tested["p_value"].notna().all()
    for _, family in tested.groupby(["model_version", "window", "window_start"]):
        q = stats.false_discovery_control(family["p_value"].to_numpy(), method="bh")
        assert family["is_drifted"].tolist() == ((family["value"].to_numpy() > 0.2) & (q <= 0.05)).tolist()
    daily = tested[(tested["window"] == "1 day") & (tested["model_version"] == "v1")].set_index(
        ["feature", "window_start"]
    )["is_drifted"]
    late = pd.Timestamp(T0 + 6 * DAY, unit="s")
    assert daily.loc["a"][daily.loc["a"].index >= late].all()
    assert not daily.loc["a"][daily.loc["a"].index < late].any()
    assert not daily.loc[["b", "c"]].any()


def test_small_windows_are_judged_on_their_size_not_their_raw_psi():
    """30 rows a day on stable data: the raw PSI is beyond 0.2 in most windows (on 20 bins, chance
    alone gives about 19 x (1/30 + 1/90) = 0.84 in a day), and few windows are drifted: about 5%
    of windows may have a false discovery among their features (the bench measures the rates)."""
    out = finalise_drift_slice(slice_rows(30, shift_from=99, seed=3), plan_of())
    psi = out[(out["measure"] == "psi") & out["p_value"].notna()]
    assert (psi.loc[psi["window"] == "1 day", "value"] > 0.2).mean() > 0.8
    assert psi["is_drifted"].mean() <= 0.05
