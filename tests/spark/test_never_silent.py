"""Never silent: every run that drops or misreads data says so (``runs.warnings``, a line on
stderr, ``--strict``), the label delay it read equals pandas, date timestamps are refused or read
by the declared rule, and incremental runs count orphans and new quarantined rows."""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from perfmon_spark.cli import main
from perfmon_spark.config import parse_config
from perfmon_spark.errors import InputError, StrictError
from perfmon_spark.job import check_tables, run_monitor
from perfmon_spark.vocabulary import RunStatus, WarningCode
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, make_inputs, read_table, write_delta

DAY = timedelta(days=1)
AS_OF = T0 + 12 * DAY  # predictions over days 0-9; max_delay 2 days: days up to 9 are mature
MAX_DELAY = timedelta(days=2)
LOST_DAY = T0 + 8 * DAY  # v1's labels of this day are lost: a mature window far below its coverage


def _troubled_labels(preds: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """v2 never gets a label, v1 loses day 8's, and nothing arrives after day 10 (stalled)."""
    version = preds.drop_duplicates("prediction_id").set_index("prediction_id")
    ts = labels["prediction_id"].map(version["prediction_ts"])
    lost = (labels["prediction_id"].map(version["model_version"]) == "v2") | ((ts >= LOST_DAY) & (ts < LOST_DAY + DAY))
    return labels[~lost & (labels["label_ts"] <= T0 + 10 * DAY)].reset_index(drop=True)


@pytest.fixture(scope="module")
def troubled(spark, tmp_path_factory):
    """One lake with every warning a run with data can raise, run twice as of ``AS_OF``: first
    through the CLI with ``--strict`` (exit 4), then as the library call without it."""
    root = tmp_path_factory.mktemp("troubled")
    preds, labels = make_inputs(n=600, days=10, seed=5)
    labels = _troubled_labels(preds, labels)
    p = write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, root / "labels")
    data = config_dict(p, lab, str(root / "out"))
    data["labels"]["max_delay"] = "2 days"
    config = root / "monitor.yml"
    config.write_text(yaml.safe_dump(data))
    cfg = parse_config(data)
    strict_exit = main(["run", "--config", str(config), "--as-of", AS_OF.isoformat(), "--strict", "--quiet"])
    strict_runs = read_table(spark, cfg, "runs")
    result = run_monitor(cfg, AS_OF, spark=spark)
    return {
        "cfg": cfg,
        "preds": preds,
        "labels": labels,
        "root": root,
        "config": config,
        "result": result,
        "strict_exit": strict_exit,
        "strict_runs": strict_runs,
    }


def _codes(result) -> list[str]:
    return [code for code, _ in result.warnings]


def test_each_warning_of_a_troubled_lake_is_in_runs_and_names_its_cause(spark, troubled):
    result, cfg = troubled["result"], troubled["cfg"]
    assert result.status == RunStatus.SUCCEEDED
    assert _codes(result) == [
        WarningCode.LATE_LABELS_IGNORED,
        WarningCode.STALLED_LABELS,
        WarningCode.LOW_LABEL_COVERAGE,
        WarningCode.VERSION_WITHOUT_LABELS,
    ]
    messages = dict(result.warnings)
    assert (
        "'v2'" in messages[WarningCode.VERSION_WITHOUT_LABELS]
        and "'v1'" not in messages[WarningCode.VERSION_WITHOUT_LABELS]
    )
    assert f"window from {LOST_DAY:%Y-%m-%d}" in messages[WarningCode.LOW_LABEL_COVERAGE]
    assert "0.0% against" in messages[WarningCode.LOW_LABEL_COVERAGE]
    assert "(the latest at 2026-03-1" in messages[WarningCode.STALLED_LABELS]
    stored = read_table(spark, cfg, "runs")
    row = stored[stored["run_id"] == result.run_id].iloc[0]
    assert [(w["code"], w["message"]) for w in row["warnings"]] == list(result.warnings)


