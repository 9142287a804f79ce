"""The alerting stage end to end on real Delta tables: a version whose accuracy collapses in one
country raises a CRITICAL alert once its windows mature, is delivered to a loopback webhook,
gets a rollback target and a RETRAIN decision that ``perfmon decide`` reports with exit 10; a
re-run changes nothing; the next run is in cooldown."""

from __future__ import annotations

import json
from datetime import timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, false_discovery_control
from sklearn.metrics import accuracy_score

from perfmon_spark import cli
from perfmon_spark.config import parse_config
from perfmon_spark.decide import latest_decisions
from perfmon_spark.job import run_monitor
from tests.helpers import (
    ALERTING_DAYS,
    ALERTING_T0,
    LABELS_DDL,
    PREDICTIONS_DDL,
    Server,
    alerting_config_dict,
    alerting_inputs,
    load_table,
    read_table,
    run_killed_at,
    table_versions,
    with_tuples,
    write_delta,
)

T0, DAYS, DAY = ALERTING_T0, ALERTING_DAYS, timedelta(days=1)


@pytest.fixture
def lake(spark, tmp_path):
    preds, labels = alerting_inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    data = alerting_config_dict(p, lab, str(tmp_path / "monitoring"))
    return preds, labels, parse_config(data), data, tmp_path


