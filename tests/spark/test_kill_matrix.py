"""The kill matrix: a run killed outright just before any one of its table commits, then run
again once its claim is ended by hand, leaves every output table as the same run uninterrupted
does, value for value. The lake has every output a run writes: quarantined rows, drift (its
reference, states, metrics, links to performance), a version comparison, an alert rule with a
webhook, retraining and the model status.

A run killed outright leaves its output as it was just before the commit it died at, its claim
held and no ``runs`` row: each cell is a copy of the output folder taken there, during one
uninterrupted run (between two commits of one process, so each copy is a consistent lake). The
cells are every commit of an incremental run, and the commits of a first run around the drift
reference (written when a run fixes a feature's bins: here the first run)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.io.catalog import (
    ALERT_EVENTS,
    CLAIMS,
    DRIFT_REFERENCE,
    OUTPUT_TABLES,
    PERF_STATS,
    QUARANTINE,
    ROLLBACKS,
    RUNS,
)
from perfmon_spark.io.lake import Lake
from perfmon_spark.job import run_monitor
from perfmon_spark.vocabulary import Reason
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
# a kill before the n-th commit (from 0) to a table, of the first run: before and after the
# drift reference
FIRST_RUN_CELLS = ((DRIFT_REFERENCE.name, 0), (PERF_STATS.name, 0))
QUARANTINED = (Reason.SCORE_OUT_OF_RANGE, Reason.NULL_MODEL_VERSION, Reason.SCORE_OUT_OF_RANGE, Reason.BAD_LABEL)
LATER_BAD = ("bad1", "bad2", "bad3")  # the ids of the rows to quarantine that only the second run sees
# what a full recompute's runs.message says after a run killed outright: with a run before it,
# and as the monitor's first
KILLED, FIRST = "wrote no runs row (killed outright?)", "first run of this monitor"
# what a run read and wrote (the input versions and the counts): unknown for one killed outright
COUNTS = tuple(c for c, t in RUNS.schema if t == "long")


def _inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alerting lake, with rows to quarantine on day 2 (seen by the first run) and day 20
    (seen only by the second): a NaN score, a null model version, a score out of range and a
    label that is not 0 or 1."""
    preds, labels = alerting_inputs()
    bad = preds.iloc[:4].copy()
    bad["prediction_id"] = [f"bad{i}" for i in range(4)]
    bad["prediction_ts"] = [ALERTING_T0 + d * DAY for d in (2, 20, 20, 20)]
    bad["score"] = [np.nan, 0.3, 7.0, 0.6]
    bad["model_version"] = ["v1", None, "v2", "v2"]
    label = pd.DataFrame({"prediction_id": ["bad3"], "is_fraud": [2], "label_ts": [ALERTING_T0 + 21 * DAY]})
    return pd.concat([preds, bad], ignore_index=True), pd.concat([labels, label], ignore_index=True)


def _config(p: str, lab: str, out: str):
    """The alerting monitor with drift and a version comparison, so that a run writes every
    output table (but ``rollbacks``, which ``perfmon rollback`` writes)."""
    data = alerting_config_dict(p, lab, out)
    data["drift"] = {"features": ["amount"], "categorical": ["channel"], "bins": 6, "correlation_windows": 5}
    data["versions"] = {"champion": "v1", "challengers": ["v2"], "metrics": ["accuracy"], "min_labeled": 20}
    return parse_config(data)


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


def _copy_paths(tmp_path: Path, tag: str, cells) -> dict[tuple[str, int], Path]:
    """Where each cell's copy of the output folder goes."""
    return {(table, n): tmp_path / f"{tag}_{table}_{n}" for table, n in cells}


def _restore(spark, cfg, out, copy) -> None:
    """The output folder as the killed run left it (the same path: it is in the config), and the
    claim it never let go ended by hand (docs/runs.md)."""
    shutil.rmtree(out)
    shutil.copytree(copy, out)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # the session's view of the old tables
    claims = f"delta.`{cfg.output.table(CLAIMS.name).text}`"
    spark.sql(f"UPDATE {claims} SET expires_at = current_timestamp() WHERE released_at IS NULL")


