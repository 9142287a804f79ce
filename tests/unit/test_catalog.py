"""The output-table catalogue is consistent with itself and with the records built from it."""

from __future__ import annotations

from dataclasses import fields

import pytest

from perfmon_spark.io.catalog import OUTPUT_TABLES, PERF_METRICS, RUNS, Write
from perfmon_spark.job.run import RunResult
from perfmon_spark.windows.finalise import METRIC_COLUMNS


@pytest.mark.parametrize("table", OUTPUT_TABLES, ids=lambda t: t.name)
def test_keys_and_bookkeeping_are_columns_and_never_compared(table):
    assert len(set(table.names)) == len(table.names)
    assert set(table.key) <= set(table.names) and set(table.bookkeeping) <= set(table.names)
    assert not set(table.compared()) & (set(table.key) | set(table.bookkeeping))
    assert all(c.doc and c.type for c in table.columns)
    if table.write is not Write.APPEND:
        assert "monitor" in table.key or table.key == ("event_id",)


def test_the_runs_row_is_the_run_result():
    assert sorted(f.name for f in fields(RunResult)) == sorted(RUNS.names)


def test_the_window_pass_returns_perf_metrics_without_the_stamped_columns():
    assert [c for c, _ in METRIC_COLUMNS] == [c for c in PERF_METRICS.names if c not in ("monitor", "as_of", "run_id")]


def test_the_records_of_the_alerting_tables_are_their_rows():
    from perfmon_spark.alerts.lifecycle import Episode
    from perfmon_spark.decisions import RetrainDecision, VersionStatus
    from perfmon_spark.io.catalog import MODEL_STATUS, PERF_ALERTS, RETRAIN_DECISIONS

    def names(record) -> list[str]:
        return [f.name for f in fields(record)]

    assert names(Episode) == list(PERF_ALERTS.names)
    stamped = {"monitor", "as_of", "run_id"}
    assert set(names(RetrainDecision)) | stamped == set(RETRAIN_DECISIONS.names)
    assert set(names(VersionStatus)) | stamped | {"last_prediction_date"} == set(MODEL_STATUS.names)
