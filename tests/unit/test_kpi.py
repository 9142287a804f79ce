"""KPI finaliser and interval against numpy on row-level values; the kpi retrain trigger."""

from __future__ import annotations

import numpy as np
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.decisions import VersionFacts, retrain_decisions
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.metrics.kpi import kpi_fields, kpi_interval, kpi_value
from tests.helpers import with_changes


def state_of(a: np.ndarray, b: np.ndarray) -> dict:
    num, den, aa, ab, bb = kpi_fields("loss")
    return {
        num: [a.sum()],
        den: [b.sum()],
        aa: [(a * a).sum()],
        ab: [(a * b).sum()],
        bb: [(b * b).sum()],
        "n_labeled": [len(a)],
    }


def test_value_and_delta_method_interval_match_numpy():
    rng = np.random.default_rng(1)
    amount = rng.exponential(100, 5000)
    missed = rng.random(5000) < 0.03
    a, b = np.where(missed, amount, 0.0), amount
    s = state_of(a, b)
    r = a.sum() / b.sum()
    assert kpi_value(s, "loss")[0] == pytest.approx(r, rel=1e-12)
    se = np.sqrt(((a - r * b) ** 2).sum()) / b.sum()
    lo, hi, _ = kpi_interval(s, "loss", z_value(0.95))
    assert (lo[0], hi[0]) == pytest.approx((r - 1.959963984540054 * se, r + 1.959963984540054 * se), rel=1e-9)


def test_merge_law_and_undefined_cases():
    rng = np.random.default_rng(2)
    a, b = rng.random(300), rng.random(300) + 0.5
    merged = {
        k: [v1[0] + v2[0]]
        for (k, v1), v2 in zip(state_of(a[:100], b[:100]).items(), state_of(a[100:], b[100:]).values())
    }
    assert kpi_value(merged, "loss")[0] == pytest.approx(kpi_value(state_of(a, b), "loss")[0], rel=1e-12)
    empty = state_of(np.zeros(0), np.zeros(0))
    assert np.isnan(kpi_value(empty, "loss")[0]) and np.isnan(kpi_interval(empty, "loss", 1.96)[0][0])
    one = state_of(np.array([1.0]), np.array([2.0]))
    assert kpi_value(one, "loss")[0] == 0.5 and np.isnan(kpi_interval(one, "loss", 1.96)[1][0])
    none_missed = state_of(np.zeros(50), np.ones(50))
    assert kpi_value(none_missed, "loss")[0] == 0 and np.isnan(kpi_interval(none_missed, "loss", 1.96)[0][0])


def kpi_config(**kpi):
    data = with_changes()
    data["kpis"] = [
        {
            "name": "fraud_loss_rate",
            "numerator": "CASE WHEN label = 1 AND prediction = 0 THEN amount ELSE 0 END",
            "denominator": "amount",
            "max": 0.02,
            **kpi,
        }
    ]
    data["retrain"] = {"triggers": ["kpi"], "cooldown": "7 days"}
    return parse_config(data)


def kpi_rows(version, *windows):
    """(value, half-width, labels) per window, oldest first, one day apart."""
    return [
        {
            "model_version": version,
            "metric": "fraud_loss_rate",
            "window": "1 day",
            "window_start": i * 86400,
            "value": value,
            "ci_lower": value - half,
            "ci_upper": value + half,
            "n_labeled": n,
        }
        for i, (value, half, n) in enumerate(windows)
    ]


def test_kpi_trigger_needs_two_windows_beyond_the_limit_with_their_intervals():
    cfg = kpi_config()
    facts = [VersionFacts(v, 1000) for v in ("v1", "v2", "v3", "v4", "v5")]
    rows = (
        kpi_rows("v1", (0.030, 0.004, 500), (0.031, 0.004, 500))  # both beyond 0.02 with their intervals
        + kpi_rows("v2", (0.019, 0.004, 500), (0.031, 0.004, 500))  # only the latest
        + kpi_rows("v3", (0.030, 0.004, 500), (0.023, 0.004, 500))  # the latest interval reaches 0.019
        + kpi_rows("v4", (0.030, 0.004, 500), (0.031, 0.004, 150))  # too few labels (min_labeled 200)
        + kpi_rows("v5", (0.031, 0.004, 500))  # one window only
    )
    out = {d.model_version: d.row() for d in retrain_decisions(cfg, 10**6, facts, [], None, rows)}
    assert {v: d["decision"] for v, d in out.items()} == {
        "v1": "RETRAIN",
        "v2": "NO_ACTION",
        "v3": "NO_ACTION",
        "v4": "NO_ACTION",
        "v5": "NO_ACTION",
    }
    assert out["v1"]["reasons"] == ["kpi: fraud_loss_rate 0.031 > max 0.02 in two 1 day windows"]
    low = kpi_config(max=None, min=0.5, larger_is_better=True)
    rows = kpi_rows("v1", (0.4, 0.05, 500), (0.42, 0.05, 500))
    assert retrain_decisions(low, 10**6, facts[:1], [], None, rows)[0].reasons == [
        "kpi: fraud_loss_rate 0.42 < min 0.5 in two 1 day windows"
    ]
