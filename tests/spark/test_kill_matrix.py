"""The kill matrix: a run killed outright just before any one of its table commits, then run
again once its claim is ended by hand, leaves every output table as the same run uninterrupted
does, value for value. The lake has every output a run writes: quarantined rows, drift (its
reference, states, metrics, links to performance), a version comparison, an alert rule with a
webhook, retraining and the model status.

A run killed outright leaves its output as it was just before the commit it died at, its claim
held and no ``runs`` row: each cell is a copy of the output folder taken there, during one
uninterrupted run (between two commits of one process, so each copy is a consistent lake). The
cells are every commit of an incremental run, and the commits of a first run around the drift
reference, which only a first run writes."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import numpy as np
import pandas as pd

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
ALL_EXCEPT_CLAIMS = tuple(t for t in OUTPUT_TABLES if t is not CLAIMS)


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


def _every_commit(tmp_path, tag: str) -> dict[tuple[str, int], object]:
    """A copy's place for each possible cell (up to two commits to a table in a run): the ones a
    run reaches are made."""
    return {(t.name, n): tmp_path / f"{tag}_{t.name}_{n}" for t in ALL_EXCEPT_CLAIMS for n in range(2)}


def _restore(spark, cfg, out, copy) -> None:
    """The output folder as the killed run left it (the same path: it is in the config), and the
    claim it never let go ended by hand (docs/runs.md)."""
    shutil.rmtree(out)
    shutil.copytree(copy, out)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # the session's view of the old tables
    claims = f"delta.`{cfg.output.table(CLAIMS.name).text}`"
    spark.sql(f"UPDATE {claims} SET expires_at = current_timestamp() WHERE released_at IS NULL")


def _rerun_equals(spark, cfg, as_of, expected: dict[str, pd.DataFrame], statuses: list[str], cell: str) -> None:
    """Run again, as of the killed run's ``as_of``: a full recompute (a first run's, or one that
    says why), the killed run recorded FAILED, every output table as ``expected``."""
    result = run_monitor(cfg, as_of, spark=spark)
    why = "first run of this monitor" if statuses[0] == "FAILED" else "wrote no runs row (killed outright?)"
    assert result.mode == "full" and why in result.message, (cell, result)
    runs = read_table(spark, cfg, RUNS.name).sort_values("started_at")
    assert list(runs["status"]) == statuses, cell
    assert runs["message"].iloc[-2].startswith("killed outright"), cell
    got = _tables(spark, cfg)
    assert sorted(got) == sorted(expected), cell
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=False, rtol=1e-9, atol=1e-12, obj=f"{name}, {cell}")


def test_a_run_killed_outright_before_any_of_its_commits_is_repaired_by_the_next(spark, tmp_path, monkeypatch):
    preds, labels = _inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    out = tmp_path / "monitoring"
    cfg = _config(p, lab, str(out))
    hook = Server()
    monkeypatch.setenv("PERFMON_TEST_HOOK", hook.url)
    try:
        first = {cell: tmp_path / "first_{}_{}".format(*cell) for cell in FIRST_RUN_CELLS}
        writes = copied_before(monkeypatch, out, first, lambda: run_monitor(cfg, BEFORE, spark=spark))
        assert writes[:3] == [QUARANTINE.name, DRIFT_REFERENCE.name, PERF_STATS.name], writes
        assert not hook.bodies  # nothing serious by day 16
        expected_first = _tables(spark, cfg)

        copies = _every_commit(tmp_path, "second")
        writes = copied_before(monkeypatch, out, copies, lambda: run_monitor(cfg, AS_OF, spark=spark))
        cells = [(table, writes[:i].count(table)) for i, table in enumerate(writes)]
        # every table but the reference (a first run's) and rollbacks (``perfmon rollback``'s):
        # a kill before each of their commits is a cell
        assert {t.name for t in ALL_EXCEPT_CLAIMS} - set(writes) == {DRIFT_REFERENCE.name, ROLLBACKS.name}, writes
        assert cells.count((ALERT_EVENTS.name, 1)) == 1 and writes[-1] == RUNS.name, writes
        expected, posted = _tables(spark, cfg), _posts(hook.bodies)
        assert posted and sorted(expected[QUARANTINE.name]["reason"]) == sorted(QUARANTINED), expected[QUARANTINE.name]

        for i, (table, n) in enumerate(cells):
            cell = f"killed before commit {n} to {table}"
            _restore(spark, cfg, out, copies[table, n])
            before = len(hook.bodies)
            _rerun_equals(spark, cfg, AS_OF, expected, ["SUCCEEDED", "FAILED", "SUCCEEDED"], cell)
            # the run posts the events whose delivery its killed run had not written, the same
            # events (killed after posting them, before writing that it did: at least once)
            delivered = i > cells.index((ALERT_EVENTS.name, 1))
            assert _posts(hook.bodies[before:]) == ([] if delivered else posted), cell

        for table, n in FIRST_RUN_CELLS:
            _restore(spark, cfg, out, first[table, n])
            _rerun_equals(spark, cfg, BEFORE, expected_first, ["FAILED", "SUCCEEDED"], f"first run, before {table}")
    finally:
        hook.close()
