"""What a new user's own tables bring: labels spelled yes/no, tables without the change data feed."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConfigError, InputError
from perfmon_spark.job import check_tables, run_monitor
from perfmon_spark.job.scope import LABEL_DELTA_SETTING
from tests.helpers import PREDICTIONS_DDL, T0, config_dict, make_inputs, read_table, write_delta
from tests.oracle import binary_metric, resolve

AS_OF = T0 + timedelta(days=5)
SPELLED_DDL = "prediction_id string, is_fraud string, label_ts timestamp"
SPELLING = {0: "no", 1: "Yes ", 7: "7"}  # 7 and null are neither class


@pytest.fixture(scope="module")
def spelled(spark, tmp_path_factory):
    """Predictions (change data feed on) and yes/no labels (feed off), as a user's tables are."""
    root = tmp_path_factory.mktemp("spelled")
    preds, labels = make_inputs(n=400, days=4, seed=3)
    p = write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    text = labels.assign(
        is_fraud=labels["is_fraud"].astype(object).map(lambda v: None if pd.isna(v) else SPELLING[int(v)])
    )
    write_delta(spark, text, SPELLED_DDL, root / "labels")
    spark.sql(f"ALTER TABLE delta.`{root / 'labels'}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    return root, preds, labels, p, str(root / "labels")


def test_labels_matching_neither_class_stop_the_run_naming_column_values_and_positive(spark, spelled, tmp_path):
    _, _, _, p, lab = spelled
    cfg = parse_config(config_dict(p, lab, str(tmp_path / "out")))  # labels.positive: 1 over yes/no
    message = (
        r"labels table '.*/labels': column 'is_fraud' \(labels.label\): \d+ of \d+ label rows are not a valid "
        r"label; values seen: '7', 'Yes ', 'no'; labels.positive is 1 and labels.negative \['0'\]"
    )
    with pytest.raises(InputError, match=message):
        check_tables(cfg, AS_OF, spark)
    with pytest.raises(InputError, match=message):
        run_monitor(cfg, AS_OF, spark=spark)
    assert not (tmp_path / "out").exists()


def test_spelled_labels_count_and_the_rest_go_to_quarantine(spark, spelled, tmp_path, caplog):
    _, preds, labels, p, lab = spelled
    data = config_dict(p, lab, str(tmp_path / "out"))
    data["labels"] |= {"positive": "yes", "negative": "no"}
    cfg = parse_config(data)
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        result = run_monitor(cfg, AS_OF, spark=spark)
    # only the labels table lacks the change data feed: one line naming it and the fix
    feed = [r.getMessage() for r in caplog.records if "change data feed" in r.getMessage()]
    assert len(feed) == 1 and f"'{lab}'" in feed[0] and f"'{p}'" not in feed[0]
    assert f"ALTER TABLE delta.`{lab}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)" in feed[0]
    checked = check_tables(cfg, AS_OF, spark)
    assert checked[0] == f"warning: {feed[0]}" and checked[1].startswith("label delay over ")

    quarantine = read_table(spark, cfg, "quarantine")
    bad = quarantine[(quarantine["source"] == "labels") & (quarantine["reason"] == "bad_label")]
    visible = labels[labels["label_ts"] <= AS_OF]
    expected_bad = visible["is_fraud"].isna().sum() + (visible["is_fraud"] == 7).sum()
    assert len(bad) == expected_bad == 2 and result.rows_quarantined >= expected_bad

    rows = resolve(preds, labels, AS_OF, timedelta(days=7), 0.5)  # the oracle reads 0/1 labels
    rows["score"] = rows["score"].astype(float)
    metrics = read_table(spark, cfg, "perf_metrics")
    day = metrics[(metrics["model_version"] == "*") & (metrics["slice_key"] == "*") & (metrics["window"] == "1 day")]
    assert len(day) > 0
    for r in day.itertuples():
        sel = rows[(rows["prediction_ts"] >= r.window_start) & (rows["prediction_ts"] < r.window_end)]
        assert r.n_labeled == sel["y"].notna().sum()
        expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        assert (r.value is None or np.isnan(r.value)) if expected is None else r.value == pytest.approx(expected)


def test_decide_before_any_decision_exits_3_with_one_line(spark, spelled, tmp_path, capsys):
    from perfmon_spark import cli

    _, _, _, p, lab = spelled
    config_file = tmp_path / "m.yml"
    config_file.write_text(yaml.safe_dump(config_dict(p, lab, "./out")))
    assert cli.main(["decide", "--config", str(config_file)]) == 3
    err = capsys.readouterr().err.strip()
    assert err == (
        f"input error: retrain_decisions table '{tmp_path / 'out' / 'retrain_decisions'}' does not exist: "
        "configure alerts: and run 'perfmon run' first"
    )


def test_a_label_delta_setting_that_is_not_a_count_stops_the_run_before_any_write(spark, spelled, tmp_path):
    _, _, _, p, lab = spelled
    cfg = parse_config(config_dict(p, lab, str(tmp_path / "out")))
    spark.conf.set(LABEL_DELTA_SETTING, "lots")
    try:
        with pytest.raises(
            ConfigError, match=f": {re.escape(LABEL_DELTA_SETTING)} must be a whole number of predictions, got 'lots'$"
        ):
            run_monitor(cfg, AS_OF, spark=spark)
    finally:
        spark.conf.set(LABEL_DELTA_SETTING, "0")
    assert not (tmp_path / "out").exists()


def test_the_summary_lists_a_critical_alert_before_five_sustained_ones(spark):
    """Levels sort by rank, not by name (SUSTAINED > CRITICAL alphabetically hid the CRITICAL)."""
    from datetime import datetime

    from perfmon_spark.io.catalog import PERF_ALERTS
    from perfmon_spark.summary import open_alert_lines

    def alert(version, level, status="OPEN"):
        row = dict.fromkeys(PERF_ALERTS.names)
        row.update(monitor="m", rule="r", model_version=version, slice_key="*", slice_value="*", window="7 days")
        row.update(opened_window_start=datetime(2026, 3, 1), metric="roc_auc", level=level, status=status)
        return tuple(row.values())

    rows = [alert(f"v{i}", "SUSTAINED") for i in range(5)] + [alert("v9", "CRITICAL"), alert("v0", "MINOR")]
    rows += [alert("v1", "MINOR"), alert("v8", "CRITICAL", status="RESOLVED")]
    lines = open_alert_lines(spark.createDataFrame(rows, PERF_ALERTS.ddl))
    assert lines[0] == "open alerts: 2 MINOR, 5 SUSTAINED, 1 CRITICAL"
    assert [line.split()[0] for line in lines[1:]] == ["CRITICAL"] + ["SUSTAINED"] * 4
    assert "v=v9" in lines[1]
