"""Proxy metrics over every prediction, labeled or not, against numpy and scipy on the same rows:
means, spreads and quantiles of the scores, predicted class shares, and the distribution distances
(PSI, Jensen-Shannon) against the reference period on the bins its deciles cut."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from perfmon_spark.config import parse_config
from perfmon_spark.metrics import histogram
from perfmon_spark.metrics.proxies import PSI_BINS
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests import oracle
from tests.helpers import BASE
from tests.statebuild import binary_stats, multiclass_stats, regression_stats

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)
AS_OF = T0 + 30 * DAY
REGRESSION = {"table": "p", "id": "id", "timestamp": "ts", "model_version": "v", "prediction": "yhat"}
MULTICLASS = {"table": "p", "id": "id", "timestamp": "ts", "model_version": "v", "prediction": "c"}


def rows_over(days: int, seed: int, shift_from: int | None = None) -> pd.DataFrame:
    """Scores on a 0.001 grid (ties), a third unlabeled; from day ``shift_from`` the scores rise."""
    rng = np.random.default_rng(seed)
    n = days * 120
    day = rng.integers(0, days, n)
    score = rng.beta(2, 5, n)
    if shift_from is not None:
        score = np.where(day >= shift_from, np.minimum(score + 0.15, 1.0), score)
    y = np.where(rng.random(n) < 0.33, np.nan, (rng.random(n) < score).astype(float))
    return pd.DataFrame(
        {
            "model_version": rng.choice(["v1", "v2"], n),
            "bucket_start": [T0 + int(d) * DAY for d in day],
            "score": score.round(3),
            "y": y,
            "d": (score >= 0.5).astype(int),
        }
    )


def plan_for(problem_type: str, metrics, baseline: dict, **extra) -> WindowPlan:
    data = dict(BASE, problem_type=problem_type, metrics=list(metrics), baseline=baseline, **extra)
    data["windows"] = {"granularity": "1 day", "rolling": ["7 days"]}
    return WindowPlan.from_config(parse_config(data), AS_OF)


def started(plan: WindowPlan, rows: pd.DataFrame) -> WindowPlan:
    """The version starts the job reads from perf_stats (``windows.spark.with_version_starts``)."""
    firsts = rows.groupby("model_version")["bucket_start"].min()
    starts = {v: int(pd.Timestamp(t).timestamp()) for v, t in firsts.items()}
    starts["*"] = min(starts.values())
    return replace(plan, reference=replace(plan.reference, version_starts=tuple(sorted(starts.items()))))


def window_rows(rows, version, start, end):
    sub = rows if version == "*" else rows[rows["model_version"] == version]
    return sub[(sub["bucket_start"] >= start) & (sub["bucket_start"] < end)]


def oracle_distances(window: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    edges = np.unique(np.quantile(reference, np.arange(1, PSI_BINS) / PSI_BINS, method="inverted_cdf"))
    w = np.bincount(np.searchsorted(edges, window), minlength=len(edges) + 1)
    r = np.bincount(np.searchsorted(edges, reference), minlength=len(edges) + 1)
    return oracle.psi(w, r), float(jensenshannon(w / w.sum(), r / r.sum(), base=2))


def test_binary_score_proxies_count_every_prediction():
    rows = rows_over(20, seed=1, shift_from=12)
    metrics = ("score_mean", "score_std", "score_p50", "score_p90", "score_psi", "score_js")
    plan = plan_for("binary", metrics, {"source": "window", "window": "7 days"})
    out = finalise_slice(binary_stats(rows), started(plan, rows))
    checked = 0
    for r in out[out["window"] == "7 days"].itertuples():
        start, end = pd.Timestamp(r.window_start), pd.Timestamp(r.window_end)
        scores = window_rows(rows, r.model_version, start, end)["score"].to_numpy()
        versions = rows if r.model_version == "*" else rows[rows["model_version"] == r.model_version]
        first = versions["bucket_start"].min()
        reference = window_rows(rows, r.model_version, first, first + 7 * DAY)["score"].to_numpy()
        expected = {
            "score_mean": scores.mean() if len(scores) else np.nan,
            "score_std": scores.std(ddof=1) if len(scores) > 1 else np.nan,
            "score_p50": np.quantile(scores, 0.5, method="inverted_cdf") if len(scores) else np.nan,
            "score_p90": np.quantile(scores, 0.9, method="inverted_cdf") if len(scores) else np.nan,
        }
        if end >= first + 7 * DAY and len(scores):
            expected["score_psi"], expected["score_js"] = oracle_distances(scores, reference)
        else:
            expected["score_psi"] = expected["score_js"] = np.nan
        assert r.n_predictions == len(scores)
        np.testing.assert_allclose(r.value, expected[r.metric], rtol=1e-9, atol=1e-12, err_msg=f"{r}")
        checked += not np.isnan(expected[r.metric])
    assert checked > 200
    shifted = out[(out["metric"] == "score_psi") & (out["model_version"] == "*") & (out["window"] == "7 days")]
    by_end = shifted.set_index("window_end")["value"]
    assert by_end[pd.Timestamp(T0 + 11 * DAY)] < 0.1 < 0.2 < by_end[pd.Timestamp(T0 + 20 * DAY)]


def test_quantile_intervals_cover_and_proxies_exist_without_labels():
    rows = rows_over(5, seed=2).assign(y=np.nan)
    plan = plan_for("binary", ("score_p50", "score_mean", "accuracy"), {"source": "window"})
    out = finalise_slice(binary_stats(rows), plan)
    day = out[(out["window"] == "1 day") & (out["model_version"] == "*")]
    assert (day["n_labeled"] == 0).all() and day[day["metric"] == "accuracy"]["value"].isna().all()
    p50 = day[day["metric"] == "score_p50"]
    assert p50["value"].notna().all() and (p50["ci_lower"] <= p50["value"]).all()
    assert (p50["value"] <= p50["ci_upper"]).all() and (p50["ci_lower"] < p50["ci_upper"]).all()


def test_rolling_reference_and_regression_proxies():
    rng = np.random.default_rng(3)
    n = 2400
    rows = pd.DataFrame(
        {
            "model_version": "v1",
            "bucket_start": [T0 + int(d) * DAY for d in rng.integers(0, 20, n)],
            "pred": rng.lognormal(2, 0.5, n).round(2),
        }
    )
    rows["y"] = np.where(rng.random(n) < 0.5, np.nan, rows["pred"] + rng.normal(0, 1, n))
    metrics = ("prediction_mean", "prediction_std", "score_psi", "score_js")
    baseline = {"source": "rolling", "rolling": {"length": "7 days", "lag": "7 days"}}
    out = finalise_slice(regression_stats(rows), plan_for("regression", metrics, baseline, predictions=REGRESSION))
    checked = 0
    for r in out[(out["window"] == "7 days") & (out["model_version"] == "v1")].itertuples():
        end = pd.Timestamp(r.window_end)
        values = window_rows(rows, "v1", end - 7 * DAY, end)["pred"].to_numpy()
        reference = window_rows(rows, "v1", end - 14 * DAY, end - 7 * DAY)["pred"].to_numpy()
        if r.metric == "prediction_mean":
            expected = values.mean()
        elif r.metric == "prediction_std":
            expected = values.std(ddof=1)
        elif len(reference) == 0:
            expected = np.nan
        else:
            expected = oracle_distances(values, reference)[r.metric == "score_js"]
        np.testing.assert_allclose(r.value, expected, rtol=1e-9, atol=1e-12, err_msg=f"{r}")
        checked += not np.isnan(expected)
    assert checked > 30


@pytest.mark.parametrize("cls", ["a", "c"])
def test_multiclass_predicted_shares_and_class_share_psi(cls):
    rng = np.random.default_rng(4)
    n = 3000
    day = rng.integers(0, 20, n)
    pred = np.where(day < 10, rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]), rng.choice(["a", "b"], n))
    rows = pd.DataFrame(
        {
            "model_version": "v1",
            "bucket_start": [T0 + int(d) * DAY for d in day],
            "pred": pred,
            "y": np.where(rng.random(n) < 0.4, None, rng.choice(["a", "b", "c"], n)),
        }
    )
    predictions = {"table": "p", "id": "id", "timestamp": "ts", "model_version": "v", "prediction": "c"}
    metrics = (f"predicted_share[{cls}]", "class_share_psi", "accuracy")
    plan = started(
        plan_for("multiclass", metrics, {"source": "window", "window": "7 days"}, predictions=predictions), rows
    )
    out = finalise_slice(multiclass_stats(rows), plan)
    reference_counts = window_rows(rows, "v1", T0, T0 + 7 * DAY)["pred"].value_counts()
    for r in out[(out["window"] == "7 days") & (out["model_version"] == "v1")].itertuples():
        end = pd.Timestamp(r.window_end)
        sub = window_rows(rows, "v1", end - 7 * DAY, end)
        shares = sub["pred"].value_counts(normalize=True)
        counts = sub["pred"].value_counts()
        if r.metric == "accuracy":
            labeled = sub[sub["y"].notna()]
            expected = (labeled["y"] == labeled["pred"]).mean()
        elif r.metric == "class_share_psi":
            classes = sorted(set(counts.index) | set(reference_counts.index))
            window, ref = (c.reindex(classes, fill_value=0).to_numpy() for c in (counts, reference_counts))
            expected = oracle.psi(window, ref) if end >= pd.Timestamp(T0 + 7 * DAY) else np.nan
        else:
            expected = shares.get(cls, 0.0)
        np.testing.assert_allclose(r.value, expected, rtol=1e-9, atol=1e-12, err_msg=f"{r}")


def test_quantiles_of_a_binned_summary_lie_within_one_grid_bin():
    rng = np.random.default_rng(5)
    n = 3 * histogram.EXACT_LIMIT  # one bucket: its summary is compacted onto the grid
    rows = pd.DataFrame({"model_version": "v1", "bucket_start": T0, "score": rng.beta(2, 5, n), "y": np.nan, "d": 0})
    stats = binary_stats(rows)
    assert len(stats["hist_keys"].iloc[0]) < n  # binned
    plan = plan_for("binary", ("score_p50", "score_p90"), {"source": "window"})
    out = finalise_slice(stats, plan).query("window == '1 day' and model_version == 'v1'")
    width = histogram.Grid.for_scale("probability").width
    for q, value in zip((0.5, 0.9), out.sort_values("metric")["value"]):
        exact = np.quantile(rows["score"], q, method="inverted_cdf")
        key = histogram.transform(np.array([exact]), "probability")[0]
        assert abs(histogram.transform(np.array([value]), "probability")[0] - key) <= width


@pytest.mark.parametrize(
    ("problem_type", "metric", "build", "extra"),
    [
        ("regression", "prediction_std", regression_stats, {"predictions": REGRESSION}),
        ("multiclass", "predicted_share[b]", multiclass_stats, {"predictions": MULTICLASS}),
    ],
)
def test_merge_law_of_the_proxy_states(problem_type, metric, build, extra):
    """Two buckets merged in a 2-day window equal one bucket holding the same rows."""
    rng = np.random.default_rng(6)
    n = 600
    rows = pd.DataFrame(
        {
            "model_version": "v1",
            "bucket_start": [T0 + int(d) * DAY for d in rng.integers(0, 2, n)],
            "pred": rng.lognormal(1, 0.4, n) if problem_type == "regression" else rng.choice(["a", "b", "c"], n),
        }
    )
    rows["y"] = np.nan if problem_type == "regression" else None
    plan = plan_for(problem_type, (metric,), {"source": "window"}, **extra)
    two = finalise_slice(build(rows), replace(plan, windows=(("2 days", 2 * 86400),)))
    one = finalise_slice(build(rows.assign(bucket_start=T0 + DAY)), replace(plan, windows=(("1 day", 86400),)))
    a = two[two["window_end"] == T0 + 2 * DAY][["value", "ci_lower", "ci_upper"]].to_numpy()
    b = one[["value", "ci_lower", "ci_upper"]].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
