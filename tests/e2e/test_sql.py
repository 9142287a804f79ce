"""Every query of ``perfmon_spark/sql`` (as ``perfmon sql`` prints it) runs through Spark SQL on the
demo's output tables and returns the rows that pandas finds in the same tables."""

from __future__ import annotations

import pandas as pd
import pytest

from perfmon_spark.config import load_config
from perfmon_spark.query import query_values, register_views, sql_queries, view_name
from perfmon_spark.vocabulary import OVERALL, AlertStatus, DriftClass, Level
from tests.helpers import read_table

pytestmark = pytest.mark.e2e


def mine(rows, monitor: str):
    return rows[rows["monitor"] == monitor]


@pytest.fixture(scope="module")
def answers(spark, demo):
    folder, _ = demo
    cfg = load_config(folder / "perfmon.yml")
    queries = sql_queries(cfg)
    got = {q.name: spark.sql(q.text).toPandas() for q in queries}
    tables = {
        name: mine(read_table(spark, folder / "monitoring" / name), cfg.name)
        for name in ("perf_metrics", "perf_alerts", "alert_events", "model_status", "retrain_decisions", "runs")
        + ("drift_performance", "version_comparison")
    }
    return cfg, got, tables, queries


def test_every_query_runs_and_views_are_created(spark, answers):
    cfg, got, _, queries = answers
    assert sorted(got) == [
        "alert_history",
        "drift_and_decay",
        "label_coverage_by_age",
        "latest_metrics",
        "latest_status",
        "metric_history",
        "open_alerts",
        "recent_runs",
        "slice_leaderboard",
        "thresholds",
        "version_comparison",
    ]
    for q in queries:
        spark.sql(q.statement(view_name(cfg, q)).removeprefix(f"-- {q.name}: {q.title}\n").removesuffix(";"))
        assert spark.table(f"v_{q.name}").count() == len(got[q.name]), q.name
    # every output table of the demo's config as a view under its own name (``perfmon sql``)
    assert set(register_views(spark, cfg)) == {
        *("perf_metrics", "perf_stats", "quarantine", "runs", "claims"),
        *("rule_windows", "perf_alerts", "alert_events", "retrain_decisions", "model_status", "serving_gate"),
        *("drift_reference", "drift_stats", "drift_metrics", "drift_performance", "drift_correlation"),
        "version_comparison",  # rollbacks: none yet (the demo's rollback is a dry run)
    }


def test_status_alerts_and_decisions(answers):
    _, got, t, _ = answers
    status = got["latest_status"]
    expected = t["model_status"].sort_values("model_version")
    assert status["model_version"].tolist() == expected["model_version"].tolist()
    assert status["status"].tolist() == expected["status"].tolist()
    # the decision of the run that set the status (none for an INACTIVE version)
    decisions = t["retrain_decisions"].set_index(["model_version", "as_of"])["decision"]
    assert dict(zip(status["model_version"], status["decision"])) == {
        v: decisions.get((v, a)) for v, a in zip(expected["model_version"], expected["as_of"])
    }
    open_ = t["perf_alerts"][t["perf_alerts"]["status"] == AlertStatus.OPEN].copy()
    open_["rank"] = open_["level"].map(lambda v: -Level(v).rank)
    open_ = open_.sort_values(["rank", "opened_window_start", "model_version", "slice_key", "slice_value", "rule"])
    columns = ["level", "rule", "model_version", "slice_key", "slice_value"]
    assert len(open_) > 0
    assert got["open_alerts"][columns].values.tolist() == open_[columns].values.tolist()
    assert len(got["alert_history"]) == min(50, len(t["alert_events"]))
    assert len(got["recent_runs"]) == min(10, len(t["runs"]))


