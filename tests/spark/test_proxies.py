"""Proxies on real Delta tables: days with predictions and no labels yet have rows, the score
proxies equal numpy on them, and a rule with an absolute limit on the score's PSI fires on the
first day the scores shift, before any label could."""

from __future__ import annotations

import functools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics.estimated import CORRECTION_BINS, FOLDS
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, read_table, side_by_side, write_delta
from tests.oracle import cross_fitted_map

DAY = timedelta(days=1)


def shifted_lake(spark, root) -> pd.DataFrame:
    """Eight days of 200 predictions; from day 5 the scores rise by 0.25; labels only for days 0-2."""
    rng = np.random.default_rng(31)
    n = 1600
    day = np.repeat(np.arange(8), 200)
    score = np.clip(rng.beta(2, 5, n) + np.where(day >= 5, 0.25, 0.0), 0, 1).round(4)
    preds = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "prediction_ts": [
                T0 + int(d) * DAY + timedelta(minutes=int(m)) for d, m in zip(day, rng.integers(0, 1440, n))
            ],
            "model_version": "v1",
            "score": score,
            "country": "US",
            "channel": "web",
            "amount": 1.0,
        }
    )
    early = preds[day <= 2]
    labels = pd.DataFrame(
        {
            "prediction_id": early["prediction_id"],
            "is_fraud": (rng.random(len(early)) < early["score"]).astype(int),
            "label_ts": early["prediction_ts"] + timedelta(hours=2),
        }
    )
    write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    write_delta(spark, labels, LABELS_DDL, root / "labels")
    return preds


def shift_config(root):
    data = config_dict(
        str(root / "predictions"),
        str(root / "labels"),
        str(root / "out"),
        metrics=["accuracy", "score_mean", "score_p90", "score_psi"],
        segments={},
        windows={"granularity": "1 day", "rolling": []},
        baseline={"source": "window", "window": "3 days"},
        alerts=[
            {
                "name": "shift",
                "metric": "score_psi",
                "minor": {"max": 0.1},
                "critical": {"max": 0.25},
                "confidence": None,
                "min_labeled": 100,
            }
        ],
    )
    return parse_config(data)


def estimate_config(root):
    data = config_dict(
        str(root / "predictions"),
        str(root / "labels"),
        str(root / "estimates"),
        metrics=[*ESTIMATES, "reference_calibration_error", "estimates_reliable"],
        segments={},
        labels={**config_dict("", "", "")["labels"], "table": str(root / "labels"), "max_delay": "1 day"},
        windows={"granularity": "1 day", "rolling": []},
        baseline={"source": "window", "window": "3 days"},
    )
    return parse_config(data)


ESTIMATES = ["estimated_accuracy", "estimated_precision", "estimated_recall", "estimated_roc_auc"]


@pytest.fixture(scope="module")
def monitors(spark, tmp_path_factory):
    """The shifted lake, and its two monitors (the score-shift rule, the estimates), run side by side."""
    root = tmp_path_factory.mktemp("proxies")
    preds = shifted_lake(spark, root)
    shift, estimate = shift_config(root), estimate_config(root)
    side_by_side(*(functools.partial(run_monitor, cfg, T0 + 8 * DAY, spark=spark) for cfg in (shift, estimate)))
    return preds, root, shift, estimate


def test_a_score_shift_alerts_on_its_first_day_without_labels(spark, monitors):
    preds, _, cfg, _ = monitors
    metrics = read_table(spark, cfg, "perf_metrics").query("model_version == 'v1'")
    late = metrics[metrics["window_start"] >= T0 + 3 * DAY]
    assert (late["n_labeled"] == 0).all() and late["metric"].nunique() == 4 and late["window_start"].nunique() == 5
    for r in late.itertuples():
        scores = preds[(preds["prediction_ts"] >= r.window_start) & (preds["prediction_ts"] < r.window_end)]["score"]
        if r.metric == "accuracy":
            assert pd.isna(r.value)
        elif r.metric == "score_mean":
            assert abs(r.value - scores.mean()) < 1e-12
        elif r.metric == "score_p90":
            assert abs(r.value - np.quantile(scores, 0.9, method="inverted_cdf")) < 1e-9
    psi = metrics[metrics["metric"] == "score_psi"].set_index("window_start")["value"]
    assert psi.loc[: T0 + DAY].isna().all()  # the reference period (3 days) has not ended by then
    assert (psi.loc[T0 + 2 * DAY : T0 + 4 * DAY] < 0.1).all() and (psi.loc[T0 + 5 * DAY :] > 0.25).all()
    (alert,) = read_table(spark, cfg, "perf_alerts").query("model_version == 'v1'").itertuples()
    assert (alert.level, alert.status, alert.opened_window_start) == ("CRITICAL", "OPEN", T0 + 5 * DAY)
    assert alert.threshold == 0.25 and pd.isna(alert.baseline)


def test_estimates_before_labels_equal_an_isotonic_oracle_and_a_score_shift_is_no_failure(spark, monitors):
    """Labels only for days 0-2 (the reference), drawn from the scores: the estimates of the
    unlabeled days equal the cross-fitted isotonic calibration (scikit-learn's, in
    ``tests.oracle``) applied to their scores. The scores shift from day 5 on, which the
    estimates are made for: with no label after the reference nothing is back-tested, so
    ``estimates_reliable`` is null, not 0."""
    from sklearn.metrics import roc_auc_score

    preds, root, _, cfg = monitors
    metrics = read_table(spark, cfg, "perf_metrics").query("model_version == 'v1'")
    labels = read_table(spark, root / "labels")
    reference = preds.merge(labels, on="prediction_id")
    calibrate = cross_fitted_map(
        reference["score"].to_numpy(float), reference["is_fraud"].to_numpy(), FOLDS, CORRECTION_BINS
    )
    early = metrics[metrics["window_start"] < T0 + 2 * DAY]
    assert early["value"].isna().all()  # the reference period has not ended by then
    late = metrics[metrics["window_start"] >= T0 + 2 * DAY]
    assert len(late) == 6 * 6
    for r in late.itertuples():
        scores = preds[(preds["prediction_ts"] >= r.window_start) & (preds["prediction_ts"] < r.window_end)]["score"]
        p = calibrate(scores.to_numpy(float))
        d = scores.to_numpy() >= 0.5
        if r.metric == "reference_calibration_error":
            assert 0 <= r.value < 0.1
            continue
        if r.metric == "estimates_reliable":
            assert pd.isna(r.value), r.window_start
            continue
        expected = {
            "estimated_accuracy": np.mean(np.where(d, p, 1 - p)),
            "estimated_precision": p[d].sum() / d.sum(),
            "estimated_recall": p[d].sum() / p.sum(),
            "estimated_roc_auc": roc_auc_score(
                np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[scores, scores], sample_weight=np.r_[p, 1 - p]
            ),
        }[r.metric]
        assert abs(r.value - expected) < 1e-9, (r.metric, r.window_start)
        assert r.ci_lower <= r.value <= r.ci_upper
