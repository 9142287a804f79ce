"""The real commands as users run them, each in its own process (``perfmon demo``, ``decide``,
``validate`` and the CLI's errors); the output tables are read back and checked against oracles.
``spark-submit jobs/run_monitor.py`` (on a copy of the demo's inputs, through its config's
relative paths) has its own module (``test_cluster.py``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from perfmon_spark.metrics.estimated import ESTIMATED_METRICS
from perfmon_spark.metrics.histogram import EXACT_LIMIT
from perfmon_spark.metrics.proxies import REFERENCE_METRICS
from tests.helpers import BIN, DEMO_AS_OF, ROOT, read_table, run
from tests.oracle import binary_metric, resolve
from tests.oracle_ranking import group_metrics, request_values, resolve_ranking

pytestmark = pytest.mark.e2e


def check_against_oracle(spark, folder: Path, metrics: pd.DataFrame, as_of: datetime) -> int:
    """Overall-slice rows of every version and window of the fraud monitor equal scikit-learn on the
    raw tables (the distribution distances have their own numpy/scipy test: tests/unit/test_proxies.py)."""
    rows = resolve(
        read_table(spark, folder / "predictions"), read_table(spark, folder / "labels"), as_of, timedelta(days=14), 0.15
    )
    rows["score"] = rows["score"].astype(float)
    overall = metrics[(metrics["slice_key"] == "*") & (metrics["monitor"] == "fraud_scoring")]
    overall = overall[~overall["metric"].isin(REFERENCE_METRICS + ESTIMATED_METRICS)]
    for r in overall.itertuples():
        sel = rows[(rows["prediction_ts"] >= r.window_start) & (rows["prediction_ts"] < r.window_end)]
        if r.model_version != "*":
            sel = sel[sel["model_version"] == r.model_version]
        if r.metric == "fraud_loss_rate":  # the demo's KPI: missed fraud amount / labeled amount
            lab = sel[sel["y"].notna()]
            missed = lab["amount"].where((lab["y"] == 1) & (lab["d"] == 0), 0.0).sum()
            expected = missed / lab["amount"].sum() if len(lab) else None
        else:
            expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        what = f"{r.metric} {r.model_version} {r.window} {r.window_start}"
        # a window of more than EXACT_LIMIT predictions merges its AUC summary on the grid (README: error < 1e-3)
        binned = r.metric in ("roc_auc", "pr_auc") and r.n_predictions > EXACT_LIMIT
        tolerance = 1e-3 if binned else 1e-9
        assert pd.isna(r.value) if expected is None else r.value == pytest.approx(expected, abs=tolerance), what
        assert r.n_labeled == sel["y"].notna().sum(), what
    return len(overall)


def test_demo_prints_its_summary_and_leaves_delta_tables(spark, demo):
    folder, stdout = demo
    for text in (
        "read: 12000 predictions",
        "drift vs performance",
        "quarantined:",
        "metric rows",
        "latest 7 days window per model version (overall slice), value [CI]:",
        "roc_auc",
        "open alerts:",
        "model status (and retrain decision):",
        # v3, the champion, is CRITICAL; v2 serves beside it and is better on v3's mix of countries
        "perfmon rollback (dry run): would roll back the champion: v3 -> v2 (the champion v3 is CRITICAL",
    ):
        assert text in stdout
    for name in (
        "perf_metrics",
        "perf_stats",
        "quarantine",
        "runs",
        "claims",
        "perf_alerts",
        "alert_events",
        "retrain_decisions",
        "model_status",
        "drift_reference",
        "drift_stats",
        "drift_metrics",
        "drift_performance",
        "drift_correlation",
        "version_comparison",
        "serving_gate",
    ):
        assert (folder / "monitoring" / name / "_delta_log").is_dir()
    assert not (folder / "monitoring" / "rollbacks").exists()  # the dry run writes nothing
    metrics = read_table(spark, folder / "monitoring" / "perf_metrics")
    assert set(metrics.query("monitor == 'fraud_scoring'")["model_version"]) == {"v1", "v2", "v3", "*"}
    assert check_against_oracle(spark, folder, metrics, DEMO_AS_OF) > 500


def test_the_demo_drift_comes_out_as_injected(spark, demo):
    """v3: drift (device_risk) and decay, the top-ranked feature, the only drift_and_decay
    retrain; v1: drift (amount) without decay. The correlation equals scipy's Spearman over the
    same windows of perf_metrics and drift_metrics."""
    folder, stdout = demo
    monitoring = folder / "monitoring"
    perf = read_table(spark, monitoring / "drift_performance").query("slice_key == '*' and metric == 'roc_auc'")
    known = perf[perf["class"] != "UNKNOWN"].sort_values("window_start")
    v3 = known[known["model_version"] == "v3"].iloc[-1]
    assert (v3["class"], v3["top_feature"]) == ("DRIFT_AND_DECAY", "device_risk")
    v1 = known[known["model_version"] == "v1"]
    assert ((v1["class"] == "DRIFT_WITHOUT_DECAY") & (v1["top_feature"] == "amount")).any()
    assert not (v1["class"].str.contains("DECAY") & ~v1["class"].str.startswith("DRIFT_WITHOUT")).any()
    correlation = read_table(spark, monitoring / "drift_correlation").query("slice_key == '*' and metric == 'roc_auc'")
    v3_ranked = correlation[correlation["model_version"] == "v3"].sort_values("spearman_rho", ascending=False)
    assert v3_ranked.iloc[0]["feature"] == "device_risk" and v3_ranked.iloc[0]["spearman_rho"] > 0
    metrics = read_table(spark, monitoring / "perf_metrics").query(
        "monitor == 'fraud_scoring' and model_version == 'v3' and slice_key == '*' and window == '1 day' "
        "and metric == 'roc_auc' and value == value and (is_mature or label_coverage >= 0.8)"
    )
    psi = read_table(spark, monitoring / "drift_metrics").query(
        "model_version == 'v3' and slice_key == '*' and window == '1 day' and measure == 'psi' and value == value"
    )
    for r in v3_ranked.itertuples():
        pairs = metrics.merge(psi[psi["feature"] == r.feature], on="window_start", suffixes=("", "_psi"))
        pairs = pairs.sort_values("window_start").tail(20)
        rho, p = scipy_stats.spearmanr(-pairs["value"], pairs["value_psi"])
        assert r.windows_used == len(pairs) and r.spearman_rho == pytest.approx(rho, abs=1e-9), r.feature
        assert r.p_value == pytest.approx(p, abs=1e-9), r.feature

    decisions = read_table(spark, monitoring / "retrain_decisions")
    fired = decisions[decisions["reasons"].map(lambda rs: any(x.startswith("drift_and_decay") for x in rs))]
    assert list(fired["model_version"]) == ["v3"] and fired.iloc[0]["decision"] == "RETRAIN"
    assert "device_risk" in fired.iloc[0]["evidence"]
    assert "DRIFT_AND_DECAY; top drift device_risk" in stdout


def test_the_demo_recommender_equals_the_ranking_oracle(spark, demo):
    folder, stdout = demo
    assert "recommender.yml" in stdout and "ndcg@10" in stdout
    impressions = read_table(spark, folder / "impressions").rename(columns={"served_ts": "prediction_ts"})
    clicks = read_table(spark, folder / "clicks").rename(columns={"event_ts": "label_ts"})
    resolved = resolve_ranking(impressions, clicks, DEMO_AS_OF, timedelta(days=3))
    requests = request_values(resolved, [5, 10])
    metrics = read_table(spark, folder / "monitoring" / "perf_metrics").query(
        "monitor == 'recommendations' and slice_key == '*' and window == '7 days'"
    )
    assert set(metrics["model_version"]) == {"v1", "v2", "*"}
    for r in metrics.itertuples():
        sel = requests[(requests["request_ts"] >= r.window_start) & (requests["request_ts"] < r.window_end)]
        sel = sel if r.model_version == "*" else sel[sel["model_version"] == r.model_version]
        want = group_metrics(sel, [5, 10], resolved=resolved)[r.metric]
        what = f"{r.metric} {r.model_version} {r.window_start}"
        error = 0.05 if r.metric.startswith("catalog_coverage") else 1e-9  # HyperLogLog counts
        assert pd.isna(r.value) if pd.isna(want) else r.value == pytest.approx(want, rel=error), what


def test_decide_prints_json_and_exits_10_only_on_retrain(spark, demo):
    """What ``perfmon decide`` must answer comes from the retrain_decisions table the demo wrote,
    not from what the command prints: per version the row of the latest as_of (the demo runs
    once, as of DEMO_AS_OF), printed whole, and exit 10 iff one of them is RETRAIN."""
    folder, _ = demo
    table = read_table(spark, folder / "monitoring" / "retrain_decisions")
    assert (table["monitor"] == "fraud_scoring").all() and (table["as_of"] == DEMO_AS_OF).all()
    latest = table[table["as_of"] == table.groupby("model_version")["as_of"].transform("max")]
    latest = latest.sort_values("model_version").reset_index(drop=True)
    assert len(latest) > 0 and set(latest["model_version"]) <= {"v1", "v2", "v3"}
    assert not latest["model_version"].duplicated().any()
    assert set(latest["decision"]) <= {"RETRAIN", "NO_ACTION", "COOLDOWN"}

    done = run([str(BIN / "perfmon"), "decide", "--config", str(folder / "perfmon.yml")])
    assert done.returncode == (10 if (latest["decision"] == "RETRAIN").any() else 0), done.stderr[-2000:]
    decisions = json.loads(done.stdout)
    assert [(d["model_version"], d["decision"]) for d in decisions] == list(
        zip(latest["model_version"], latest["decision"])
    )
    # every field of those rows: evidence printed parsed (back to the stored text when dumped
    # with sorted keys), as_of in ISO-8601 UTC
    printed = [dict(d, evidence=json.dumps(d["evidence"], sort_keys=True)) for d in decisions]
    expected = [
        {
            "monitor": r.monitor,
            "model_version": r.model_version,
            "run_id": r.run_id,
            "decision": r.decision,
            "reasons": list(r.reasons),
            "evidence": r.evidence,
            "new_labels_since_last": int(r.new_labels_since_last),
            "labels_total": int(r.labels_total),
            "as_of": f"{DEMO_AS_OF:%Y-%m-%dT%H:%M:%S}Z",
        }
        for r in latest.itertuples()
    ]
    assert printed == expected


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["run", "--config", "missing.yml"], 2, "config error: cannot read config file 'missing.yml'"),
        (
            ["run", "--config", "conf/demo.yml", "--as-of", "yesterday"],
            2,
            "config error: --as-of: invalid timestamp 'yesterday'",
        ),
        (
            ["validate", "--config", "tests/e2e/bad_metric.yml"],
            2,
            "config error: metrics[1]: unknown metric 'auc'; known for binary:",
        ),
        (
            ["run", "--config", "tests/e2e/missing_table.yml", "--as-of", "2026-01-01"],
            3,
            f"input error: predictions table '{ROOT / 'tests/e2e/no/such/table'}' (predictions.table) does not exist",
        ),
    ],
)
def test_cli_errors_are_one_line_with_exit_codes(args, code, message):
    done = run([str(BIN / "perfmon"), *args])
    assert done.returncode == code, done.stderr[-2000:]
    lines = [
        line for line in done.stderr.splitlines() if line.startswith(("config error", "input error", "unexpected"))
    ]
    assert lines == [lines[0]] and lines[0].startswith(message), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_validate_prints_the_plan_without_spark():
    done = run([str(BIN / "perfmon"), "validate", "--config", "conf/demo.yml"])
    assert done.returncode == 0, done.stderr
    assert "monitor fraud_scoring (binary)" in done.stdout and "rolling 7 days, 28 days" in done.stdout
    assert "tables: not checked (add --check-tables" in done.stdout
