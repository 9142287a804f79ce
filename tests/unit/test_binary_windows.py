"""Binary finalisers over merged bucket states, against scikit-learn, without Spark."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.metrics import metrics_for
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests.helpers import BASE, BINARY_METRICS
from tests.oracle import binary_metric
from tests.statebuild import binary_stats

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)
BINARY = BINARY_METRICS


def plan(windows=("3 days",), metrics=tuple(BINARY), as_of=T0 + 20 * DAY, max_delay="5 days") -> WindowPlan:
    data = dict(BASE, metrics=list(metrics), windows={"granularity": "1 day", "rolling": list(windows)})
    data["labels"] = dict(BASE["labels"], max_delay=max_delay)
    return WindowPlan.from_config(parse_config(data), as_of)


def random_rows(seed=7) -> pd.DataFrame:
    """Two versions over 10 days with the edge cases in named buckets:
    day 2 of v1 has only negative labels, day 3 of v1 only positive decisions,
    day 4 of v1 no labels at all, day 5 of v1 no predictions (a gap), v2 starts on day 6."""
    rng = np.random.default_rng(seed)
    frames = []
    for version, days in (("v1", [0, 1, 2, 3, 4, 6, 7, 8, 9]), ("v2", [6, 7, 8, 9])):
        for day in days:
            n = int(rng.integers(5, 60))
            y = (rng.random(n) < 0.3).astype(float)
            score = np.clip(np.round(0.25 + 0.35 * y + rng.normal(0, 0.2, n), 2), 0, 1)
            if version == "v1" and day == 2:
                y[:] = 0.0
            if version == "v1" and day == 3:
                score = 0.6 + 0.4 * rng.random(n)
            y[rng.random(n) < 0.2] = np.nan
            if version == "v1" and day == 4:
                y[:] = np.nan
            frames.append(
                pd.DataFrame(
                    {
                        "model_version": version,
                        "bucket_start": T0 + day * DAY,
                        "y": y,
                        "score": score,
                        "d": (score >= 0.5).astype(int),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def assert_close(actual, expected, tol, what):
    if expected is None:
        assert actual is None or np.isnan(actual), f"{what}: expected null, got {actual}"
    else:
        assert actual is not None and not np.isnan(actual), f"{what}: expected {expected}, got null"
        assert abs(actual - expected) <= tol, f"{what}: {actual} != {expected}"


def test_every_binary_metric_matches_sklearn_in_every_window():
    rows = random_rows()
    out = finalise_slice(binary_stats(rows), plan())
    assert set(out["window"]) == {"1 day", "3 days"}
    assert set(out["model_version"]) == {"v1", "v2", "*"}
    checked = 0
    for r in out.itertuples():
        start, end = pd.Timestamp(r.window_start), pd.Timestamp(r.window_end)
        sel = rows[(rows["bucket_start"] >= start) & (rows["bucket_start"] < end)]
        if r.model_version != "*":
            sel = sel[sel["model_version"] == r.model_version]
        expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        assert_close(r.value, expected, 1e-9, f"{r.metric} {r.model_version} {r.window} {start}")
        assert r.n_predictions == len(sel) and r.n_labeled == sel["y"].notna().sum()
        checked += 1
    assert checked == len(out) > 500


def test_edge_cases_are_null_not_nan_or_error():
    rows = random_rows()
    out = finalise_slice(binary_stats(rows), plan())
    day = out[(out["model_version"] == "v1") & (out["window"] == "1 day")]

    def value(d, metric):
        return day[(day["window_start"] == T0 + d * DAY) & (day["metric"] == metric)]["value"].iloc[0]

    assert np.isnan(value(2, "roc_auc")) and np.isnan(value(2, "recall")) and np.isnan(value(2, "pr_auc"))
    assert value(2, "positive_rate") == 0.0
    # Day 3: every decision positive, and some labels negative: TN = 0 < TN + FP, so specificity
    # (TN / (TN + FP)) is defined and 0, not null (null is for a window without negative labels).
    day3 = rows[(rows["model_version"] == "v1") & (rows["bucket_start"] == T0 + 3 * DAY)]
    assert (day3["d"] == 1).all() and (day3["y"] == 0).any()
    assert value(3, "specificity") == 0.0
    assert value(3, "prediction_rate") == 1.0
    assert np.isnan(value(4, "accuracy")) and np.isnan(value(4, "log_loss"))
    # The gap on day 5 has no tumbling row but the 3-day window ending there exists.
    assert (T0 + 5 * DAY) not in set(day["window_start"])
    rolling = out[(out["model_version"] == "v1") & (out["window"] == "3 days") & (out["window_end"] == T0 + 6 * DAY)]
    assert (rolling["n_predictions"] > 0).all()


def test_empty_window_has_zero_counts_and_null_values():
    rows = random_rows()
    rows = rows[(rows["model_version"] == "v1") & ~rows["bucket_start"].between(T0 + 3 * DAY, T0 + 7 * DAY)]
    out = finalise_slice(binary_stats(rows), plan())
    empty = out[(out["window"] == "3 days") & (out["window_end"] == T0 + 7 * DAY) & (out["model_version"] == "v1")]
    assert len(empty) == len(BINARY)
    assert (empty["n_predictions"] == 0).all() and empty["value"].isna().all() and empty["label_coverage"].isna().all()


@pytest.mark.parametrize("metric", [m.name for m in metrics_for("binary")])
def test_merge_law(metric):
    """value(state(A) + state(B)) == value(state(A and B)): a 2-bucket window equals one bucket
    holding the same rows."""
    rows = random_rows(seed=11)
    rows = rows[rows["model_version"] == "v1"]
    two = rows[rows["bucket_start"].isin([T0 + 6 * DAY, T0 + 7 * DAY])]
    merged = finalise_slice(binary_stats(two), plan(windows=("2 days",), metrics=(metric,)))
    merged = merged[
        (merged["window"] == "2 days") & (merged["window_end"] == T0 + 8 * DAY) & (merged["model_version"] == "v1")
    ]
    one = finalise_slice(binary_stats(two.assign(bucket_start=T0 + 7 * DAY)), plan(windows=(), metrics=(metric,)))
    one = one[(one["window"] == "1 day") & (one["model_version"] == "v1")]
    a, b = merged["value"].iloc[0], one["value"].iloc[0]
    assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-12
    for col in ("ci_lower", "ci_upper"):
        x, y = merged[col].iloc[0], one[col].iloc[0]
        assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-12


def test_intervals_bracket_the_value_where_defined():
    out = finalise_slice(binary_stats(random_rows()), plan())
    defined = out[out["ci_lower"].notna()]
    assert len(defined) > 100
    assert (defined["ci_lower"] <= defined["value"] + 1e-12).all() and (
        defined["value"] <= defined["ci_upper"] + 1e-12
    ).all()
    # f1 and pr_auc have intervals too (pr_auc none at 0 or 1, where its logit has no spread)
    f1 = out[(out["metric"] == "f1") & out["value"].notna()]
    ap = out[(out["metric"] == "pr_auc") & (out["value"] > 0) & (out["value"] < 1)]
    assert len(f1) and len(ap) and f1["ci_lower"].notna().all() and ap["ci_lower"].notna().all()


def test_maturity_and_coverage():
    rows = random_rows()
    as_of = T0 + 12 * DAY  # max_delay 5 days: buckets ending by day 7 are mature
    out = finalise_slice(binary_stats(rows), plan(as_of=as_of))
    r = out[out["metric"] == "accuracy"]
    assert (r["is_mature"] == (r["window_end"] + timedelta(days=5) <= as_of)).all()
    # the coverage of the v1 buckets that are mature and end by the window's end
    v1 = rows[rows["model_version"] == "v1"]
    checked = 0
    for w in r[r["model_version"] == "v1"].itertuples():
        cap = min(w.window_end, as_of - timedelta(days=5))
        before = v1[v1["bucket_start"] + DAY <= cap]
        if len(before):
            assert np.isclose(w.expected_coverage, before["y"].notna().mean())
            checked += 1
        else:
            assert np.isnan(w.expected_coverage)
    assert checked > 10
    immature = r[(r["model_version"] == "v1") & ~r["is_mature"]]["expected_coverage"]
    assert len(immature) and np.allclose(immature, v1[v1["bucket_start"] + DAY <= cap]["y"].notna().mean())
    cov = r["n_labeled"] / r["n_predictions"]
    assert np.allclose(r["label_coverage"].dropna(), cov[r["n_predictions"] > 0])


@pytest.mark.parametrize("since_day", [0, 3, 8, 10, 30])
def test_since_keeps_exactly_the_later_windows_with_their_values(since_day):
    """A run that finalises only windows ending at or after ``since`` writes the same rows as
    the full finalisation would there (reference proxies and label-count windows included)."""
    rows = random_rows()
    windows = {"granularity": "1 day", "rolling": ["3 days", "40 labels"]}
    data = dict(BASE, metrics=["accuracy", "roc_auc", "score_psi"], windows=windows)
    data["baseline"] = {"source": "window", "window": "3 days"}
    cfg = parse_config(data)
    since = T0 + since_day * DAY
    starts = tuple((v, int(pd.Timestamp(T0 + d * DAY).timestamp())) for v, d in (("*", 0), ("v1", 0), ("v2", 6)))

    def finalised(plan):
        plan = replace(plan, reference=replace(plan.reference, version_starts=starts))
        return finalise_slice(binary_stats(rows), plan)

    full = finalised(WindowPlan.from_config(cfg, T0 + 12 * DAY))
    part = finalised(WindowPlan.from_config(cfg, T0 + 12 * DAY, since))
    assert full[full["metric"] == "score_psi"]["value"].notna().sum() > 5
    key = ["model_version", "window", "window_start", "metric"]
    expected = full[full["window_end"] >= since].sort_values(key).reset_index(drop=True)
    assert set(expected["window"]) >= {"1 day", "3 days"} or since_day >= 10
    pd.testing.assert_frame_equal(part.sort_values(key).reset_index(drop=True), expected, check_dtype=False)


@pytest.mark.parametrize(
    "granularity, rolling, step",
    [("1 hour", "6 hours", timedelta(hours=1)), ("1 week", "13 weeks", timedelta(weeks=1))],
)
def test_hourly_and_weekly_windows(granularity, rolling, step):
    rng = np.random.default_rng(4)
    t0 = datetime(2026, 3, 2)  # a Monday: weekly buckets start on Mondays
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "model_version": "v1",
                    "bucket_start": t0 + i * step,
                    "y": (rng.random(30) < 0.4).astype(float),
                    "score": rng.random(30),
                    "d": 0,
                }
            )
            for i in range(20)
            if i != 7
        ],
        ignore_index=True,
    )
    rows["d"] = (rows["score"] >= 0.5).astype(int)
    data = dict(BASE, metrics=["accuracy", "roc_auc"], windows={"granularity": granularity, "rolling": [rolling]})
    out = finalise_slice(binary_stats(rows), WindowPlan.from_config(parse_config(data), t0 + 400 * step))
    long = out[(out["window"] == rolling) & (out["model_version"] == "v1")]
    assert len(long) == 2 * 20  # every boundary of the range, gap included, two metrics
    for r in long.itertuples():
        assert r.window_end - r.window_start == pd.Timedelta(
            rolling.replace("hours", "h").replace("weeks", "W").replace(" ", "")
        )
        sel = rows[(rows["bucket_start"] >= r.window_start) & (rows["bucket_start"] < r.window_end)]
        expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        assert_close(r.value, expected, 1e-9, f"{r.metric} {r.window_end}")
    assert set(out[out["window"] == granularity]["window_start"]) == {t0 + i * step for i in range(20) if i != 7}