def test_the_label_delay_in_runs_equals_pandas_and_the_late_warning_names_a_max_delay_keeping_99_percent(
    troubled,
):
    preds, labels, result = troubled["preds"], troubled["labels"], troubled["result"]
    # the oracle: valid label events matched to their id's kept prediction, not before it
    kept = preds[preds["prediction_ts"] <= AS_OF]
    kept = kept[
        kept["model_version"].notna()
        & kept["score"].notna()
        & np.isfinite(kept["score"].astype(float))
        & kept["score"].between(0, 1)
    ]
    kept = kept.sort_values(["prediction_ts", "model_version", "score"], kind="mergesort").drop_duplicates(
        "prediction_id"
    )
    events = labels[labels["prediction_id"].notna() & labels["is_fraud"].isin([0, 1]) & (labels["label_ts"] <= AS_OF)]
    matched = events.merge(kept[["prediction_id", "prediction_ts"]], on="prediction_id")
    delay = matched["label_ts"] - matched["prediction_ts"]
    delay = delay[delay >= timedelta(0)]
    minutes = np.floor(delay.dt.total_seconds() / 60)
    days = minutes / 1440
    expected = {q: float(days.quantile(v)) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
    expected |= {"max": float(days.max()), "share_beyond_max_delay": float((delay > MAX_DELAY).mean())}
    assert result.label_delay == pytest.approx(expected, rel=1e-12)
    assert result.late_labels_ignored == int((delay > MAX_DELAY).sum())
    # to the minute: within a minute of the unfloored delays
    assert abs(result.label_delay["p90"] - float((delay.dt.total_seconds() / 86400).quantile(0.9))) < 1 / 1440
    late = dict(result.warnings)[WarningCode.LATE_LABELS_IGNORED]
    assert f"max_delay: {int(np.ceil(expected['p99']))} days would keep 99%" in late
    assert f"{int((delay > MAX_DELAY).sum()):,} of {len(delay):,} label events" in late


def test_strict_fails_the_run_with_exit_4_and_its_warnings_before_any_alert(troubled, spark):
    assert troubled["strict_exit"] == 4
    runs = troubled["strict_runs"]
    assert list(runs["status"]) == [RunStatus.FAILED]
    assert [w["code"] for w in runs.iloc[0]["warnings"]] == _codes(troubled["result"])
    assert "stopped by strict mode" in runs.iloc[0]["message"]
    cfg = parse_config(yaml.safe_load(troubled["config"].read_text()) | {"strict": True})
    # a re-run with nothing new reads no label event: the late share is not measured again
    with pytest.raises(StrictError, match=r"^strict: run \S+ FAILED: 3 warnings under strict mode \(STALLED_LABELS"):
        run_monitor(cfg, AS_OF, spark=spark)


def test_validate_check_tables_prints_the_label_delay_before_the_first_run(troubled, spark):
    lines = check_tables(troubled["cfg"], AS_OF, spark)
    delay = troubled["result"].label_delay
    assert f"p50 {delay['p50']:.1f}, p90 {delay['p90']:.1f}, p99 {delay['p99']:.1f}" in lines[0]
    assert lines[1].startswith("warning: LATE_LABELS_IGNORED: ")


def test_an_incremental_run_counts_its_new_orphans_and_only_newly_quarantined_rows(spark, troubled, caplog):
    """Day 0 holds the lake's bad prediction rows: a new prediction there makes the next run
    re-read them; they are in quarantine already, so the run adds none. A label for no
    prediction arrives: one orphan."""
    cfg, root = troubled["cfg"], troubled["root"]
    extra = pd.DataFrame(
        {
            "prediction_id": ["late-row"],
            "prediction_ts": [T0 + timedelta(hours=3)],
            "model_version": ["v1"],
            "score": [0.4],
            "country": ["US"],
            "channel": ["web"],
            "amount": [1.0],
        }
    )
    write_delta(spark, extra, PREDICTIONS_DDL, root / "predictions", mode="append")
    ghost = pd.DataFrame({"prediction_id": ["ghost-2"], "is_fraud": [1], "label_ts": [AS_OF + timedelta(hours=5)]})
    write_delta(spark, ghost.astype({"is_fraud": "Int64"}), LABELS_DDL, root / "labels", mode="append")
    before = len(read_table(spark, cfg, "quarantine"))
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        result = run_monitor(cfg, AS_OF + DAY, spark=spark)
    assert result.mode == "incremental"
    assert result.orphan_labels == 1
    assert result.rows_quarantined == 0 and len(read_table(spark, cfg, "quarantine")) == before
    assert result.rows_read_predictions > 1  # day 0 was re-read, with its bad rows
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[fraud] ")]
    assert [line.split(":")[0] for line in lines] == [f"[fraud] {c}" for c in _codes(result)]


@pytest.fixture(scope="module")
def empty_before(spark, tmp_path_factory):
    """Predictions with a DATE timestamp, and an empty labels table."""
    root = tmp_path_factory.mktemp("dated")
    preds, _ = make_inputs(n=300, days=6, seed=8)
    preds = preds.assign(prediction_ts=preds["prediction_ts"].dt.floor("D").dt.date)
    p = write_delta(spark, preds, PREDICTIONS_DDL.replace("prediction_ts timestamp", "prediction_ts date"), root / "p")
    lab = write_delta(spark, pd.DataFrame(columns=["prediction_id", "is_fraud", "label_ts"]), LABELS_DDL, root / "l")
    return preds, p, lab, root


def test_a_date_timestamp_is_an_input_error_naming_the_fix(spark, empty_before, tmp_path):
    _, p, lab, _ = empty_before
    cfg = parse_config(config_dict(p, lab, str(tmp_path / "out")))
    message = (
        r"input error: predictions table '.*/p': column 'prediction_ts' \(predictions.timestamp\) has type date; "
        r"allowed: timestamp; for a DATE or a string date, set predictions.timestamp_is_date: true"
    )
    with pytest.raises(InputError, match=message):
        run_monitor(cfg, T0 + 3 * DAY, spark=spark)
    assert not (tmp_path / "out").exists()


def test_dates_are_seen_once_their_day_is_over_and_an_empty_labels_table_warns(spark, empty_before, tmp_path):
    preds, p, lab, _ = empty_before
    data = config_dict(p, lab, str(tmp_path / "out"))
    data["predictions"]["timestamp_is_date"] = True
    cfg = parse_config(data)
    before = run_monitor(cfg, T0 - DAY, spark=spark)  # before any prediction
    assert _codes(before) == [WarningCode.NO_LABELS, WarningCode.NO_PREDICTIONS]
    as_of = T0 + 3 * DAY  # midnight: day 3 is not over
    result = run_monitor(cfg, as_of, spark=spark)
    assert result.rows_read_predictions == int((pd.to_datetime(preds["prediction_ts"]) < as_of).sum())
    assert _codes(result) == [WarningCode.NO_LABELS]
    metrics = read_table(spark, cfg, "perf_metrics")
    days = metrics[(metrics["window"] == "1 day") & (metrics["slice_key"] == "*") & (metrics["model_version"] == "*")]
    assert days["window_start"].max() == T0 + 2 * DAY
