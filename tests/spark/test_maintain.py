"""``perfmon maintain`` on a small lake: a dry run changes nothing, OPTIMIZE compacts (Z-ordered on
time where a table is laid out on it), VACUUM keeps what the retention says (raising a table's own
where it is shorter, keeping a longer one), and an incremental run after maintenance, even after a
VACUUM that kept nothing, equals a full refresh."""

from __future__ import annotations

from datetime import timedelta

import yaml
from pyspark.testing import assertDataFrameEqual

from perfmon_spark.cli import main
from perfmon_spark.config import parse_config
from perfmon_spark.io.catalog import OUTPUT_TABLES, PERF_METRICS, PERF_STATS, RUNS
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.quoting import sql_table
from perfmon_spark.io.tables import latest_version, read_version
from perfmon_spark.job import run_monitor
from perfmon_spark.maintain import (
    DELTA_MAX_FILE_BYTES,
    MAX_FILE_SIZE,
    RETENTION_PROPERTY,
    maintain,
    optimize_kind,
    report,
    table_detail,
    vacuum_table,
)
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, make_inputs, write_delta

DAY = timedelta(days=1)
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"  # on by default for local files only
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def config_data(p, lab, out, retention="7 days") -> dict:
    data = config_dict(p, lab, str(out), name="maint", metrics=["accuracy", "recall", "roc_auc"])
    data["segments"]["max_values"] = 10  # no value cut: the new day cannot re-rank them into a full run
    data["output"]["retention"] = retention
    return data


def config(p, lab, out, retention="7 days"):
    return parse_config(config_data(p, lab, out, retention))


def later_day(preds, days=6):
    """60 new predictions ``days`` days after some early ones, each labelled an hour later."""
    more = preds.iloc[40:100].copy()
    more["prediction_id"] = "m" + more["prediction_id"]
    more["prediction_ts"] = more["prediction_ts"] + timedelta(days=days)
    labels = more[["prediction_id"]].copy()
    labels["is_fraud"] = (more["score"].astype(float) > 0.45).astype(int)
    labels["label_ts"] = more["prediction_ts"] + timedelta(hours=1)
    return more, labels


