"""Incremental runs and backfill end with the same tables as one full run, including after a
run killed between two table commits."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConcurrentRunError
from perfmon_spark.job import run_monitor
from perfmon_spark.job.scope import LABEL_DELTA_MIN_PREDICTIONS, LABEL_DELTA_SETTING
from perfmon_spark.states.layout import STATE_VERSION
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    make_inputs,
    read_table,
    run_killed_at,
    run_killed_outright,
    side_by_side,
    write_delta,
)

DAY = timedelta(days=1)
STATS_KEY = ["model_version", "slice_key", "slice_value", "bucket_start"]
METRICS_KEY = ["model_version", "slice_key", "slice_value", "window", "window_start", "metric"]
DRIFT_KEY = ["model_version", "slice_key", "slice_value", "feature", "window", "window_start", "measure"]


def setup_lake(spark, root, n=500, days=6, seed=5):
    preds, labels = make_inputs(n=n, days=days, seed=seed)
    p = write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, root / "labels")
    return preds, labels, p, lab


def config(p, lab, out, name="inc", max_delay="7 days"):
    data = config_dict(p, lab, str(out), name=name, metrics=["accuracy", "recall", "roc_auc", "log_loss"])
    data["segments"] = {"columns": ["country", "channel"], "max_values": 10}
    data["drift"] = {"features": ["amount"], "categorical": ["channel"], "bins": 5}
    data["baseline"] = {"source": "window", "window": "2 days"}
    data["metrics"] = [*data["metrics"], "score_psi", "estimated_accuracy", "estimates_reliable"]
    data["labels"]["max_delay"] = max_delay
    return parse_config(data)


def mode_data(p, lab, out) -> dict:
    """For the tests of which mode a run takes: one metric, no drift (a run costs less), and a
    2-day baseline, so that a rule added later evaluates the windows after it."""
    return config_dict(
        p, lab, str(out), name="inc", metrics=["accuracy"], baseline={"source": "window", "window": "2 days"}
    )


def mode_config(p, lab, out):
    return parse_config(mode_data(p, lab, out))


def snapshot(spark, cfg, name, key) -> pd.DataFrame:
    df = read_table(spark, cfg, name)
    df = df.drop(columns=["run_id", "as_of"])
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], (list, np.ndarray)):
            df[col] = df[col].map(lambda v: tuple(np.round(np.asarray(v, dtype=float), 12)))
    return df.sort_values(key).reset_index(drop=True)


def assert_same_tables(spark, a, b, also=(), step=""):
    keys = {"perf_stats": STATS_KEY, "perf_metrics": METRICS_KEY, "drift_metrics": DRIFT_KEY}
    for name in ("perf_stats", "perf_metrics", *also):
        x, y = snapshot(spark, a, name, keys[name]), snapshot(spark, b, name, keys[name])
        assert not x.duplicated(keys[name]).any()
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12, obj=f"{name} after {step}")


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


def late_labels(rng, labels, n, at):
    """Labels for ``n`` predictions that had none, arriving at ``at``."""
    unlabeled = sorted(set(labels["prediction_id"]) - set(labels.dropna()["prediction_id"]))
    chosen = rng.choice(unlabeled, min(n, len(unlabeled)), replace=False)
    return pd.DataFrame({"prediction_id": chosen, "is_fraud": rng.integers(0, 2, len(chosen)), "label_ts": at})


def corrections(rng, labels, n, at):
    """The opposite label for ``n`` labelled predictions, arriving at ``at``."""
    fixes = labels.dropna().drop_duplicates("prediction_id").sample(n, random_state=int(rng.integers(1 << 30)))
    return fixes.assign(is_fraud=1 - fixes["is_fraud"].astype(int), label_ts=at)


def duplicates(spark, rng, p, as_of):
    """A second row a day later for 3 predictions of the bucket before the last run's as_of (whose
    buckets are not recomputed otherwise), and a label event for each: the label falls back to
    recomputing the first rows' bucket (``job.scope``)."""
    preds = spark.read.format("delta").load(p).toPandas()
    since = preds["prediction_ts"] >= as_of - 2.5 * DAY
    chosen = preds[since & (preds["prediction_ts"] < as_of - 2 * DAY)].drop_duplicates("prediction_id").head(3)
    write_delta(spark, chosen.assign(prediction_ts=chosen["prediction_ts"] + DAY), PREDICTIONS_DDL, p, mode="append")
    return pd.DataFrame(
        {
            "prediction_id": chosen["prediction_id"],
            "is_fraud": rng.integers(0, 2, len(chosen)),
            "label_ts": as_of - DAY / 2,
        }
    )