def test_alert_lifecycle_decisions_and_status(spark, lake, monkeypatch, tmp_path):
    preds, labels, cfg, data, root = lake
    hook = Server()
    monkeypatch.setenv("PERFMON_TEST_HOOK", hook.url)
    try:
        # Day 16: the drop's first windows are not mature yet (max_delay 2 days): nothing serious.
        run_monitor(cfg, T0 + 16 * DAY, spark=spark)
        alerts = read_table(spark, cfg, "perf_alerts")
        assert not (alerts["level"].isin(["SUSTAINED", "CRITICAL"])).any()

        # A run killed after its events and deliveries, before perf_alerts: the re-run repairs it
        # without a second event or delivery.
        as_of = T0 + DAYS * DAY
        run_killed_at(monkeypatch, "perf_alerts", lambda: run_monitor(cfg, as_of, spark=spark))
        sent = len(hook.bodies)
        assert sent > 0
        run_monitor(cfg, as_of, spark=spark)
        assert len(hook.bodies) == sent
        events = read_table(spark, cfg, "alert_events")
        assert not events.event_id.duplicated().any()
        assert (
            not events[["rule", "model_version", "slice_key", "slice_value", "window", "opened_window_start", "event"]]
            .duplicated()
            .any()
        )
        alerts = read_table(spark, cfg, "perf_alerts")
        serious = alerts[alerts["level"].isin(["SUSTAINED", "CRITICAL"])]
        # serious alerts only where the drop is: v2 in BR, and the aggregates that contain it
        assert set(zip(serious["model_version"], serious["slice_value"])) <= {
            ("v2", "BR"),
            ("v2", "*"),
            ("*", "BR"),
            ("*", "*"),
        }
        (crit,) = alerts[alerts["level"] == "CRITICAL"].itertuples()
        assert (crit.model_version, crit.slice_value) == ("v2", "BR")
        assert (crit.level, crit.status, crit.action, crit.window) == (
            "CRITICAL",
            "OPEN",
            "BLOCK_OR_ROLLBACK",
            "3 days",
        )

        # the baseline is v2's accuracy in BR over its first 7 days (scikit-learn on the raw rows)
        p = preds.merge(labels, on="prediction_id")
        first = p[(p.model_version == "v2") & (p.country == "BR") & (p.prediction_ts < T0 + 7 * DAY)]
        assert crit.baseline == pytest.approx(
            accuracy_score(first.is_fraud, (first.score >= 0.5).astype(int)), abs=1e-12
        )
        # value and interval are those of perf_metrics at the episode's last window
        metrics = read_table(spark, cfg, "perf_metrics")
        row = metrics[
            (metrics.metric == "accuracy")
            & (metrics.window == "3 days")
            & (metrics.model_version == "v2")
            & (metrics.slice_value == "BR")
            & (metrics.window_start == crit.last_window_start)
        ].iloc[0]
        assert (crit.value, crit.ci_upper) == (row.value, row.ci_upper)
        assert crit.ci_upper < crit.threshold == pytest.approx(0.7 * crit.baseline)
        assert json.loads(crit.evidence)["windows"][-1]["value"] == row.value

        # rule_windows holds what the rule saw and decided at each window: the episode's last
        # window as perf_metrics and perf_alerts have it, and the run's q over every series
        # tested (scipy's Benjamini-Hochberg over each series' newest p)
        rule_windows = read_table(spark, cfg, "rule_windows")
        series = ["rule", "model_version", "slice_key", "slice_value", "window"]
        (last,) = rule_windows[
            (rule_windows.model_version == "v2")
            & (rule_windows.slice_value == "BR")
            & (rule_windows.window_start == crit.last_window_start)
        ].itertuples()
        assert (last.value, last.std_error, last.baseline) == (row.value, row.std_error, crit.baseline)
        assert (last.critical_threshold, last.level) == (pytest.approx(crit.threshold, rel=1e-12), "CRITICAL")
        assert last.minor_threshold == pytest.approx(0.95 * crit.baseline, rel=1e-12)
        assert last.p_value == json.loads(crit.evidence)["windows"][-1]["p_value"]
        newest = rule_windows[rule_windows.window_start == rule_windows.groupby(series).window_start.transform("max")]
        tested = newest[newest.series_p_value.notna()]
        assert tested.q_value.to_numpy() == pytest.approx(false_discovery_control(tested.series_p_value, method="bh"))
        assert len(tested) == len(rule_windows.groupby(series)) > 1

        # the KPI: per day and version, missed fraud amount over labeled amount (pandas oracle)
        kpi = metrics[(metrics.metric == "fraud_loss_rate") & (metrics.window == "1 day") & (metrics.slice_key == "*")]
        p["missed"] = np.where((p.is_fraud == 1) & (p.score < 0.5), p.amount, 0.0)
        p["day"] = p.prediction_ts.dt.floor("D")
        for (version, day), g in p[p.label_ts <= as_of].groupby(["model_version", "day"]):
            (got,) = kpi[(kpi.model_version == version) & (kpi.window_start == day)].itertuples()
            assert got.value == pytest.approx(g.missed.sum() / g.amount.sum(), rel=1e-9)
            if got.value > 0:
                assert got.ci_lower < got.value < got.ci_upper
            else:  # nothing missed that day: no spread, no interval
                assert np.isnan(got.ci_lower) and np.isnan(got.ci_upper)

        events = read_table(spark, cfg, "alert_events")
        raised = events[
            (events.model_version == "v2") & (events.slice_value == "BR") & events.level.isin(["SUSTAINED", "CRITICAL"])
        ]
        assert "RAISED" in set(raised.event) and set(raised.delivery) == {"DELIVERED"}
        assert {b["event_id"] for b in hook.bodies} == set(events[events.delivery == "DELIVERED"].event_id)
        assert (events[events.level == "MINOR"].delivery == "NONE").all()

        status = read_table(spark, cfg, "model_status").set_index("model_version")
        assert status.loc["v2", "status"] == "CRITICAL" and status.loc["v2", "rollback_target"] == "v1"
        assert status.loc["v1", ["status", "action"]].tolist() == ["HEALTHY", "NONE"]
        comparison = json.loads(status.loc["v2", "comparison"])
        assert comparison["candidates"][0]["model_version"] == "v1" and comparison["candidates"][0]["significant"]

        decisions = read_table(spark, cfg, "retrain_decisions")
        assert set(decisions[decisions.as_of < as_of].decision) == {"NO_ACTION"}
        decisions = decisions[decisions.as_of == as_of].set_index("model_version")
        assert decisions.loc["v2", "decision"] == "RETRAIN" and decisions.loc["v1", "decision"] == "NO_ACTION"
        assert decisions.loc["v2", "new_labels_since_last"] == ((p.model_version == "v2") & (p.label_ts <= as_of)).sum()

        config_file = root / "alerting.yml"
        config_file.write_text(json.dumps(data))
        assert cli.main(["decide", "--config", str(config_file)]) == 10
        assert cli.main(["decide", "--config", str(config_file), "--model-version", "v1"]) == 0

        # serving_gate: v2 blocked by the rule, with its target; v1 open
        gate = read_table(spark, cfg, "serving_gate").set_index("model_version")
        assert gate["allowed"].to_dict() == {"v1": True, "v2": False}
        assert gate.loc["v2", "reason"] == (
            "CRITICAL: BLOCK_OR_ROLLBACK: rule accuracy_drop (accuracy, 3 days, country, BR); roll back to v1"
        )
        assert (gate["as_of"] == as_of).all()
        rollback_through_a_registry(spark, cfg, data, p, root, as_of)

        # Re-run with the same as_of: same rows, no new event, no second delivery.
        before = {
            name: with_tuples(read_table(spark, cfg, name))
            for name in (
                "rule_windows",
                "perf_alerts",
                "alert_events",
                "retrain_decisions",
                "model_status",
                "serving_gate",
            )
        }
        deliveries = len(hook.bodies)
        run_monitor(cfg, as_of, spark=spark)
        for name, old in before.items():
            new = with_tuples(read_table(spark, cfg, name))
            # Rows sorted on the plain columns, then every column compared exactly: the arrays
            # (reasons, delivered_to) as tuples, the JSON columns (evidence, comparison, details:
            # written with sorted keys) as the stored text, floats to the bit, run_id included.
            key = [c for c in new.columns if c not in ("evidence", "comparison", "details", "delivered_to", "reasons")]
            pd.testing.assert_frame_equal(
                old.sort_values(key).reset_index(drop=True),
                new.sort_values(key).reset_index(drop=True),
                check_exact=True,
                obj=name,
            )
        assert len(hook.bodies) == deliveries

        # A day later the drop is still there: the RETRAIN is not repeated within the cooldown.
        run_monitor(cfg, as_of + DAY, spark=spark)
        decisions = read_table(spark, cfg, "retrain_decisions")
        latest = decisions[decisions.as_of == decisions.as_of.max()].set_index("model_version")
        assert latest.loc["v2", "decision"] == "COOLDOWN"
        assert any(r.startswith("cooldown:") for r in latest.loc["v2", "reasons"])

        # Traffic pauses: no prediction within the longest window (3 days) before as_of. Both
        # versions stay in model_status, INACTIVE, with the day of their last prediction, and get
        # no retrain decision.
        paused = T0 + (DAYS + 4) * DAY
        run_monitor(cfg, paused, spark=spark)
        status = read_table(spark, cfg, "model_status").set_index("model_version").sort_index()
        assert status["status"].tolist() == ["INACTIVE", "INACTIVE"]
        assert status["action"].tolist() == ["NONE", "NONE"] and status["rollback_target"].isna().all()
        last_day = preds.groupby("model_version")["prediction_ts"].max().dt.date
        assert status["last_prediction_date"].tolist() == last_day.sort_index().tolist()
        decisions = read_table(spark, cfg, "retrain_decisions")
        assert not (decisions.as_of == paused).any()
        assert latest_decisions(spark, cfg) == []  # no stale decision of theirs shows as current
    finally:
        hook.close()