def test_maintenance_keeps_history_for_the_retention_and_never_breaks_incremental_runs(spark, tmp_path, capsys):
    preds, labels = make_inputs(n=400, days=6, seed=3)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    cfg = config(p, lab, tmp_path / "out")
    assert maintain(spark, cfg, dry_run=True) == []  # no table yet
    # the first run writes its time-ordered tables as several files (range-partitioned, not
    # coalesced), the second MERGEs into them, again not coalesced, and appends a second runs file
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        assert run_monitor(cfg, T0 + 4 * DAY, spark=spark).mode == "full"
        assert run_monitor(cfg, T0 + 5 * DAY, spark=spark).mode == "incremental"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")
        spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")

    lake = Lake(spark, cfg)
    present = [t for t in OUTPUT_TABLES if lake.exists(t)]
    assert {PERF_METRICS.name, PERF_STATS.name, RUNS.name} <= {t.name for t in present}

    def state() -> dict[str, tuple[int, tuple[int, int]]]:
        return {t.name: (latest_version(spark, lake.ref(t)), table_detail(spark, lake.ref(t))[:2]) for t in present}

    # a dry run: what would be done, and nothing done
    before = state()
    planned = {m.table: m for m in maintain(spark, cfg, dry_run=True)}
    assert state() == before
    assert list(planned) == [t.name for t in present]
    for t in present:
        m = planned[t.name]
        assert m.dry_run and m.bytes_after is None and m.vacuum_files == 0
        assert (m.retention_before, m.retention_hours) == (168, 168)  # Delta's default week, as configured
        assert (m.files_before, m.bytes_before) == before[t.name][1]
        # tables this small: OPTIMIZE leaves one file, so it runs wherever there are more
        assert m.optimize == (optimize_kind(t) if m.files_before > 1 else None)
        assert m.files_after == (1 if m.optimize else m.files_before)
    assert planned[RUNS.name].files_before >= 2 and planned[RUNS.name].optimize == "compaction"
    # the command prints the same plan, one line per table, and changes nothing either
    config_file = tmp_path / "maint.yml"
    config_file.write_text(yaml.safe_dump(config_data(p, lab, tmp_path / "out")), encoding="utf-8")
    capsys.readouterr()
    assert main(["maintain", "--config", str(config_file), "--dry-run"]) == 0
    assert capsys.readouterr().out == report(cfg, list(planned.values()), dry_run=True) + "\n"
    assert state() == before
    assert any(m.optimize and m.optimize.startswith("ZORDER BY") for m in planned.values()), planned

    # a table that keeps removed files longer than output.retention keeps them so
    runs_sql = sql_table(lake.ref(RUNS))
    spark.sql(f"ALTER TABLE {runs_sql} SET TBLPROPERTIES ('{RETENTION_PROPERTY}' = 'interval 30 days')")
    try:
        longer = {m.table: m for m in maintain(spark, cfg, dry_run=True)}
    finally:
        spark.sql(f"ALTER TABLE {runs_sql} UNSET TBLPROPERTIES ('{RETENTION_PROPERTY}')")
    assert (longer[RUNS.name].retention_before, longer[RUNS.name].retention_hours) == (720, 720)
    assert (longer[PERF_METRICS.name].retention_before, longer[PERF_METRICS.name].retention_hours) == (168, 168)

    # maintenance keeping 14 days (no other value changes: the same monitor, no full recompute):
    # each table's retention raised, compacted, and the files OPTIMIZE removed kept
    fortnight = config(p, lab, tmp_path / "out", retention="14 days")
    assert fortnight.source_hash == cfg.source_hash
    versions = {t.name: latest_version(spark, lake.ref(t)) for t in present}
    rows = {t.name: lake.read_all(t).count() for t in present}
    spark.conf.set(VACUUM_LOGGING, "true")
    try:
        done = {m.table: m for m in maintain(spark, fortnight)}
    finally:
        spark.conf.unset(VACUUM_LOGGING)
    assert spark.conf.get(MAX_FILE_SIZE, str(DELTA_MAX_FILE_BYTES)) == str(DELTA_MAX_FILE_BYTES)  # not left set
    for t in present:
        m, plan = done[t.name], planned[t.name]
        assert not m.dry_run and (m.optimize, m.files_after) == (plan.optimize, plan.files_after), (m, plan)
        files, size, properties = table_detail(spark, lake.ref(t))
        assert (m.files_after, m.bytes_after) == (files, size)
        assert m.retention_raised and (m.retention_before, m.retention_hours) == (168, 336)
        assert properties[RETENTION_PROPERTY] == "interval 336 hours"
        assert m.vacuum_files == 0, m  # every removed file is younger than the retention
        assert lake.read_all(t).count() == rows[t.name]
        assert read_version(spark, lake.ref(t), versions[t.name]).count() == rows[t.name]  # time travel still works
    assert done[RUNS.name].files_after == 1 < done[RUNS.name].files_before
    again = maintain(spark, fortnight, dry_run=True)  # nothing left to do
    assert all(m.optimize is None and not m.retention_raised and m.retention_hours == 336 for m in again), again

    # no reader needs an old version of an output table: even a VACUUM that keeps nothing (Delta's
    # check off, as no user should) leaves the next incremental run equal to a full refresh
    spark.conf.set(VACUUM_LOGGING, "true")
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        deleted = {t.name: vacuum_table(spark, lake.ref(t), 0) for t in present}
    finally:
        spark.conf.unset(RETENTION_CHECK)
        spark.conf.unset(VACUUM_LOGGING)
    files, size = deleted[RUNS.name]
    assert files >= done[RUNS.name].files_before and size > 0, deleted
    more, more_labels = later_day(preds)
    write_delta(spark, more, PREDICTIONS_DDL, p, mode="append")
    write_delta(spark, more_labels, LABELS_DDL, lab, mode="append")
    result = run_monitor(cfg, T0 + 8 * DAY, spark=spark)
    assert result.mode == "incremental", result.message
    full = config(p, lab, tmp_path / "full")
    assert run_monitor(full, T0 + 8 * DAY, mode="full", spark=spark).mode == "full"
    for table in (PERF_METRICS, PERF_STATS):
        assertDataFrameEqual(
            lake.read(table).drop("as_of", "run_id"),
            Lake(spark, full).read(table).drop("as_of", "run_id"),
            rtol=1e-9,
            atol=1e-12,
        )