def change(spark, rng, step, p, lab, labels, as_of, first_id):
    """Apply one kind of change to the input tables; returns the label events as now known."""
    if step in ("append", "old", "new_value"):
        start = {"append": as_of - DAY, "old": T0 + DAY}.get(step, as_of - 2 * DAY)
        more, more_labels = new_predictions(rng, first_id, 60, start, 1)
        if step == "new_value":
            more["country"] = "FR"
        write_delta(spark, more, PREDICTIONS_DDL, p, mode="append")
        events = more_labels
    elif step in ("late", "correct"):
        events = (late_labels if step == "late" else corrections)(rng, labels, 12, as_of - DAY / 2)
    elif step == "duplicate":
        events = duplicates(spark, rng, p, as_of)
    else:
        if step == "delete":
            DeltaTable.forPath(spark, p).delete(F.col("prediction_id").isin(*[f"p{i}" for i in range(10, 40)]))
        return labels
    write_delta(spark, events.astype({"is_fraud": "Int64"}), LABELS_DDL, lab, mode="append")
    return pd.concat([labels, events])


def test_incremental_runs_equal_a_full_refresh_after_every_step(spark, tmp_path, monkeypatch):
    """A random sequence of appends, late labels, corrections, prediction deletes, old
    predictions logged late, a new segment value and time passing (three steps of two or three
    changes each, and duplicate ids in the first), each followed by an incremental run (which
    finalises only the windows that can have changed, and moves the states of buckets where only
    labels changed by label deltas), equals a full refresh at the same as_of on every table it
    writes, value for value, after every step; in the last two steps the first attempt is killed
    after its states (then after its metrics) were written: it records a FAILED run, and the next
    run, incremental from the last successful one, recomputes the states that run moved and
    repairs the tables. Last, a backfill of two days on the same inputs recomputes their buckets
    and rewrites nothing."""
    rng = np.random.default_rng(11)
    _, labels, p, lab = setup_lake(spark, tmp_path)
    # a 2-day max_delay: the last steps finalise only recent windows, merging only the recent
    # score summaries (``windows.spark.recent_summaries``)
    cfg = config(p, lab, tmp_path / "incremental", max_delay="2 days")
    full = config(p, lab, tmp_path / "full", max_delay="2 days")
    as_of = T0 + 4 * DAY
    incremental, _ = side_by_side(  # both fix their drift bins on the same rows
        functools.partial(run_monitor, cfg, as_of, spark=spark),
        functools.partial(run_monitor, full, as_of, mode="full", spark=spark),
    )
    results = [incremental]
    kinds = list(rng.permutation(["append", "late", "correct", "delete", "old", "new_value", "wait"]))
    for i, steps in enumerate((kinds[:2] + ["duplicate"], kinds[2:4], kinds[4:])):
        as_of += 2 * DAY
        for j, step in enumerate(steps):
            labels = change(spark, rng, step, p, lab, labels, as_of, first_id=100 * (3 * i + j))
        if i:
            killed_at = ("perf_metrics", "drift_metrics")[i - 1]
            run_killed_at(monkeypatch, killed_at, functools.partial(run_monitor, cfg, as_of, spark=spark))
            runs = read_table(spark, cfg, "runs").sort_values("started_at")
            assert list(runs["status"].tail(2)) == ["SUCCEEDED", "FAILED"]  # the watermark stays where it was
        incremental, _ = side_by_side(
            functools.partial(run_monitor, cfg, as_of, spark=spark),
            functools.partial(run_monitor, full, as_of, mode="full", spark=spark),
        )
        results.append(incremental)
        assert_same_tables(spark, cfg, full, also=("drift_metrics",), step="+".join(steps))
    assert [r.mode for r in results] == ["full"] + ["incremental"] * 3, [r.message for r in results]
    assert all("windows ending from" in r.message for r in results[1:])
    messages = [r.message for r in results[1:]]
    assert "for duplicate ids" in messages[0] and re.search(r", [1-9]\d* moved by label deltas", messages[0]), messages
    assert all("not used: states written by a run that did not finish" in m for m in messages[1:]), messages

    backfill = run_monitor(cfg, as_of, spark=spark, backfill=(T0 + DAY, T0 + 3 * DAY))
    assert backfill.mode == "backfill" and backfill.message.startswith("backfill of 2 buckets"), backfill.message
    stats = read_table(spark, cfg, "perf_stats")
    assert stats[stats["run_id"] == backfill.run_id].empty  # equal states: nothing is rewritten
    assert backfill.buckets_recomputed > 0
    assert_same_tables(spark, cfg, full, also=("drift_metrics",), step="backfill")


