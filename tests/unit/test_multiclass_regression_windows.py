"""Multiclass and regression finalisers over merged bucket states, against scikit-learn."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests.helpers import BASE
from tests.oracle import multiclass_metric, regression_metric
from tests.statebuild import multiclass_stats, regression_stats

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)
CLASSES = ["cat", "dog", "eel", "fox"]
MULTICLASS = [
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "log_loss",
    "recall[eel]",
    "precision[eel]",
    "recall[fox]",
    "precision[cat]",
]
REGRESSION = ["rmse", "mse", "mae", "mape", "r2", "mean_error"]


def plan(problem_type, metrics, **predictions) -> WindowPlan:
    data = dict(
        BASE, problem_type=problem_type, metrics=list(metrics), windows={"granularity": "1 day", "rolling": ["3 days"]}
    )
    data["predictions"] = {k: v for k, v in BASE["predictions"].items() if k != "score"} | predictions
    return WindowPlan.from_config(parse_config(data), T0 + 30 * DAY)


def multiclass_rows(seed=3) -> pd.DataFrame:
    """Day 0: every label is 'cat'; day 1: nothing predicted 'dog' though labels hold dogs;
    day 2: no labels; 'fox' only predicted, never a label, on day 3."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(8):
        n = int(rng.integers(4, 50))
        y = rng.choice(CLASSES[:3], n, p=[0.5, 0.3, 0.2]).astype(object)
        pred = np.where(rng.random(n) < 0.6, y, rng.choice(CLASSES[:3], n)).astype(object)
        if day == 0:
            y[:] = "cat"
        if day == 1:
            pred[pred == "dog"] = "eel"
        if day == 3:
            pred[:3] = "fox"
        proba = rng.dirichlet(np.ones(4), n)
        p_true = np.array([proba[i, CLASSES.index(c)] for i, c in enumerate(y)])
        labeled = rng.random(n) < 0.8
        if day == 2:
            labeled[:] = False
        y = np.where(labeled, y, None)
        frames.append(
            pd.DataFrame(
                {
                    "model_version": "v1",
                    "bucket_start": T0 + day * DAY,
                    "y": y,
                    "pred": pred,
                    "p_true": p_true,
                    "proba": list(proba),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def compare(out, rows, oracle, tol=1e-9):
    checked = 0
    for r in out.itertuples():
        sel = rows[(rows["bucket_start"] >= r.window_start) & (rows["bucket_start"] < r.window_end)]
        expected = oracle(r.metric, sel[sel["y"].notna()])
        what = f"{r.metric} {r.window} {r.window_start}"
        if expected is None:
            assert np.isnan(r.value), f"{what}: expected null, got {r.value}"
        else:
            assert r.value == pytest.approx(expected, abs=tol, rel=tol), what
            if not np.isnan(r.ci_lower):
                assert r.ci_lower <= r.value + 1e-12 <= r.ci_upper + 2e-12, what
        checked += 1
    return checked


def test_multiclass_metrics_match_sklearn():
    rows = multiclass_rows()
    out = finalise_slice(
        multiclass_stats(rows), plan("multiclass", MULTICLASS, prediction="pred", probabilities="proba")
    )

    def oracle(metric, lab):
        proba = np.vstack(lab["proba"]) if len(lab) else None
        return multiclass_metric(
            metric, lab["y"].astype(str).to_numpy(), lab["pred"].astype(str).to_numpy(), proba, CLASSES
        )

    assert compare(out, rows, oracle) > 150
    out = out[out["model_version"] == "v1"]
    day0 = out[(out["window"] == "1 day") & (out["window_start"] == T0)]
    assert day0.set_index("metric").loc["accuracy", "value"] > 0


def regression_rows(seed=4) -> pd.DataFrame:
    """Day 1 has a zero label (left out of mape); day 2 a constant label (r2 null); day 3 one label."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(8):
        n = 1 if day == 3 else int(rng.integers(5, 40))
        y = rng.normal(50, 10, n).round(1)
        if day == 1:
            y[0] = 0.0
        if day == 2:
            y[:] = 42.0
        pred = y + rng.normal(1.0, 4.0, n)
        y = np.where(rng.random(n) < 0.85, y, np.nan) if day != 3 else y
        frames.append(pd.DataFrame({"model_version": "v1", "bucket_start": T0 + day * DAY, "y": y, "pred": pred}))
    return pd.concat(frames, ignore_index=True)


def test_regression_metrics_match_sklearn():
    rows = regression_rows()
    out = finalise_slice(regression_stats(rows), plan("regression", REGRESSION, score="pred"))

    def oracle(metric, lab):
        return regression_metric(metric, lab["y"].to_numpy(float), lab["pred"].to_numpy(float))

    assert compare(out, rows, oracle, tol=1e-7) > 80
    out = out[out["model_version"] == "v1"]
    day2 = out[(out["window"] == "1 day") & (out["window_start"] == T0 + 2 * DAY)].set_index("metric")
    assert np.isnan(day2.loc["r2", "value"])
    day3 = out[(out["window"] == "1 day") & (out["window_start"] == T0 + 3 * DAY)].set_index("metric")
    assert np.isnan(day3.loc["r2", "value"]) and np.isnan(day3.loc["rmse", "ci_lower"])


def test_mape_leaves_zero_labels_out():
    rows = pd.DataFrame({"model_version": "v1", "bucket_start": T0, "y": [0.0, 0.0], "pred": [1.0, 2.0]})
    out = finalise_slice(regression_stats(rows), plan("regression", ["mape", "mae"], score="pred"))
    out = out[out["model_version"] == "v1"].set_index(["window", "metric"])
    assert np.isnan(out.loc[("1 day", "mape"), "value"]) and out.loc[("1 day", "mae"), "value"] == 1.5
