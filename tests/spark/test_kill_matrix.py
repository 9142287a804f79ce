"""The kill matrix of the alerting stage: a run killed outright before its alert events, before
their deliveries are written, before the model status, before the serving gate or before its
``runs`` row, then run again once its claim is ended by hand, leaves every output table as the
same run uninterrupted does, value for value.

A run killed outright leaves its output as it was just before the commit it died at, its claim
held and no ``runs`` row: each cell is a copy of the output folder taken there, during one
uninterrupted run (between two commits of one process, so each copy is a consistent lake). The
kills before the states, the metrics and the alerts, with a FAILED row and the claim let go, are
the cells of ``test_incremental.py`` and ``test_alerting.py``."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pandas as pd

from perfmon_spark.config import parse_config
from perfmon_spark.io.catalog import ALERT_EVENTS, CLAIMS, OUTPUT_TABLES, RUNS
from perfmon_spark.io.lake import Lake
from perfmon_spark.job import run_monitor
from tests.helpers import (
    ALERTING_DAYS,
    ALERTING_T0,
    LABELS_DDL,
    PREDICTIONS_DDL,
    Server,
    alerting_config_dict,
    alerting_inputs,
    copied_before,
    read_table,
    with_tuples,
    write_delta,
)

DAY = timedelta(days=1)
BEFORE, AS_OF = ALERTING_T0 + 16 * DAY, ALERTING_T0 + ALERTING_DAYS * DAY
# a kill before the n-th commit (from 0) to a table
CELLS = (
    ("alert_events", 0),  # before the new events
    ("alert_events", 1),  # after the events were posted, before their delivery is written
    ("model_status", 0),  # the decisions written
    ("serving_gate", 0),  # the model status written, not its gate
    ("runs", 0),  # every table written, no runs row
)


def _tables(spark, cfg) -> dict[str, pd.DataFrame]:
    """Every output table but ``runs`` and ``claims`` (a run's own record), without its
    bookkeeping columns and the run that raised an event or decision (the only columns a re-run
    may write otherwise), sorted."""
    found = {}
    lake = Lake(spark, cfg)
    for table in OUTPUT_TABLES:
        if table in (RUNS, CLAIMS) or not lake.exists(table):
            continue
        df = with_tuples(read_table(spark, cfg, table.name))
        df = df.drop(columns=[c for c in (*table.bookkeeping, "run_id") if c in df.columns])
        found[table.name] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return found


def _posts(bodies: list[dict]) -> list[str]:
    """Webhook bodies as sorted JSON, without the id of the run that raised the event."""
    return sorted(json.dumps({k: v for k, v in b.items() if k != "run_id"}, sort_keys=True) for b in bodies)


def test_a_run_killed_outright_before_any_commit_of_its_alerting_is_repaired_by_the_next(spark, tmp_path, monkeypatch):
    preds, labels = alerting_inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    out = tmp_path / "monitoring"
    cfg = parse_config(alerting_config_dict(p, lab, str(out)))
    hook = Server()
    monkeypatch.setenv("PERFMON_TEST_HOOK", hook.url)
    try:
        run_monitor(cfg, BEFORE, spark=spark)
        assert not hook.bodies  # nothing serious by day 16
        copies = {cell: tmp_path / "killed_before_{}_{}".format(*cell) for cell in CELLS}
        writes = copied_before(monkeypatch, out, copies, lambda: run_monitor(cfg, AS_OF, spark=spark))
        assert all(writes.count(table) > n for table, n in CELLS), writes  # each cell is a write of the run
        assert writes[-1] == RUNS.name
        expected, posted = _tables(spark, cfg), _posts(hook.bodies)
        assert posted

        for (table, n), copy in copies.items():
            cell = f"killed before commit {n} to {table}"
            # the output folder as the killed run left it (the same path: it is in the config),
            # and the claim it never let go ended by hand (docs/runs.md)
            shutil.rmtree(out)
            shutil.copytree(copy, out)
            spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # the session's view of the old tables
            claims = f"delta.`{cfg.output.table(CLAIMS.name).text}`"
            spark.sql(f"UPDATE {claims} SET expires_at = current_timestamp() WHERE released_at IS NULL")
            before = len(hook.bodies)
            result = run_monitor(cfg, AS_OF, spark=spark)
            assert result.mode == "full" and "wrote no runs row (killed outright?)" in result.message, (cell, result)
            runs = read_table(spark, cfg, RUNS.name).sort_values("started_at")
            assert list(runs["status"]) == ["SUCCEEDED", "FAILED", "SUCCEEDED"], cell
            assert runs["message"].iloc[1].startswith("killed outright"), cell
            got = _tables(spark, cfg)
            assert sorted(got) == sorted(expected), cell
            for name, frame in expected.items():
                pd.testing.assert_frame_equal(
                    got[name], frame, check_exact=False, rtol=1e-9, atol=1e-12, obj=f"{name}, {cell}"
                )
            # the run posts the events whose delivery its killed run had not written, the same
            # events (in the second cell the killed run had posted them: delivery is at least once)
            assert _posts(hook.bodies[before:]) == (posted if table == ALERT_EVENTS.name else []), cell
    finally:
        hook.close()