def test_a_run_of_the_past_that_failed_after_its_states_sends_the_next_run_to_a_full_recompute(
    spark, tmp_path, monkeypatch
):
    """A full rerun as of three days back dies after rewriting the states as of then (and
    deleting those of later buckets); the next run, as of the watermark again, has nothing new to
    read, but what the failed run wrote is outside an incremental scope: it recomputes in full, says
    why, and the tables equal a full refresh."""
    _, _, p, lab = setup_lake(spark, tmp_path, n=300, seed=4)
    cfg = mode_config(p, lab, tmp_path / "inc")
    full = mode_config(p, lab, tmp_path / "full")
    as_of = T0 + 6 * DAY
    side_by_side(
        functools.partial(run_monitor, cfg, as_of, spark=spark),
        functools.partial(run_monitor, full, as_of, mode="full", spark=spark),
    )
    past = functools.partial(run_monitor, cfg, as_of - 3 * DAY, spark=spark)
    run_killed_at(monkeypatch, "perf_metrics", past)
    result = run_monitor(cfg, as_of, spark=spark)
    assert (result.mode, result.message) == (
        "full",
        f"a run as of {as_of - 3 * DAY:%Y-%m-%dT%H:%M:%S} failed after the last successful one, "
        "and what it may have written is outside this run's scope",
    )
    assert_same_tables(spark, cfg, full)

    # The same rerun killed outright: no FAILED row, and its claim never let go. Once the claim is
    # ended by hand (docs/runs.md), the next run records the killed run and recomputes in full.
    run_killed_outright(monkeypatch, "perf_metrics", past)
    assert len(read_table(spark, cfg, "runs")) == 3  # the first, the FAILED and the full run: no row of the killed one
    with pytest.raises(ConcurrentRunError, match="is held by run"):
        run_monitor(cfg, as_of, spark=spark)
    claims = f"delta.`{cfg.output.table('claims').text}`"
    spark.sql(f"UPDATE {claims} SET expires_at = current_timestamp() WHERE released_at IS NULL")
    result = run_monitor(cfg, as_of, spark=spark)
    assert result.mode == "full" and "wrote no runs row (killed outright?)" in result.message, result.message
    runs = read_table(spark, cfg, "runs")
    (killed,) = runs[runs["message"].str.startswith("killed outright")].itertuples()
    assert (killed.status, killed.as_of, killed.finished_at) == ("FAILED", as_of - 3 * DAY, result.started_at)
    assert_same_tables(spark, cfg, full)
    assert run_monitor(cfg, as_of, spark=spark).mode == "incremental"  # recorded once: the next run is incremental


