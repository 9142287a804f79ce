"""The number of Spark jobs a run launches does not grow with metrics, slices or windows:
everything is derived from one aggregation and one window pass (and, where a metric compares
distributions with a reference period, one small read of each version's first bucket)."""

from __future__ import annotations

import functools
from datetime import timedelta

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics import metric_names
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    make_inputs,
    ranking_config_dict,
    ranking_lake,
    side_by_side,
    write_delta,
)


def jobs_of_run(spark, cfg) -> int:
    group = f"count-{cfg.name}"
    spark.sparkContext.setJobGroup(group, "job count test")
    try:
        run_monitor(cfg, T0 + timedelta(days=12), spark=spark)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_jobs_do_not_grow_with_metrics_slices_or_windows(spark, tmp_path):
    """A first run in a session launches a few one-off jobs (Delta's first table set-up), so a
    warm-up run comes first; both measured runs then create their tables the same way."""
    preds, labels = make_inputs(n=400, days=6, seed=3)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    small = config_dict(p, lab, str(tmp_path / "small"), name="small", metrics=["accuracy", "score_psi"])
    small["segments"] = {"columns": ["channel"]}
    small["windows"] = {"granularity": "1 day", "rolling": []}
    big = config_dict(p, lab, str(tmp_path / "big"), name="big", metrics=metric_names("binary"))
    big["windows"] = {"granularity": "1 day", "rolling": ["2 days", "3 days", "5 days", "100 labels"]}
    jobs_of_run(spark, parse_config(dict(small, name="warm_up", output={"location": str(tmp_path / "warm")})))
    few, many = jobs_of_run(spark, parse_config(small)), jobs_of_run(spark, parse_config(big))
    assert len(parse_config(big).metrics) == 24 and few > 0
    assert many == few, (
        f"{few} jobs for 2 metrics / 2 slices / 1 window, {many} for 24 metrics / 4 slice keys / 5 windows"
    )


def test_ranking_jobs_do_not_grow_with_cut_offs_metrics_or_windows(spark, tmp_path):
    _, _, p, lab = ranking_lake(spark, tmp_path, T0 + timedelta(days=12))
    small = ranking_config_dict(
        p, lab, str(tmp_path / "r_small"), name="r_small", metrics=["mrr", "catalog_coverage@5"]
    )
    small |= {"ranking": {"k": [5]}, "windows": {"granularity": "1 day", "rolling": []}}
    big = ranking_config_dict(p, lab, str(tmp_path / "r_big"), name="r_big", metrics=metric_names("ranking"))
    big["metrics"] = [m.replace("@k", f"@{k}") for m in big["metrics"] for k in ((3, 5, 10) if "@k" in m else (0,))]
    big |= {"ranking": {"k": [3, 5, 10]}, "windows": {"granularity": "1 day", "rolling": ["2 days", "50 labels"]}}
    jobs_of_run(spark, parse_config(dict(small, name="r_warm_up", output={"location": str(tmp_path / "r_warm")})))
    few, many = jobs_of_run(spark, parse_config(small)), jobs_of_run(spark, parse_config(big))
    assert len(parse_config(big).metrics) == 21 and few > 0
    assert many == few, f"{few} jobs for 2 metrics / 1 k / 1 window, {many} for 21 metrics / 3 k / 3 windows"


def _items(seq) -> list:
    """A Scala Seq's elements (py4j hands them over as they are)."""
    return [seq.apply(i) for i in range(seq.size())]