def _rerun_equals(spark, cfg, as_of, expected: dict[str, pd.DataFrame], statuses: list[str], why: str, cell: str):
    """Run again, as of the killed run's ``as_of``: a full recompute saying ``why``, the killed
    run recorded FAILED with what it read and wrote unknown (null), every output table as
    ``expected``. Returns the run's result and its ``quarantine`` records' ``first_seen_run`` by
    record id."""
    result = run_monitor(cfg, as_of, spark=spark)
    assert result.mode == "full" and why in result.message, (cell, result)
    runs = read_table(spark, cfg, RUNS.name).sort_values("started_at")
    assert list(runs["status"]) == statuses, cell
    killed = runs.iloc[-2]
    assert killed["message"].startswith("killed outright") and killed[list(COUNTS)].isna().all(), (cell, killed)
    got = _tables(spark, cfg)
    assert sorted(got) == sorted(expected), cell
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=False, rtol=1e-9, atol=1e-12, obj=f"{name}, {cell}")
    quarantine = read_table(spark, cfg, QUARANTINE.name)
    return result, dict(zip(quarantine["record_id"], quarantine["first_seen_run"]))


# 18 full re-runs take about 15 minutes on 2 cores: past the suite's 900 s per test
@pytest.mark.timeout(1800)
def test_a_run_killed_outright_before_any_of_its_commits_is_repaired_by_the_next(spark, tmp_path, monkeypatch):
    preds, labels = _inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    out = tmp_path / "monitoring"
    cfg = _config(p, lab, str(out))
    hook = Server()
    monkeypatch.setenv("PERFMON_TEST_HOOK", hook.url)
    try:
        done = []  # the uninterrupted runs' results
        first = _copy_paths(tmp_path, "first", FIRST_RUN_CELLS)
        writes = copied_before(monkeypatch, out, first, lambda: done.append(run_monitor(cfg, BEFORE, spark=spark)))
        assert writes[:3] == [QUARANTINE.name, DRIFT_REFERENCE.name, PERF_STATS.name], writes
        assert not hook.bodies  # nothing serious by day 16
        expected_first = _tables(spark, cfg)

        # a copy before each commit the run may make (up to two to a table): those it makes are taken
        copies = _copy_paths(
            tmp_path, "second", [(t.name, n) for t in OUTPUT_TABLES if t is not CLAIMS for n in (0, 1)]
        )
        writes = copied_before(monkeypatch, out, copies, lambda: done.append(run_monitor(cfg, AS_OF, spark=spark)))
        cells = [(table, writes[:i].count(table)) for i, table in enumerate(writes)]
        # every table but the reference (a run writes it when it fixes a feature's bins: the
        # first here) and rollbacks (``perfmon rollback``'s): a kill before each commit is a cell
        assert {t.name for t in OUTPUT_TABLES} - set(writes) == {CLAIMS.name, DRIFT_REFERENCE.name, ROLLBACKS.name}
        assert len(cells) == 16 and cells.count((ALERT_EVENTS.name, 1)) == 1 and writes[-1] == RUNS.name, writes
        expected, posted = _tables(spark, cfg), _posts(hook.bodies)
        assert posted and sorted(expected[QUARANTINE.name]["reason"]) == sorted(QUARANTINED), expected[QUARANTINE.name]

        for i, (table, n) in enumerate(cells):
            cell = f"killed before commit {n} to {table}"
            _restore(spark, cfg, out, copies[table, n])
            before = len(hook.bodies)
            result, seen = _rerun_equals(
                spark, cfg, AS_OF, expected, ["SUCCEEDED", "FAILED", "SUCCEEDED"], KILLED, cell
            )
            # a record keeps the run that quarantined it first: the killed one, if it had
            quarantined_by = done[1] if i > cells.index((QUARANTINE.name, 0)) else result
            assert seen == {"bad0": done[0].run_id} | dict.fromkeys(LATER_BAD, quarantined_by.run_id), cell
            # the run posts the events whose delivery its killed run had not written, the same
            # events (killed after posting them, before writing that it did: at least once)
            delivered = i > cells.index((ALERT_EVENTS.name, 1))
            assert _posts(hook.bodies[before:]) == ([] if delivered else posted), cell

        for table, n in FIRST_RUN_CELLS:
            _restore(spark, cfg, out, first[table, n])
            before = len(hook.bodies)
            cell = f"first run, killed before {table}"
            _, seen = _rerun_equals(spark, cfg, BEFORE, expected_first, ["FAILED", "SUCCEEDED"], FIRST, cell)
            assert seen == {"bad0": done[0].run_id} and len(hook.bodies) == before, cell
    finally:
        hook.close()
