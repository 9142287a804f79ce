"""Multiclass and regression through the real job (Spark + Delta), against scikit-learn."""

from __future__ import annotations

import functools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from tests.helpers import T0, read_table, side_by_side, write_delta
from tests.oracle import multiclass_metric, regression_metric

AS_OF = T0 + timedelta(days=8)
CLASSES = ["0", "1", "2"]


def base_config(root, problem_type, metrics, predictions) -> dict:
    return {
        "version": 1,
        "name": f"{problem_type}_model",
        "problem_type": problem_type,
        "predictions": {
            "table": str(root / "predictions"),
            "id": "id",
            "timestamp": "ts",
            "model_version": "version",
            **predictions,
        },
        "labels": {
            "table": str(root / "labels"),
            "id": "id",
            "label": "label",
            "timestamp": "label_ts",
            "max_delay": "10 days",
        },
        "segments": {"columns": ["region"]},
        "metrics": metrics,
        "windows": {"granularity": "1 day", "rolling": ["3 days"]},
        "output": {"location": str(root / "monitoring")},
    }


def make_rows(n, seed):
    rng = np.random.default_rng(seed)
    ts = [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 6 * 86400, n)]
    return rng, pd.DataFrame(
        {
            "id": np.arange(n),
            "ts": ts,
            "version": rng.choice(["a", "b"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )


def labels_for(preds, values, rng):
    keep = rng.random(len(preds)) < 0.8
    return pd.DataFrame(
        {
            "id": preds["id"][keep],
            "label": np.asarray(values, dtype=object)[keep],
            "label_ts": preds["ts"][keep] + timedelta(hours=5),
        }
    )


def check(spark, cfg, truth: pd.DataFrame, oracle) -> int:
    metrics = read_table(spark, cfg, "perf_metrics")
    checked = 0
    for r in metrics.itertuples():
        sel = truth[(truth["ts"] >= r.window_start) & (truth["ts"] < r.window_end)]
        if r.slice_key == "region":
            sel = sel[sel["region"] == r.slice_value]
        if r.model_version != "*":
            sel = sel[sel["version"] == r.model_version]
        sel = sel[sel["y"].notna()]
        expected = oracle(r.metric, sel)
        what = f"{r.metric} {r.model_version} {r.slice_value} {r.window} {r.window_start}"
        assert pd.isna(r.value) if expected is None else r.value == pytest.approx(expected, rel=1e-9, abs=1e-9), what
        checked += 1
    return checked


def multiclass_lake(spark, root):
    rng, preds = make_rows(600, 1)
    y = rng.choice([0, 1, 2], len(preds), p=[0.5, 0.3, 0.2])
    proba = rng.dirichlet(np.ones(3), len(preds))
    preds["pred"] = np.where(rng.random(len(preds)) < 0.7, y, rng.integers(0, 3, len(preds)))
    preds["proba"] = [list(map(float, p)) for p in proba]
    labels = labels_for(preds, y, rng)
    write_delta(
        spark,
        preds,
        "id long, ts timestamp, version string, region string, pred int, proba array<double>",
        root / "predictions",
    )
    write_delta(spark, labels, "id long, label int, label_ts timestamp", root / "labels")
    names = ["accuracy", "macro_f1", "weighted_precision", "macro_recall", "log_loss", "recall[2]", "precision[0]"]
    cfg = parse_config(base_config(root, "multiclass", names, {"prediction": "pred", "probabilities": "proba"}))
    return cfg, preds.merge(labels[["id", "label"]], on="id", how="left").rename(columns={"label": "y"})


def regression_lake(spark, root):
    rng, preds = make_rows(500, 2)
    y = rng.normal(100, 20, len(preds)).round(2)
    y[:5] = 0.0
    preds["predicted"] = y + rng.normal(2, 8, len(preds))
    labels = labels_for(preds, y, rng)
    write_delta(
        spark, preds, "id long, ts timestamp, version string, region string, predicted double", root / "predictions"
    )
    write_delta(spark, labels, "id long, label double, label_ts timestamp", root / "labels")
    cfg = parse_config(
        base_config(root, "regression", ["rmse", "mse", "mae", "mape", "r2", "mean_error"], {"prediction": "predicted"})
    )
    return cfg, preds.merge(labels[["id", "label"]], on="id", how="left").rename(columns={"label": "y"})


LAKES = {"multiclass": multiclass_lake, "regression": regression_lake}


@pytest.fixture(scope="module")
def monitors(spark, tmp_path_factory):
    """Each problem type's monitor on its own lake: (config, rows with their labels), run side by side."""
    built = {kind: lake(spark, tmp_path_factory.mktemp(kind)) for kind, lake in LAKES.items()}
    side_by_side(*(functools.partial(run_monitor, cfg, AS_OF, spark=spark) for cfg, _ in built.values()))
    return built


def multiclass_oracle(metric, sel):
    return multiclass_metric(
        metric,
        sel["y"].astype(int).astype(str).to_numpy(),
        sel["pred"].astype(str).to_numpy(),
        np.vstack(sel["proba"]) if len(sel) else None,
        CLASSES,
    )


def regression_oracle(metric, sel):
    return regression_metric(metric, sel["y"].astype(float).to_numpy(), sel["predicted"].to_numpy())


def test_multiclass_job(spark, monitors):
    cfg, truth = monitors["multiclass"]
    assert check(spark, cfg, truth, multiclass_oracle) > 300


def test_regression_job(spark, monitors):
    cfg, truth = monitors["regression"]
    assert check(spark, cfg, truth, regression_oracle) > 300


def late_and_corrected(truth: pd.DataFrame, values, rng) -> pd.DataFrame:
    """Label events arriving a day after AS_OF: first labels for 30 unlabeled predictions and new
    values (``values(n)``) for 30 labeled ones."""
    unlabeled = truth[truth["y"].isna()].sample(30, random_state=int(rng.integers(1 << 30)))
    labeled = truth[truth["y"].notna()].sample(30, random_state=int(rng.integers(1 << 30)))
    chosen = pd.concat([unlabeled, labeled])
    return pd.DataFrame({"id": chosen["id"], "label": values(len(chosen)), "label_ts": AS_OF + timedelta(hours=12)})


def test_late_labels_and_corrections_move_the_states_and_metrics_still_equal_sklearn(spark, monitors):
    """After late labels and corrections, an incremental run moves the states of the buckets
    where only labels changed by label deltas (``job.label_deltas``): multiclass confusion
    entries and regression sums, checked metric by metric against scikit-learn on the new labels.
    Runs last in this module: it appends to both lakes."""
    rng = np.random.default_rng(4)
    draws = {
        "multiclass": lambda n: rng.integers(0, 3, n),
        "regression": lambda n: rng.normal(100, 20, n).round(2),
    }
    ddl = {
        "multiclass": "id long, label int, label_ts timestamp",
        "regression": "id long, label double, label_ts timestamp",
    }
    for kind, (cfg, truth) in monitors.items():
        events = late_and_corrected(truth, draws[kind], rng)
        write_delta(spark, events, ddl[kind], cfg.labels.table.text, mode="append")
        update = events.set_index("id")["label"]
        truth["y"] = truth["id"].map(update).where(truth["id"].isin(update.index), truth["y"])
    results = side_by_side(
        *(functools.partial(run_monitor, cfg, AS_OF + timedelta(days=1), spark=spark) for cfg, _ in monitors.values())
    )
    for result in results:
        assert result.mode == "incremental" and ", 6 moved by label deltas" in result.message, result.message
        assert result.rows_read_predictions == 60  # the predictions of the changed labels only
    multiclass, regression = monitors["multiclass"], monitors["regression"]
    assert check(spark, multiclass[0], multiclass[1], multiclass_oracle) > 300
    assert check(spark, regression[0], regression[1], regression_oracle) > 300
