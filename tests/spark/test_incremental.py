"""Incremental runs and backfill end with the same tables as one full run, including after a
run killed between two table commits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

import perfmon_spark.job.run as job
from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.states.layout import STATE_VERSION
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    make_inputs,
    read_table,
    run_killed_at,
    write_delta,
)

DAY = timedelta(days=1)
STATS_KEY = ["model_version", "slice_key", "slice_value", "bucket_start"]
METRICS_KEY = ["model_version", "slice_key", "slice_value", "window", "window_start", "metric"]


def setup_lake(spark, root, n=500, days=6, seed=5):
    preds, labels = make_inputs(n=n, days=days, seed=seed)
    p = write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, root / "labels")
    return preds, labels, p, lab


def config(p, lab, out, name="inc"):
    data = config_dict(p, lab, str(out), name=name, metrics=["accuracy", "recall", "roc_auc", "log_loss"])
    data["segments"] = {"columns": ["country", "channel"], "max_values": 10}
    return parse_config(data)


def snapshot(spark, cfg, name, key) -> pd.DataFrame:
    df = read_table(spark, cfg, name)
    df = df.drop(columns=["run_id", "as_of"])
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], (list, np.ndarray)):
            df[col] = df[col].map(lambda v: tuple(np.round(np.asarray(v, dtype=float), 12)))
    return df.sort_values(key).reset_index(drop=True)


def assert_same_tables(spark, a, b):
    for name, key in (("perf_stats", STATS_KEY), ("perf_metrics", METRICS_KEY)):
        x, y = snapshot(spark, a, name, key), snapshot(spark, b, name, key)
        assert not x.duplicated(key).any()
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12, obj=name)


def new_predictions(rng, start_id, n, start, days):
    ts = [start + timedelta(seconds=int(s)) for s in rng.integers(0, int(days * 86400), n)]
    y = (rng.random(n) < 0.3).astype(int)
    preds = pd.DataFrame(
        {
            "prediction_id": [f"q{start_id + i}" for i in range(n)],
            "prediction_ts": ts,
            "model_version": rng.choice(["v1", "v2"], n),
            "score": np.clip(0.3 + 0.35 * y + rng.normal(0, 0.2, n), 0, 1).round(3).astype(object),
            "country": rng.choice(["US", "GB", "DE"], n),
            "channel": rng.choice(["web", "app"], n),
            "amount": rng.random(n).round(2),
        }
    )
    labels = pd.DataFrame(
        {
            "prediction_id": preds["prediction_id"],
            "is_fraud": y,
            "label_ts": [t + timedelta(hours=int(h)) for t, h in zip(ts, rng.integers(1, 60, n))],
        }
    )
    return preds, labels


def test_incremental_sequence_equals_one_full_run(spark, tmp_path):
    rng = np.random.default_rng(11)
    _, labels, p, lab = setup_lake(spark, tmp_path)
    cfg = config(p, lab, tmp_path / "incremental")
    modes = [run_monitor(cfg, T0 + 4 * DAY, spark=spark).mode]
    # 1. new days of predictions with their labels, and late labels for old predictions
    more, more_labels = new_predictions(rng, 0, 120, T0 + 6 * DAY, 2)
    write_delta(spark, more, PREDICTIONS_DDL, p, mode="append")
    late = pd.DataFrame({"prediction_id": ["p3", "p4", "p9"], "is_fraud": [1, 0, 1], "label_ts": [T0 + 7 * DAY] * 3})
    write_delta(spark, pd.concat([more_labels, late]).astype({"is_fraud": "Int64"}), LABELS_DDL, lab, mode="append")
    modes.append(run_monitor(cfg, T0 + 8 * DAY, spark=spark).mode)
    # 2. corrections of earlier labels
    fixes = labels.dropna().drop_duplicates("prediction_id").head(15).copy()
    fixes["is_fraud"] = 1 - fixes["is_fraud"]
    fixes["label_ts"] = fixes["label_ts"] + 3 * DAY
    write_delta(spark, fixes[fixes["label_ts"] <= T0 + 9 * DAY], LABELS_DDL, lab, mode="append")
    modes.append(run_monitor(cfg, T0 + 9 * DAY, spark=spark).mode)
    # 3. predictions logged late with old timestamps, and their labels
    old, old_labels = new_predictions(rng, 500, 40, T0 + DAY, 2)
    write_delta(spark, old, PREDICTIONS_DDL, p, mode="append")
    write_delta(spark, old_labels.astype({"is_fraud": "Int64"}), LABELS_DDL, lab, mode="append")
    modes.append(run_monitor(cfg, T0 + 10 * DAY, spark=spark).mode)
    # 4. nothing new; only time passes (maturity and newly visible label events)
    final = T0 + 14 * DAY
    last = run_monitor(cfg, final, spark=spark)
    modes.append(last.mode)
    assert modes == ["full", "incremental", "incremental", "incremental", "incremental"]
    assert last.buckets_recomputed < 200

    full = config(p, lab, tmp_path / "full", name="inc")
    run_monitor(full, final, mode="full", spark=spark)
    assert_same_tables(spark, cfg, full)


def test_killed_run_is_repaired_by_the_next_run(spark, tmp_path, monkeypatch):
    rng = np.random.default_rng(12)
    _, _, p, lab = setup_lake(spark, tmp_path, seed=6)
    cfg = config(p, lab, tmp_path / "killed")
    run_monitor(cfg, T0 + 5 * DAY, spark=spark)
    more, more_labels = new_predictions(rng, 0, 80, T0 + 5 * DAY, 2)
    write_delta(spark, more, PREDICTIONS_DDL, p, mode="append")
    write_delta(spark, more_labels.astype({"is_fraud": "Int64"}), LABELS_DDL, lab, mode="append")

    run_killed_at(monkeypatch, job, "perf_metrics", lambda: run_monitor(cfg, T0 + 8 * DAY, spark=spark))
    runs = read_table(spark, cfg, "runs")
    assert list(runs.sort_values("started_at")["status"]) == ["SUCCEEDED", "FAILED"]

    again = run_monitor(cfg, T0 + 8 * DAY, spark=spark)
    assert again.mode == "incremental"
    full = config(p, lab, tmp_path / "uninterrupted")
    run_monitor(full, T0 + 8 * DAY, mode="full", spark=spark)
    assert_same_tables(spark, cfg, full)


def test_backfill_recomputes_a_period_only(spark, tmp_path):
    _, _, p, lab = setup_lake(spark, tmp_path, seed=7)
    cfg = config(p, lab, tmp_path / "backfill")
    run_monitor(cfg, T0 + 9 * DAY, spark=spark)
    result = run_monitor(cfg, T0 + 9 * DAY, spark=spark, backfill=(T0 + DAY, T0 + 3 * DAY))
    assert result.mode == "backfill" and result.message.startswith("backfill of 2 buckets")
    stats = read_table(spark, cfg, "perf_stats")
    touched = stats[stats["run_id"] == result.run_id]
    assert touched.empty  # same inputs: the recomputed states are equal, nothing is rewritten
    assert result.buckets_recomputed > 0
    full = config(p, lab, tmp_path / "backfill_full")
    run_monitor(full, T0 + 9 * DAY, mode="full", spark=spark)
    assert_same_tables(spark, cfg, full)


def test_a_table_without_change_data_feed_gets_a_full_run(spark, tmp_path):
    preds, _, p, lab = setup_lake(spark, tmp_path, n=200, seed=9)
    cfg = config(p, lab, tmp_path / "nocdf")
    assert run_monitor(cfg, T0 + 6 * DAY, spark=spark).mode == "full"
    spark.sql(f"ALTER TABLE delta.`{p}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    write_delta(spark, preds.head(0), PREDICTIONS_DDL, p, mode="append")
    result = run_monitor(cfg, T0 + 7 * DAY, spark=spark)
    assert (result.mode, result.message) == ("full", f"change data feed is off on {p}")
    spark.sql(f"ALTER TABLE delta.`{lab}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    assert run_monitor(cfg, T0 + 8 * DAY, spark=spark).mode == "incremental"  # the property change has a feed


def test_state_written_by_an_older_layout_gets_a_full_run(spark, tmp_path):
    _, _, p, lab = setup_lake(spark, tmp_path, n=200, seed=10)
    cfg = config(p, lab, tmp_path / "layout")
    assert run_monitor(cfg, T0 + 6 * DAY, spark=spark).mode == "full"
    # a runs table from a package before the column existed
    runs = str(tmp_path / "layout" / "runs")
    old = spark.read.format("delta").load(runs).drop("state_version")
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(runs)
    result = run_monitor(cfg, T0 + 7 * DAY, spark=spark)
    assert (result.mode, result.message.split(";")[0]) == (
        "full",
        f"state layout changed (version None to {STATE_VERSION})",
    )
    assert read_table(spark, cfg, "runs")["state_version"].tolist().count(STATE_VERSION) == 1
    assert run_monitor(cfg, T0 + 8 * DAY, spark=spark).mode == "incremental"
