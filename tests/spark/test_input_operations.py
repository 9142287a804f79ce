"""What platform teams do to input tables between two runs (#37 item 1), on one lake, one after the
other: the change data feed switched on after a run, a type widened, a column renamed through
column mapping, and the table dropped and created again at the same path with other rows. The
change data feed cannot cover any of them exactly, so each next run recomputes in full and says
why in ``runs.message``; the last is compared with a ``--full-refresh``, value for value. (Appends,
deletes, corrections, late rows and killed runs are ``test_incremental.py``'s; OPTIMIZE and
VACUUM of the output tables ``test_maintain.py``'s.)"""

from __future__ import annotations

import shutil
from datetime import timedelta

from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from perfmon_spark.config import parse_config
from perfmon_spark.io.catalog import PERF_METRICS, PERF_STATS
from perfmon_spark.io.lake import Lake
from perfmon_spark.job import run_monitor
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, make_inputs, write_delta

DAY = timedelta(days=1)
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def config(p, lab, out):
    data = config_dict(p, lab, str(out), name="ops", metrics=["accuracy", "roc_auc"])
    data["segments"]["max_values"] = 10  # no value cut: a new day cannot re-rank the values into a full run
    return parse_config(data)


def same_as_a_full_refresh(spark, cfg, full, as_of) -> None:
    """``cfg``'s states and metrics equal those of a ``--full-refresh`` of ``full`` (the same
    inputs, another output) as of ``as_of``, value for value."""
    assert run_monitor(full, as_of, mode="full", spark=spark).mode == "full"
    for table in (PERF_METRICS, PERF_STATS):
        assertDataFrameEqual(
            Lake(spark, cfg).read(table).drop("as_of", "run_id"),
            Lake(spark, full).read(table).drop("as_of", "run_id"),
            rtol=1e-9,
            atol=1e-12,
        )


def test_operations_the_change_data_feed_cannot_cover_each_make_a_full_run_that_says_why(spark, tmp_path):
    preds, labels = make_inputs(n=400, days=8, seed=3)
    p = write_delta(spark, preds.iloc[:200], PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    cfg = config(p, lab, tmp_path / "out")
    assert run_monitor(cfg, T0 + 5 * DAY, spark=spark).mode == "full"

    def next_run(day: int) -> tuple[str, str]:
        result = run_monitor(cfg, T0 + day * DAY, spark=spark)
        return result.mode, result.message.split(";")[0]

    # the feed off for one append, then on again: the versions in between have no change data
    spark.sql(f"ALTER TABLE delta.`{p}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    write_delta(spark, preds.iloc[200:250], PREDICTIONS_DDL, p, mode="append")
    spark.sql(f"ALTER TABLE delta.`{p}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    mode, why = next_run(6)
    assert mode == "full" and why.startswith("change data feed unavailable: [DELTA_MISSING_CHANGE_DATA]"), why

    # a type widened (Delta's type widening), with a new day
    spark.sql(f"ALTER TABLE delta.`{lab}` SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
    spark.sql(f"ALTER TABLE delta.`{lab}` ALTER COLUMN is_fraud TYPE bigint")
    write_delta(spark, preds.iloc[250:300], PREDICTIONS_DDL, p, mode="append")
    mode, why = next_run(7)
    assert mode == "full" and "DELTA_CHANGE_DATA_FEED_INCOMPATIBLE_DATA_SCHEMA" in why, why

    # a column renamed through column mapping (one no setting names)
    spark.sql(
        f"ALTER TABLE delta.`{p}` SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name', "
        "'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')"
    )
    spark.sql(f"ALTER TABLE delta.`{p}` RENAME COLUMN amount TO amount_eur")
    mode, why = next_run(7)
    assert mode == "full" and "[DELTA_CHANGE_DATA_FEED_INCOMPATIBLE_" in why, why

    # dropped and created again at the same path, with fewer old rows and more versions than the
    # last run read: the change data feed since that version would miss the rows that went
    shutil.rmtree(p)
    kept = preds.drop(index=preds.index[100:200])
    for part in range(9):  # versions 0-8, past the 6 the last run read
        write_delta(spark, kept.iloc[part * 34 : (part + 1) * 34], PREDICTIONS_DDL, p, mode="append")
    mode, why = next_run(8)
    assert (mode, why) == ("full", f"{p} is another table than the last run read (dropped and created again?)")
    same_as_a_full_refresh(spark, cfg, config(p, lab, tmp_path / "full"), T0 + 8 * DAY)


def test_compaction_of_the_inputs_stays_incremental_and_exact_and_vacuum_and_restore_are_handled(spark, tmp_path):
    """OPTIMIZE of both inputs (a commit with ``dataChange = false``) beside a new day: the next run
    stays incremental and equals a ``--full-refresh``. Then a RESTORE of the predictions to their
    first version (a new commit that takes the later rows away): equal to a full refresh. Last,
    OPTIMIZE with a VACUUM that keeps nothing, so that the change data of the versions since the
    last run is gone with its files: the run says so and recomputes, equal to a full refresh."""
    preds, labels = make_inputs(n=400, days=8, seed=7)
    p = write_delta(spark, preds.iloc[:200], PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels.iloc[:100], LABELS_DDL, tmp_path / "labels")
    write_delta(spark, labels.iloc[100:], LABELS_DDL, lab, mode="append")
    cfg = config(p, lab, tmp_path / "out")
    assert run_monitor(cfg, T0 + 5 * DAY, spark=spark).mode == "full"

    write_delta(spark, preds.iloc[200:280], PREDICTIONS_DDL, p, mode="append")
    for table in (p, lab):
        DeltaTable.forPath(spark, table).optimize().executeCompaction()
    result = run_monitor(cfg, T0 + 6 * DAY, spark=spark)
    assert result.mode == "incremental", result.message
    same_as_a_full_refresh(spark, cfg, config(p, lab, tmp_path / "full_optimize"), T0 + 6 * DAY)

    # RESTORE commits a new version whose changes are the rows that vanish
    DeltaTable.forPath(spark, p).restoreToVersion(0)
    assert run_monitor(cfg, T0 + 6 * DAY, spark=spark).status == "SUCCEEDED"
    same_as_a_full_refresh(spark, cfg, config(p, lab, tmp_path / "full_restore"), T0 + 6 * DAY)

    write_delta(spark, preds.iloc[280:340], PREDICTIONS_DDL, p, mode="append")
    DeltaTable.forPath(spark, p).optimize().executeCompaction()
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        DeltaTable.forPath(spark, p).vacuum(0)
    finally:
        spark.conf.unset(RETENTION_CHECK)
    result = run_monitor(cfg, T0 + 7 * DAY, spark=spark)
    assert (result.mode, result.message.split(":")[0]) == ("full", "change data feed unavailable"), result.message
    same_as_a_full_refresh(spark, cfg, config(p, lab, tmp_path / "full_vacuum"), T0 + 7 * DAY)
