"""Rule evaluation in Spark: the rules' metric histories, with baselines, through
``rules.evaluate_history`` in one ``applyInPandas`` (one Python call per history, however many
rules, versions and slices)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from perfmon_spark.alerts.baseline import with_baseline
from perfmon_spark.alerts.rules import RulePlan, evaluate_history
from perfmon_spark.config import AlertRule, MonitorConfig
from perfmon_spark.io.catalog import PERF_ALERTS
from perfmon_spark.vocabulary import OVERALL

# An episode as evaluated: perf_alerts without the columns the alerting stage adds.
EPISODE = PERF_ALERTS.without("monitor", "updated_run_id")

SERIES = ("rule", "model_version", "slice_key", "slice_value", "window")
_HISTORY = (
    "window_start",
    "window_end",
    "metric",
    "value",
    "ci_lower",
    "ci_upper",
    "n_labeled",
    "label_coverage",
    "is_mature",
)


def _rule_rows(metrics: DataFrame, rule: AlertRule) -> DataFrame:
    rows = metrics.filter((F.col("metric") == rule.metric) & (F.col("window") == rule.window))
    if rule.slices == "overall":
        rows = rows.filter(F.col("slice_key") == OVERALL)
    elif rule.slices != "all":
        rows = rows.filter(F.col("slice_key").isin(*rule.slices))
    return rows.select(F.lit(rule.name).alias("rule"), *SERIES[1:], *_HISTORY)


def episodes(cfg: MonitorConfig, metrics: DataFrame, stats: DataFrame, as_of: datetime) -> DataFrame | None:
    """Every alert episode of every rule (``EPISODE``) from this monitor's perf_metrics
    and perf_stats rows; None without rules."""
    if not cfg.alerts:
        return None
    histories = _rule_rows(metrics, cfg.alerts[0])
    for rule in cfg.alerts[1:]:
        histories = histories.unionByName(_rule_rows(metrics, rule))
    histories = with_baseline(histories, stats, cfg, as_of)
    plans = {r.name: RulePlan.build(r, cfg.larger_is_better(r.metric), cfg.confidence_level) for r in cfg.alerts}
    columns = [c for c, _ in EPISODE]

    def evaluate(pdf: pd.DataFrame) -> pd.DataFrame:
        found = evaluate_history(pdf, plans[pdf["rule"].iloc[0]])
        if not found:
            return pd.DataFrame(columns=columns)
        out = pd.DataFrame(found)
        for key in SERIES:
            out[key] = pdf[key].iloc[0]
        return out[columns]

    schema = ", ".join(f"`{c}` {t}" for c, t in EPISODE)
    return histories.groupBy(*SERIES).applyInPandas(evaluate, schema)
