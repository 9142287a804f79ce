"""What the report shows, read from the output tables only (aggregated rows, never a raw
prediction) into small pandas frames: the metric series of the last ``MAX_WINDOWS`` windows, the
rules' baselines (recomputed from ``perf_stats`` exactly as the alerting stage computes them), the
alerts, the status and decisions, the latest windows' score summaries, the drift tables, and the
last successful run's warnings and label delays.

The size of the report is bounded whatever the history: a chart holds at most ``MAX_WINDOWS``
windows per series (``--since`` moves the start), the heat map the slices of one metric, and the
precision/recall curves ``CURVE_WINDOWS`` windows per version.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark.alerts.evaluate import rule_histories
from perfmon_spark.alerts.rules import rule_plans
from perfmon_spark.config import MonitorConfig
from perfmon_spark.decide import latest_decisions
from perfmon_spark.errors import ConfigError, InputError
from perfmon_spark.io.catalog import (
    DRIFT_CORRELATION,
    DRIFT_METRICS,
    DRIFT_PERFORMANCE,
    MODEL_STATUS,
    PERF_ALERTS,
    PERF_METRICS,
    PERF_STATS,
    RETRAIN_DECISIONS,
    RULE_WINDOWS,
    RUNS,
    OutputTable,
)
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.tables import table_exists
from perfmon_spark.job.versions import latest_comparisons
from perfmon_spark.problems import problem
from perfmon_spark.report.model import CURVE_WINDOWS, MAX_WINDOWS, ReportData, ReportOptions, main_window
from perfmon_spark.vocabulary import OVERALL, DriftMeasure, RunStatus


def _frame(df: DataFrame) -> pd.DataFrame:
    return df.toPandas()


def _table(spark: SparkSession, cfg: MonitorConfig, table: OutputTable) -> DataFrame | None:
    return Lake(spark, cfg).read_if_exists(table)


def load_report_data(spark: SparkSession, cfg: MonitorConfig, options: ReportOptions) -> ReportData:
    """Read the report's rows.

    Raises:
        InputError: the monitor has not run successfully yet.
        ConfigError: ``options`` names a metric the config does not compute.
    """
    unknown = [m for m in options.metrics if m not in cfg.metric_names]
    if unknown:
        raise ConfigError(
            f"--metric: {unknown[0]!r} is not a metric of this monitor; known: {', '.join(cfg.metric_names)}"
        )
    runs = _table(spark, cfg, RUNS)
    last = runs.filter(F.col("status") == RunStatus.SUCCEEDED).orderBy(F.desc("started_at")).first() if runs else None
    if last is None:
        raise InputError(
            f"runs table {cfg.output.table(RUNS.name).text!r}: monitor {cfg.name!r} has no successful run yet: run 'perfmon run' first"
        )
    as_of = last["as_of"]
    run = last.asDict(recursive=True)
    since = options.since or as_of - timedelta(seconds=MAX_WINDOWS * cfg.windows.granularity.seconds)
    metrics = options.metrics or cfg.metric_names
    rule = cfg.alerts[0] if cfg.alerts else None
    heat_metric = rule.metric if rule else metrics[0]
    heat_window = rule.window if rule and rule.window else main_window(cfg)
    perf = _table(spark, cfg, PERF_METRICS).filter(F.col("window_end") > F.lit(since))
    if options.model_version is not None:
        perf = perf.filter(F.col("model_version") == options.model_version)
    overall = F.col("metric").isin(*metrics) & (F.col("slice_key") == OVERALL)
    heat = (F.col("metric") == heat_metric) & (F.col("window") == heat_window)
    rows = _frame(perf.filter(overall | heat))
    series = rows[(rows["slice_key"] == OVERALL) & rows["metric"].isin(metrics)]
    slices = rows[(rows["metric"] == heat_metric) & (rows["window"] == heat_window)]
    return ReportData(
        cfg=cfg,
        as_of=as_of,
        last_run=run,
        metrics=tuple(metrics),
        series=series,
        slices=slices,
        heat_metric=heat_metric,
        heat_window=heat_window,
        histories=_histories(spark, cfg, as_of, since, options, (F.col("slice_key") == OVERALL) | heat),
        rule_windows=_rule_windows(spark, cfg, since, options),
        alerts=_optional(spark, cfg, PERF_ALERTS, options),
        status=_optional(spark, cfg, MODEL_STATUS, options),
        decisions=pd.DataFrame(
            latest_decisions(spark, cfg, options.model_version)
            if table_exists(spark, cfg.output.table(RETRAIN_DECISIONS.name))
            else []
        ),
        curves=_curves(spark, cfg, as_of, options),
        drift=_drift(spark, cfg, since, options),
        drift_performance=_optional(spark, cfg, DRIFT_PERFORMANCE, options, overall=True),
        drift_correlation=_optional(spark, cfg, DRIFT_CORRELATION, options, overall=True),
        comparisons=pd.DataFrame(latest_comparisons(Lake(spark, cfg))),
        **_run_checks(run),
    )


def _run_checks(run: dict) -> dict:
    """The run's ``warnings`` and ``label_delay``, as ``ReportData`` fields. ``runs`` tables
    written before these columns existed lack them, and older rows of a newer table hold null:
    both read as None (not recorded), which the report tells apart from a run without warnings."""
    warnings = run.get("warnings")
    return {
        "warnings": None if warnings is None else tuple((w["code"], w["message"]) for w in warnings),
        "label_delay": run.get("label_delay") or None,
    }


def _optional(
    spark: SparkSession, cfg: MonitorConfig, table: OutputTable, options: ReportOptions, overall: bool = False
) -> pd.DataFrame:
    df = _table(spark, cfg, table)
    if df is None:
        return pd.DataFrame()
    if options.model_version is not None:
        df = df.filter(F.col("model_version") == options.model_version)
    if overall:
        df = df.filter(F.col("slice_key") == OVERALL)
    return _frame(df)


def _histories(
    spark: SparkSession,
    cfg: MonitorConfig,
    as_of: datetime,
    since: datetime,
    options: ReportOptions,
    wanted: Column,
) -> pd.DataFrame:
    """The ``wanted`` windows of every rule (the overall slice, and the heat map's slices) with
    the baseline the alerting stage compares them with: a slice is judged against its own."""
    if not cfg.alerts:
        return pd.DataFrame()
    metrics = _table(spark, cfg, PERF_METRICS).filter(wanted)
    if options.model_version is not None:
        metrics = metrics.filter(F.col("model_version") == options.model_version)
    histories = rule_histories(cfg, metrics, _table(spark, cfg, PERF_STATS), as_of, rule_plans(cfg))
    return _frame(histories.filter(F.col("window_end") > F.lit(since)))


def _rule_windows(spark: SparkSession, cfg: MonitorConfig, since: datetime, options: ReportOptions) -> pd.DataFrame:
    """The overall slice's ``rule_windows`` rows since ``since``: the baselines and thresholds
    the alerts were decided on, as the runs stored them."""
    df = _table(spark, cfg, RULE_WINDOWS)
    if df is None:
        return pd.DataFrame()
    df = df.filter((F.col("slice_key") == OVERALL) & (F.col("window_end") > F.lit(since)))
    if options.model_version is not None:
        df = df.filter(F.col("model_version") == options.model_version)
    return _frame(df)


def _curves(spark: SparkSession, cfg: MonitorConfig, as_of: datetime, options: ReportOptions) -> pd.DataFrame:
    """Per version, the score summaries of the latest ``CURVE_WINDOWS`` rolling windows (binary
    monitors): the overall slice's bucket states of each window, listed with the window's end."""
    if "hist" not in getattr(problem(cfg.problem_type).sparse, "views", ()):  # no labeled score summary
        return pd.DataFrame()
    length = timedelta(seconds=(cfg.windows.rolling[0] if cfg.windows.rolling else cfg.windows.granularity).seconds)
    stats = _table(spark, cfg, PERF_STATS).filter(F.col("slice_key") == OVERALL)
    if options.model_version is not None:
        stats = stats.filter(F.col("model_version") == options.model_version)
    last_end = stats.agg(F.max("bucket_end")).first()[0]
    if last_end is None:
        return pd.DataFrame()
    ends = [last_end - i * length for i in range(CURVE_WINDOWS)]
    stats = stats.filter(
        (F.col("bucket_start") >= F.lit(ends[-1] - length)) & (F.col("bucket_start") < F.lit(last_end))
    )
    rows = _frame(stats.select("model_version", "bucket_start", "hist_keys", "hist_pos", "hist_neg"))
    parts = []
    for end in ends:
        inside = rows[(rows["bucket_start"] >= end - length) & (rows["bucket_start"] < end)]
        parts.append(inside.assign(window_end=end, window_start=end - length))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _drift(spark: SparkSession, cfg: MonitorConfig, since: datetime, options: ReportOptions) -> pd.DataFrame:
    """Every feature's PSI per version over time (overall slice, the first rolling window)."""
    df = _table(spark, cfg, DRIFT_METRICS)
    if df is None:
        return pd.DataFrame()
    df = df.filter(
        (F.col("slice_key") == OVERALL)
        & (F.col("measure") == DriftMeasure.PSI)
        & (F.col("window") == main_window(cfg))
        & (F.col("window_end") > F.lit(since))
    )
    if options.model_version is not None:
        df = df.filter(F.col("model_version") == options.model_version)
    return _frame(df)