def test_an_older_state_layout_and_a_table_without_change_data_feed_each_get_a_full_run(spark, tmp_path):
    """Two fallbacks on one lake, one after the other, each named in the run's message; the run
    after them is incremental again. Then two config edits: of the alerting sections only (the
    states are kept), and of the metrics (a full run naming them)."""
    preds, _, p, lab = setup_lake(spark, tmp_path, n=200, seed=9)
    cfg = mode_config(p, lab, tmp_path / "out")
    assert run_monitor(cfg, T0 + 6 * DAY, spark=spark).mode == "full"
    # a runs table from a package before the column existed
    runs = str(tmp_path / "out" / "runs")
    old = spark.read.format("delta").load(runs).drop("state_version")
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(runs)
    result = run_monitor(cfg, T0 + 7 * DAY, spark=spark)
    assert (result.mode, result.message.split(";")[0]) == (
        "full",
        f"state layout changed (version None to {STATE_VERSION})",
    )
    assert read_table(spark, cfg, "runs")["state_version"].tolist().count(STATE_VERSION) == 1
    spark.sql(f"ALTER TABLE delta.`{p}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    write_delta(spark, preds.head(0), PREDICTIONS_DDL, p, mode="append")
    result = run_monitor(cfg, T0 + 8 * DAY, spark=spark)
    assert (result.mode, result.message) == ("full", f"change data feed is off on {p}")
    spark.sql(f"ALTER TABLE delta.`{lab}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    assert run_monitor(cfg, T0 + 9 * DAY, spark=spark).mode == "incremental"  # the property change has a feed

    # an edit of the alerting sections alone keeps the states: the run stays incremental, recomputes
    # no bucket, says what was edited, and evaluates the new rule over every stored window
    data = mode_data(p, lab, tmp_path / "out")
    rule = {
        "name": "accuracy_drop",
        "metric": "accuracy",
        "minor": {"ratio": 0.95},
        "maturity": "any",
        "min_labeled": 1,
    }
    data["alerts"] = [rule]
    data["retrain"] = {"cooldown": "3 days"}
    result = run_monitor(parse_config(data), T0 + 9 * DAY, spark=spark)
    assert (result.mode, result.buckets_recomputed) == ("incremental", 0), result.message
    assert "; config edited (alerts, retrain): states kept, every rule evaluated again" in result.message
    evaluated = read_table(spark, cfg, "rule_windows")
    days = read_table(spark, cfg, "perf_metrics").query("window == '1 day' and metric == 'accuracy'")
    assert set(evaluated["rule"]) == {"accuracy_drop"}
    assert set(evaluated["window_start"]) == set(days[days["n_labeled"] >= 1]["window_start"])
    # an edit that shapes the states is a full run naming what changed
    data["metrics"] = ["accuracy", "recall"]
    result = run_monitor(parse_config(data), T0 + 9 * DAY, spark=spark)
    assert (result.mode, result.message.split(";")[0]) == ("full", "config changed since the last run (metrics)")


def merge_metrics(spark, table: str) -> dict[str, int]:
    """The operation metrics of the table's latest commit, which must be a MERGE."""
    (last,) = DeltaTable.forPath(spark, table).history(1).collect()
    assert last["operation"] == "MERGE", last["operation"]
    return {k: int(v) for k, v in last["operationMetrics"].items() if v.isdigit()}


def test_an_incremental_run_rewrites_only_the_files_of_recent_time(spark, tmp_path):
    """perf_metrics and perf_stats are laid out on time (``io.tables.merge_into``): after a
    first run over 12 days written as 6 files, a run a day later (labels at most a day late)
    rewrites only the files that hold the buckets and windows it recomputes. (The values do not
    depend on the layout: the property test above compares every table with a full refresh.)
    That run has the default ``LABEL_DELTA_SETTING``: the bucket its late labels reach holds too few
    predictions for label deltas, so it is re-read, and the message says how many it holds."""
    preds, _, p, lab = setup_lake(spark, tmp_path, n=600, days=12, seed=11)
    data = config_dict(p, lab, str(tmp_path / "out"), name="layout", metrics=["accuracy"])
    data["labels"]["max_delay"] = "1 day"
    cfg = parse_config(data)
    spark.conf.set("spark.sql.shuffle.partitions", "6")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        run_monitor(cfg, T0 + 12 * DAY, spark=spark)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")
        spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
    out = tmp_path / "out"
    files = {name: len(list((out / name).glob("*.parquet"))) for name in ("perf_metrics", "perf_stats")}
    assert files == {"perf_metrics": 6, "perf_stats": 6}
    more, more_labels = new_predictions(np.random.default_rng(3), 10_000, 80, T0 + 12 * DAY, 1)
    write_delta(spark, more, PREDICTIONS_DDL, p, mode="append")
    write_delta(spark, more_labels.astype({"is_fraud": "Int64"}), LABELS_DDL, lab, mode="append")
    spark.conf.unset(LABEL_DELTA_SETTING)  # the default: a lake this small re-reads its rows
    try:
        result = run_monitor(cfg, T0 + 13 * DAY, spark=spark)
    finally:
        spark.conf.set(LABEL_DELTA_SETTING, "0")
    # the label events of the new day reach the day before's predictions (max_delay 1 day)
    day_before = preds[(preds["prediction_ts"] >= T0 + 11 * DAY) & (preds["prediction_ts"] < T0 + 12 * DAY)]
    assert result.mode == "incremental", result.message
    assert (
        f"(label deltas not used: {day_before['prediction_id'].nunique()} predictions in those buckets, "
        f"fewer than {LABEL_DELTA_SETTING} ({LABEL_DELTA_MIN_PREDICTIONS:,})), 0 moved by label deltas"
    ) in result.message, result.message
    for name, rows in (("perf_metrics", result.metric_rows_written), ("perf_stats", result.buckets_recomputed)):
        merged = merge_metrics(spark, str(out / name))
        total = len(read_table(spark, cfg, name))
        assert rows > 0 and merged["numTargetFilesRemoved"] <= 2, (name, merged)
        assert merged["numTargetRowsCopied"] < total / 3, (name, merged, total)
