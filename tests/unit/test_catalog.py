"""The output-table catalogue is consistent with itself and with the records built from it."""

from __future__ import annotations

import re
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


def test_column_names_are_the_catalogues():
    from perfmon_spark.io.catalog import C

    declared = {c.name for t in OUTPUT_TABLES for c in t.columns}
    assert {f.default for f in fields(C)} == declared
    assert all(getattr(C, f.name) == f.default for f in fields(C))
    assert C.model_version == "model_version" and C.class_ == "class"


def test_every_column_name_used_in_the_package_is_declared():
    import ast
    from pathlib import Path

    import perfmon_spark
    from perfmon_spark.io.catalog import C

    known = {f.name for f in fields(C)}
    used = {
        (path.name, node.attr)
        for path in Path(perfmon_spark.__file__).parent.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "C"
    }
    assert used and not {u for u in used if u[1] not in known}


def test_select_gives_the_declared_types_in_the_order_asked():
    assert PERF_METRICS.select("value", "metric", "window_start") == (
        ("value", "double"),
        ("metric", "string"),
        ("window_start", "timestamp"),
    )
    with pytest.raises(KeyError, match="perf_metrics has no column 'bucket_start'"):
        PERF_METRICS.select("metric", "bucket_start")


@pytest.mark.parametrize(
    "table, column, words",
    [
        ("runs", "status", "RunStatus"),
        ("runs", "mode", "RunMode"),
        ("quarantine", "source", "Source"),
        ("quarantine", "reason", "Reason"),
        ("perf_alerts", "level", "Level"),
        ("perf_alerts", "status", "AlertStatus"),
        ("alert_events", "event", "AlertEvent"),
        ("alert_events", "delivery", "Delivery"),
        ("retrain_decisions", "decision", "Decision"),
        ("model_status", "status", "ModelStatus"),
        ("drift_reference", "kind", "FeatureKind"),
        ("drift_metrics", "measure", "DriftMeasure"),
        ("drift_performance", "class", "DriftClass"),
    ],
)
def test_a_columns_doc_lists_every_word_of_its_vocabulary(table, column, words):
    from perfmon_spark import vocabulary

    (doc,) = [c.doc for t in OUTPUT_TABLES if t.name == table for c in t.columns if c.name == column]
    listed = set(re.findall(r"[A-Za-z_]+", doc))
    assert {str(w) for w in getattr(vocabulary, words)} <= listed, doc


def test_the_actions_documented_are_those_levels_and_statuses_ask_for():
    from perfmon_spark.io.catalog import MODEL_STATUS, PERF_ALERTS
    from perfmon_spark.vocabulary import Action, Level

    def doc(table):
        return next(c.doc for c in table.columns if c.name == "action")

    assert doc(PERF_ALERTS).split(" / ") == [level.action for level in Level]
    assert set(doc(MODEL_STATUS).split(" / ")) | {Action.LOG} == set(Action)
