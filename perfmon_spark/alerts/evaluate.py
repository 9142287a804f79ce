"""Rule evaluation in Spark: the rules' metric histories, with baselines, through
``rules.evaluate_history`` in one ``applyInPandas`` (one Python call per history, however many
rules, versions and slices), and every window each rule evaluated (``rules.evaluated_windows``,
the ``rule_windows`` table, whose newest rows hold the run's false-discovery family) in another."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from perfmon_spark.alerts.baseline import with_baseline
from perfmon_spark.alerts.lifecycle import SERIES
from perfmon_spark.alerts.rules import RulePlan, evaluate_history, evaluated_windows
from perfmon_spark.config import AlertRule, MonitorConfig
from perfmon_spark.io.catalog import PERF_ALERTS, RULE_WINDOWS, ddl, threshold_column
from perfmon_spark.vocabulary import OVERALL, Level
from perfmon_spark.windows.finalise import WindowPlan
from perfmon_spark.windows.spark import compute_metrics

# An episode as evaluated: perf_alerts without the columns the alerting stage adds.
EPISODE = PERF_ALERTS.without("monitor", "updated_run_id")

_WINDOW = ("model_version", "slice_key", "slice_value", "window", "window_start")
_HISTORY = (
    "window_start",
    "window_end",
    "metric",
    "value",
    "ci_lower",
    "ci_upper",
    "std_error",
    "n_predictions",
    "n_labeled",
    "label_coverage",
    "is_mature",
)


def rule_rows(metrics: DataFrame, rule: AlertRule, window: str | None = None) -> DataFrame:
    """A rule's rows of perf_metrics: its metric, window (or ``window``) and slices. A table no run
    of this version has written yet has no ``std_error``: null, which the rules read as rows
    written before it existed (``rules.standard_error``)."""
    rows = metrics.filter((F.col("metric") == rule.metric) & (F.col("window") == (window or rule.window)))
    if rule.slices == "overall":
        rows = rows.filter(F.col("slice_key") == OVERALL)
    elif rule.slices != "all":
        rows = rows.filter(F.col("slice_key").isin(*rule.slices))
    legacy = "std_error" not in rows.columns
    history = [F.lit(None).cast("double").alias(c) if legacy and c == "std_error" else F.col(c) for c in _HISTORY]
    return rows.select(F.lit(rule.name).alias("rule"), *SERIES[1:], *history)


def _with_class_counts(histories: DataFrame, stats: DataFrame, cfg: MonitorConfig, as_of: datetime) -> DataFrame:
    """``n_positive`` and ``n_negative`` of each window (binary), from the same bucket states."""
    lengths = {r.window for r in cfg.alerts}
    plan = replace(
        WindowPlan.from_config(cfg, as_of),
        metrics=("positive_rate",),
        kpis=(),
        windows=tuple((d.text, d.seconds) for d in cfg.window_lengths if d.text in lengths),
        label_windows=(),
    )
    positives = F.round(F.coalesce(F.col("value"), F.lit(0.0)) * F.col("n_labeled")).cast("long")
    counts = compute_metrics(stats, plan).select(
        *_WINDOW, positives.alias("n_positive"), (F.col("n_labeled") - positives).alias("n_negative")
    )
    return histories.join(counts, list(_WINDOW), "left")


def rule_histories(
    cfg: MonitorConfig, metrics: DataFrame, stats: DataFrame, as_of: datetime, plans: dict[str, RulePlan]
) -> DataFrame:
    """Every rule's perf_metrics rows (``SERIES`` and ``_HISTORY`` columns) with the baseline and
    its reference period, and the class counts where a rule's gates need them."""
    histories = rule_rows(metrics, cfg.alerts[0])
    for rule in cfg.alerts[1:]:
        histories = histories.unionByName(rule_rows(metrics, rule))
    histories = with_baseline(histories, stats, cfg, as_of)
    if any(p.min_positives or p.min_negatives for p in plans.values()):
        histories = _with_class_counts(histories, stats, cfg, as_of)
    return histories


def episodes(histories: DataFrame, plans: dict[str, RulePlan]) -> DataFrame:
    """Every alert episode of every rule (``EPISODE``) from ``rule_histories``."""
    columns = [c for c, _ in EPISODE]

    def evaluate(pdf: pd.DataFrame) -> pd.DataFrame:
        found = evaluate_history(pdf, plans[pdf["rule"].iloc[0]])
        if not found:
            return pd.DataFrame(columns=columns)
        out = pd.DataFrame(found)
        for key in SERIES:
            out[key] = pdf[key].iloc[0]
        return out[columns]

    return histories.groupBy(*SERIES).applyInPandas(evaluate, ddl(EPISODE))


# A rule's window as evaluated: rule_windows without the columns the alerting stage adds.
RULE_WINDOW = RULE_WINDOWS.without("monitor", "q_value", "as_of", "run_id")


def rule_windows(histories: DataFrame, plans: dict[str, RulePlan]) -> DataFrame:
    """Every window each rule evaluates (``RULE_WINDOW``: ``rules.evaluated_windows``), from
    ``rule_histories``."""
    columns = [c for c, _ in RULE_WINDOW]

    def evaluate(pdf: pd.DataFrame) -> pd.DataFrame:
        plan = plans[pdf["rule"].iloc[0]]
        found = evaluated_windows(pdf, plan)
        if not found:
            return pd.DataFrame(columns=columns)
        out = pd.DataFrame(found)
        for level in Level:
            out[threshold_column(level)] = [w["thresholds"].get(level) for w in found]
        out["metric"] = plan.rule.metric
        for key in SERIES:
            out[key] = pdf[key].iloc[0]
        return out[columns]

    return histories.groupBy(*SERIES).applyInPandas(evaluate, ddl(RULE_WINDOW))