def test_leaderboard_history_and_coverage(answers):
    cfg, got, t, _ = answers
    v = query_values(cfg)
    m = t["perf_metrics"]
    watched = m[(m["metric"] == v["metric"]) & (m["window"] == v["window"]) & m["value"].notna()]
    latest = watched[watched["window_start"] == watched.groupby("model_version")["window_start"].transform("max")]
    overall = latest[latest["slice_key"] == OVERALL].set_index("model_version")["value"]
    slices = latest[(latest["slice_key"] != OVERALL) & (latest["n_labeled"] >= int(v["min_labeled"]))].copy()
    slices["gap"] = slices["value"] - slices["model_version"].map(overall)
    slices = slices.dropna(subset=["gap"])
    slices = slices.sort_values(
        ["gap", "model_version", "slice_key", "slice_value"], ascending=v["worse_first"] == "ASC"
    )
    board = got["slice_leaderboard"]
    assert 0 < len(board) == min(20, len(slices))
    assert board["gap"].tolist() == pytest.approx(sorted(slices["gap"])[: len(board)], abs=1e-12)

    history = got["metric_history"]
    series = m[(m["metric"] == v["metric"]) & (m["slice_key"] == OVERALL)]
    assert len(history) == len(series)
    alerts = t["perf_alerts"]
    mine = alerts[(alerts["metric"] == v["metric"]) & (alerts["slice_key"] == OVERALL)]
    for r in history.itertuples():
        covering = mine[
            (mine["model_version"] == r.model_version)
            & (mine["window"] == r.window)
            & (mine["opened_window_start"] <= r.window_start)
            & (mine["last_window_start"] >= r.window_start)
        ]
        worst = max(covering["level"], key=lambda lv: Level(lv).rank) if len(covering) else None
        assert (r.alert_level if isinstance(r.alert_level, str) else None) == worst
    assert history["alert_level"].notna().any()

    daily = m[
        (m["metric"] == v["metric"])
        & (m["window"] == v["granularity"])
        & (m["slice_key"] == OVERALL)
        & (m["model_version"] != "*")
        & (m["n_predictions"] > 0)
    ].copy()
    daily["age_days"] = (daily["as_of"] - daily["window_end"]).dt.days
    by_age = daily.groupby("age_days").agg(labeled=("n_labeled", "sum"), predictions=("n_predictions", "sum"))
    coverage = got["label_coverage_by_age"].set_index("age_days")
    assert coverage.index.tolist() == by_age.index.tolist()
    assert coverage["label_coverage"].tolist() == pytest.approx((by_age["labeled"] / by_age["predictions"]).tolist())
    assert coverage["label_coverage"].iloc[-1] > coverage["label_coverage"].iloc[0]  # old windows have their labels


def test_latest_metrics_and_drift(answers):
    cfg, got, t, _ = answers
    v = query_values(cfg)
    m = t["perf_metrics"]
    rows = m[(m["window"] == v["window"]) & (m["slice_key"] == OVERALL)]
    last = rows[rows["window_end"] == rows.groupby("model_version")["window_end"].transform("max")]
    assert len(got["latest_metrics"]) == len(last) > 0
    drift = t["drift_performance"]
    drift = drift[drift["class"] != DriftClass.UNKNOWN]
    key = ["model_version", "slice_key", "slice_value", "metric", "window"]
    latest = drift[drift["window_start"] == drift.groupby(key)["window_start"].transform("max")]
    assert sorted(map(tuple, got["drift_and_decay"][key].values.tolist())) == sorted(
        map(tuple, latest[key].values.tolist())
    )
    assert ("v3", DriftClass.DRIFT_AND_DECAY) in set(
        zip(got["drift_and_decay"]["model_version"], got["drift_and_decay"]["class"])
    )


def test_version_comparison_is_each_series_latest_window(answers):
    _, got, t, _ = answers
    compared = t["version_comparison"]
    series = ["challenger", "metric", "window"]
    latest = compared[compared["window_start"] == compared.groupby(series)["window_start"].transform("max")]
    columns = [*series, "window_start", "difference", "verdict"]
    expected = latest.sort_values(series)[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got["version_comparison"][columns].reset_index(drop=True), expected, check_dtype=False
    )