def rollback_through_a_registry(spark, cfg, data, joined, root, as_of):
    """``perfmon rollback`` on the lifecycle's tables with a real MLflow registry (a SQLite store):
    champion v2 is CRITICAL and v1, its rollback target, is better on the same traffic. A dry run
    says it would roll back and changes nothing; ``--apply`` moves the alias and records it; the
    new champion is healthy (nothing to do); v2 put back within the cooldown is refused, recorded.
    The evidence's difference is v1 minus v2 on v2's mix of countries (pandas on the raw rows)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'registry.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("fraud")
    for i in (1, 2):
        client.create_model_version("fraud", source=str(root / f"model{i}"))
    client.set_registered_model_alias("fraud", "champion", "2")
    registry = {"model": "fraud", "uri": uri, "version_format": "v{version}"}
    config_file = root / "rollback.yml"
    config_file.write_text(json.dumps(data | {"versions": {"registry": registry}}))

    def champion():
        return str(client.get_model_version_by_alias("fraud", "champion").version)

    def rollbacks():
        return read_table(spark, cfg, "rollbacks").sort_values("at").reset_index(drop=True)

    before = table_versions(spark, cfg)
    assert cli.main(["rollback", "--config", str(config_file)]) == 10
    assert champion() == "2" and table_versions(spark, cfg) == before  # a dry run writes nothing

    assert cli.main(["rollback", "--config", str(config_file), "--apply"]) == 10
    assert champion() == "1"
    (done,) = rollbacks().itertuples()
    assert (done.from_version, done.to_version, done.alias, done.applied, done.refused_by) == (
        "v2",
        "v1",
        "champion",
        True,
        None,
    )
    status = read_table(spark, cfg, "model_status").set_index("model_version")
    assert done.run_id == status.loc["v2", "run_id"]
    evidence = json.loads(done.evidence)["comparison"]["accuracy"]
    assert (evidence["verdict"], evidence["window"]) == ("BETTER", "3 days")
    start = pd.Timestamp(evidence["window_start"], unit="s")
    window = joined[(joined.prediction_ts >= start) & (joined.prediction_ts < start + 3 * DAY)]
    mix = window[window.model_version == "v2"].country.value_counts(normalize=True)  # every prediction
    labeled = window[window.label_ts <= as_of]
    correct = (labeled.score >= 0.5).astype(int) == labeled.is_fraud
    accuracy = correct.groupby([labeled.model_version, labeled.country]).mean()
    expected = sum(mix[c] * (accuracy["v1", c] - accuracy["v2", c]) for c in mix.index)
    assert evidence["difference"] == pytest.approx(expected, rel=1e-9)
    assert evidence["n_labeled_champion"] == (labeled.model_version == "v2").sum()

    assert cli.main(["rollback", "--config", str(config_file), "--apply"]) == 0  # v1 serves, healthy
    client.set_registered_model_alias("fraud", "champion", "2")  # v2 deployed again
    assert cli.main(["rollback", "--config", str(config_file), "--apply"]) == 11
    assert champion() == "2"
    refused = rollbacks().iloc[-1]
    assert (refused.applied, refused.refused_by, len(rollbacks())) == (False, "cooldown", 2)


def test_table_and_rolling_baselines(spark, lake):
    """``with_baseline`` on the tables of one run: rolling baselines against scikit-learn on the
    raw rows of the reference period, table baselines by their most specific row."""
    from pyspark.sql import functions as F

    from perfmon_spark.alerts.baseline import with_baseline
    from perfmon_spark.config import BaselineConfig, Duration, RollingBaseline, TableRef

    preds, labels, cfg, _, root = lake
    cfg = cfg.model_copy(update={"alerts": cfg.alerts, "notifications": ()})
    as_of = T0 + DAYS * DAY
    run_monitor(cfg, as_of, spark=spark)
    metrics = load_table(spark, cfg, "perf_metrics").filter(
        (F.col("metric") == "accuracy") & (F.col("window") == "3 days")
    )
    stats = load_table(spark, cfg, "perf_stats")

    rolling = cfg.model_copy(
        update={
            "baseline": BaselineConfig(
                source="rolling",
                rolling=RollingBaseline(length=Duration(5 * 86400, 5, "day"), lag=Duration(2 * 86400, 2, "day")),
            )
        }
    )
    got = with_baseline(metrics, stats, rolling, as_of).toPandas()
    p = preds.merge(labels, on="prediction_id")
    p = p[p.label_ts <= as_of]
    full = partial = empty = 0
    for row in got[(got.model_version == "v1") & (got.slice_value.isin(["*", "US"]))].itertuples():
        end = row.window_end - pd.Timedelta(days=2)
        ref = p[(p.model_version == "v1") & (p.prediction_ts >= end - pd.Timedelta(days=5)) & (p.prediction_ts < end)]
        if row.slice_value == "US":
            ref = ref[ref.country == "US"]
        what = (row.slice_value, row.window_end)
        # the extra variance is measured on the baseline's own period, which the baseline averages
        assert (row.reference_start, row.reference_end) == (end - pd.Timedelta(days=5), end), what
        assert row.baseline_from_reference, what
        if ref.empty:  # the reference period ends by the first prediction: no baseline
            assert pd.isna(row.baseline), what
            empty += 1
            continue
        # a reference period that starts before the first prediction is the part of it with data
        expected = accuracy_score(ref.is_fraud, (ref.score >= 0.5).astype(int))
        assert row.baseline == pytest.approx(expected, abs=1e-12), what
        # with the reference window's own standard error: Wilson's, half its interval over z
        correct = int((ref.is_fraud == (ref.score >= 0.5)).sum())
        wilson = binomtest(correct, len(ref)).proportion_ci(cfg.confidence_level, method="wilson")
        z = NormalDist().inv_cdf(0.5 + cfg.confidence_level / 2)
        assert row.baseline_std_error == pytest.approx((wilson.high - wilson.low) / (2 * z), rel=1e-9), what
        if end - pd.Timedelta(days=5) < pd.Timestamp(T0):
            partial += 1
        else:
            full += 1
    # per series (v1 overall, v1 in US; windows ending T0 + 1..24 days): reference periods ending
    # at T0 - 1 day and T0 are empty, those ending at T0 + 1..4 days partial, the other 18 full
    assert (empty, partial, full) == (4, 8, 36)

    reference = pd.DataFrame(
        [
            ("*", "*", "*", "accuracy", 0.5),
            ("v1", "*", "*", "accuracy", 0.6),
            ("*", "country", "BR", "accuracy", 0.7),
            ("v2", "country", "BR", "accuracy", 0.8),
            ("v2", "country", "BR", "roc_auc", 0.99),
        ],
        columns=["model_version", "slice_key", "slice_value", "metric", "value"],
    )
    path = str(root / "reference")
    spark.createDataFrame(reference).write.format("delta").save(path)
    table = cfg.model_copy(update={"baseline": BaselineConfig(source="table", table=TableRef(path))})
    got = (
        with_baseline(metrics, stats, table, as_of)
        .select("model_version", "slice_key", "slice_value", "baseline")
        .distinct()
        .toPandas()
    )
    expect = {
        ("v2", "BR"): 0.8,
        ("v1", "BR"): 0.6,
        ("*", "BR"): 0.7,
        ("v1", "US"): 0.6,
        ("v2", "US"): 0.5,
        ("v2", "*"): 0.5,
        ("*", "*"): 0.5,
    }
    found = {(r.model_version, r.slice_value): r.baseline for r in got.itertuples()}
    assert {k: found[k] for k in expect} == expect
    assert len(got) == len(found)  # one baseline per series, no duplicates from the fallbacks
    # a fixed figure's series measure their extra variance on the version's first baseline.window
    periods = (
        with_baseline(metrics, stats, table, as_of)
        .select("model_version", "reference_start", "reference_end", "baseline_from_reference")
        .distinct()
        .toPandas()
        .set_index("model_version")
    )
    first = preds.groupby("model_version")["prediction_ts"].min().dt.floor("D")
    for version in ("v1", "v2"):
        assert periods.loc[version, "reference_start"] == first[version]
        assert periods.loc[version, "reference_end"] == first[version] + pd.Timedelta(days=14)
    assert len(periods) == 3 and not periods["baseline_from_reference"].any()  # v1, v2 and *

    # a table that gives each figure's interval: the rules count it (null columns without), and
    # without a std_error column the baseline's standard error is null (the rules then read the
    # interval's half-width / z)
    with_ci = reference.assign(ci_lower=reference["value"] - 0.05, ci_upper=reference["value"] + 0.02)
    spark.createDataFrame(with_ci).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    error = ("baseline", "baseline_ci_lower", "baseline_ci_upper", "baseline_std_error")
    got = with_baseline(metrics, stats, table, as_of).select(*error)
    got = got.filter("baseline IS NOT NULL").distinct().toPandas()
    assert sorted(got["baseline"]) == [0.5, 0.6, 0.7, 0.8]  # the accuracy rows used
    assert np.allclose(got["baseline_ci_lower"], got["baseline"] - 0.05)
    assert np.allclose(got["baseline_ci_upper"], got["baseline"] + 0.02)
    assert got["baseline_std_error"].isna().all()
    # and with one: the figure's own standard error
    with_se = with_ci.assign(std_error=reference["value"] / 100)
    spark.createDataFrame(with_se).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    got = with_baseline(metrics, stats, table, as_of).select(*error)
    got = got.filter("baseline IS NOT NULL").distinct().toPandas()
    assert np.allclose(got["baseline_std_error"], got["baseline"] / 100)