def rows_scanned(spark, group: str, tables: dict[str, str]) -> dict[str, int]:
    """Rows that the Parquet scans of each input table (name -> path) output in the SQL executions
    of a job group: from Spark's SQL status store (no UI needed), counting only scans that ran
    (a cached plan shown under an in-memory scan records no rows)."""
    jobs = set(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
    store = spark._jsparkSession.sharedState().statusStore()
    found = dict.fromkeys(tables, 0)
    for execution in _items(store.executionsList()):
        if not jobs & set(_items(execution.jobs().keys().toSeq())):
            continue
        values = store.executionMetrics(execution.executionId())
        for node in _items(store.planGraph(execution.executionId()).allNodes()):
            desc = node.desc()
            name = next(
                (n for n, path in tables.items() if f"PreparedDeltaFileIndex(1 paths)[file:{path}]" in desc), None
            )
            if name is None or "FileScan parquet" not in desc:
                continue
            for metric in _items(node.metrics()):
                if metric.name() == "number of output rows" and values.contains(metric.accumulatorId()):
                    found[name] += int(values.apply(metric.accumulatorId()).replace(",", ""))
    return found


def test_drift_adds_no_scan_and_its_jobs_do_not_grow_with_features(spark, tmp_path):
    """Once its bins are fixed, a full run with drift features scans the predictions twice (the
    cell counts and the one pass, as without them) and the labels once, and one feature costs
    the jobs that three do (each monitor re-run over its own tables, so that both write alike)."""
    preds, labels = make_inputs(n=2000, days=6, seed=4)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    data = config_dict(
        p, lab, str(tmp_path / "out"), metrics=["accuracy", "roc_auc"], windows={"granularity": "1 day", "rolling": []}
    )
    data["baseline"] = {"source": "window", "window": "2 days"}
    drift = {"features": ["amount"], "categorical": ["channel", "country"], "bins": 5}
    three = parse_config(dict(data, drift=drift))
    one = parse_config(
        dict(data, drift={"features": ["amount"], "bins": 5}, output={"location": str(tmp_path / "one")})
    )
    side_by_side(  # fixes the bins; the measured full runs then find the same tables
        *(functools.partial(run_monitor, cfg, T0 + timedelta(days=12), spark=spark) for cfg in (three, one))
    )
    jobs, scanned = {}, {}
    spark.conf.set("spark.sql.maxMetadataStringLength", "10000")  # whole table paths in the plans
    try:
        for name, cfg in (("three", three), ("one", one)):
            group = f"drift-{name}"
            spark.sparkContext.setJobGroup(group, "drift scan test")
            try:
                run_monitor(cfg, T0 + timedelta(days=12), mode="full", spark=spark)
            finally:
                spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
            jobs[name] = len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
            scanned[name] = rows_scanned(spark, group, {"predictions": p, "labels": lab})
    finally:
        spark.conf.unset("spark.sql.maxMetadataStringLength")
    assert jobs["one"] == jobs["three"], jobs
    for name in scanned:
        assert scanned[name] == {"predictions": 2 * len(preds), "labels": len(labels)}, scanned


# Spark jobs of a run with nothing new on the lake below (alert rules and drift features on): the
# reads, the plan, the window pass over the recent windows and the alerting stage. Measured; a
# change that adds jobs to every run must raise it knowingly: 98, then 103 with the run's warnings
# (a limit(1) probe of the labels' last max_delay and one read of the overall slice's buckets),
# 104 with the #35 statistics (measured after merging them; the drift-performance stage's
# correlation moved into an applyInPandas), 120 with rule_windows (its evaluation, the newest
# rows collected for the false-discovery family, the change join of its MERGE), 148 with the claim
# on the monitor (``io.claims``: its row read before the plan and again when it is taken, the MERGE
# that takes it, the read of runs ended since the run started, the MERGE that lets it go) and the
# output check (``Lake.check``: each output table's schema), 142 once the claim is let go by an
# SQL UPDATE instead of a MERGE, 144 with each input table's Delta id read (``DESCRIBE DETAIL``: a
# table dropped and created again at the same path is another table), 146 with serving_gate (its
# rows read to compare with the statuses' gates), 144 with every Delta operation in SQL (for Spark
# Connect; a command's rows collected whole, as a ``first()`` or ``select`` on them plans a job, and a
# path's table read for its schema, not described). Measured at 144.
NOTHING_NEW_JOBS = 144


def test_a_run_with_nothing_new_stays_within_its_job_budget(spark, tmp_path):
    """The fixed cost of a run is mostly Spark jobs (each a few hundred milliseconds on a small
    lake): a run that finds nothing new launches at most ``NOTHING_NEW_JOBS``, and writes no
    metric row."""
    preds, labels = make_inputs(n=600, days=8, seed=5)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    data = config_dict(p, lab, str(tmp_path / "out"), name="unchanged", metrics=["accuracy", "roc_auc", "score_psi"])
    data["baseline"] = {"source": "window", "window": "2 days"}
    data["drift"] = {"features": ["amount"], "categorical": ["channel"], "bins": 5}
    data["alerts"] = [
        {"name": "accuracy_drop", "metric": "accuracy", "window": "3 days", "minor": {"ratio": 0.95}},
    ]
    cfg = parse_config(data)
    as_of = T0 + timedelta(days=12)
    run_monitor(cfg, as_of, spark=spark)
    group = "nothing-new"
    spark.sparkContext.setJobGroup(group, "job budget test")
    try:
        again = run_monitor(cfg, as_of, spark=spark)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
    assert again.mode == "incremental" and again.buckets_recomputed == 0 and again.metric_rows_written == 0
    assert jobs <= NOTHING_NEW_JOBS, f"{jobs} Spark jobs for a run with nothing new (budget {NOTHING_NEW_JOBS})"
