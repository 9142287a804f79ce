"""Baselines: the reference value each rule compares a window with (``baseline.source``), and
its interval and standard error where it is estimated from data (``baseline_ci_lower`` /
``baseline_ci_upper`` / ``baseline_std_error``, null for a fixed value), so that the rules can
test a drop against both uncertainties.

- ``values``: fixed figures per metric (training or validation results), for the overall slice.
  A figure of the whole population says nothing of a segment (AUC and precision are not
  comparable across segments), so the other slices use their own ``window`` baseline.
- ``table``: a Delta table of (model_version, slice_key, slice_value, metric, value, and optionally
  ci_lower, ci_upper, std_error: the figure's own interval and standard error, which the rules
  then count; a table with the interval and no standard error leaves ``baseline_std_error`` null,
  and the rules read the interval's half-width / z, ``rules.standard_error``); the most
  specific row wins: exact version and slice, then the version's ``*`` slice, then version ``*``
  with the slice, then ``*``/``*``.
- ``window``: early production, the metric over the first ``window`` of each version in each
  slice (the version's first bucket in the overall slice starts the period); null until the period
  has ended, so a young version is not judged against half a baseline.
- ``rolling``: a trailing reference period, the metric over [end - lag - length, end - lag) for a
  window ending at ``end``.

The last two are computed from ``perf_stats`` like any window (merges of bucket states), so they
cost one more pass over the small state table, not over raw rows.

Every row also names its *reference period* (``reference_start``, ``reference_end``): the windows
the rules measure the series' extra variance on (``alerts.rules``). For ``window`` and ``rolling``
baselines it is the baseline's own period, which the baseline averages
(``baseline_from_reference``); for fixed ``values`` and ``table`` figures, the version's first
``baseline.window`` of production, which the figure does not average.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.buckets import seconds
from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import InputError
from perfmon_spark.io.tables import read_table, table_exists
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL
from perfmon_spark.windows.finalise import WindowPlan
from perfmon_spark.windows.spark import compute_metrics, first_buckets

TABLE_COLUMNS = ("model_version", "slice_key", "slice_value", "metric", "value")
_SERIES = ("model_version", "slice_key", "slice_value", "metric")


def check_baseline_table(spark: SparkSession, cfg: MonitorConfig) -> None:
    """With ``source: table``, the table must exist with its columns (checked before any write).

    Raises:
        InputError: naming the table and the missing column.
    """
    if cfg.baseline.source != "table" or not cfg.alerts:
        return
    ref = cfg.baseline.table
    if not table_exists(spark, ref):
        raise InputError(f"baseline table {ref.text!r} does not exist or is not a Delta table")
    columns = read_table(spark, ref).columns
    for column in TABLE_COLUMNS:
        if column not in columns:
            raise InputError(
                f"baseline table {ref.text!r}: column {column!r} not found; needs {', '.join(TABLE_COLUMNS)}, has {', '.join(columns)}"
            )


# the baseline's error: the same columns of what it is taken from (perf_metrics' for a window or
# rolling baseline, a table's optional ones), null for a fixed figure (exact)
BASELINE_ERROR = ("baseline_ci_lower", "baseline_ci_upper", "baseline_std_error")
REFERENCE = ("reference_start", "reference_end", "baseline_from_reference")


def with_baseline(histories: DataFrame, stats: DataFrame, cfg: MonitorConfig, as_of: datetime) -> DataFrame:
    """``histories`` (perf_metrics rows of the rules) with ``baseline`` and its interval and
    standard error (``BASELINE_ERROR``), null where there is none, and the ``REFERENCE`` period
    columns."""
    source = cfg.baseline.source
    if source == "table":
        return _first_period(_from_table(histories, cfg), stats, cfg)
    if source != "values":
        return _from_states(histories, stats, cfg, as_of, source)
    pairs = [x for metric, value in cfg.baseline.values for x in (F.lit(metric), F.lit(value))]
    overall = F.col("slice_key") == OVERALL
    fixed = _exact(
        histories.filter(overall).withColumn("baseline", F.element_at(F.create_map(*pairs), F.col("metric")))
    )
    fixed = _first_period(fixed, stats, cfg)
    if not cfg.slice_keys:
        return fixed
    return fixed.unionByName(_from_states(histories.filter(~overall), stats, cfg, as_of, "window"))


def _exact(histories: DataFrame) -> DataFrame:
    return histories.withColumns({c: F.lit(None).cast("double") for c in BASELINE_ERROR})


def _first_period(histories: DataFrame, stats: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """A fixed baseline's rows with their reference period: the version's first ``baseline.window``."""
    periods = _version_starts(stats).select(
        "model_version",
        F.col("_start").alias("reference_start"),
        (F.col("_start") + seconds(cfg.baseline.window.seconds)).alias("reference_end"),
    )
    joined = histories.join(periods, "model_version", "left")
    return joined.withColumn("baseline_from_reference", F.lit(False))


def _from_states(histories: DataFrame, stats: DataFrame, cfg: MonitorConfig, as_of: datetime, source: str) -> DataFrame:
    """A ``window`` or ``rolling`` baseline: the metric over the reference period, merged from
    the bucket states like any window, with its interval and standard error."""
    wanted = {r.metric for r in cfg.alerts if r.absolute is None}  # absolute levels need none
    if not wanted:
        nothing = _exact(histories.withColumn("baseline", F.lit(None).cast("double")))
        return nothing.withColumns(
            {
                "reference_start": F.lit(None).cast("timestamp"),
                "reference_end": F.lit(None).cast("timestamp"),
                "baseline_from_reference": F.lit(None).cast("boolean"),
            }
        )
    kpis = tuple(k.name for k in cfg.kpis if k.name in wanted)
    length = cfg.baseline.window if source == "window" else cfg.baseline.rolling_length
    plan = replace(
        WindowPlan.from_config(cfg, as_of),
        metrics=tuple(sorted(wanted - set(kpis))),
        kpis=kpis,
        windows=((length.text, length.seconds),),
        label_windows=(),
    )
    reference = compute_metrics(stats, plan).select(
        *_SERIES,
        "window_end",
        F.col("value").alias("baseline"),
        *[F.col(c.removeprefix("baseline_")).alias(c) for c in BASELINE_ERROR],
    )
    if source == "rolling":
        lag = seconds(cfg.baseline.rolling_lag.seconds)
        h = histories.withColumn("reference_end", F.col("window_end") - lag)
        joined = h.join(reference.withColumnRenamed("window_end", "reference_end"), [*_SERIES, "reference_end"], "left")
        periods = joined.withColumn("reference_start", F.col("reference_end") - seconds(length.seconds))
    else:
        starts = _version_starts(stats).withColumn("window_end", F.col("_start") + seconds(length.seconds))
        fixed = reference.join(starts, ["model_version", "window_end"]).withColumnsRenamed(
            {"_start": "reference_start", "window_end": "reference_end"}
        )
        periods = histories.join(fixed, list(_SERIES), "left")
    return periods.withColumn("baseline_from_reference", F.lit(True))


def _version_starts(stats: DataFrame) -> DataFrame:
    """``windows.spark.first_buckets`` as a small frame: ``model_version``, ``_start``."""
    starts = [(version, start) for version, start in first_buckets(stats).items()]
    frame = stats.sparkSession.createDataFrame(starts, "model_version string, _seconds long")
    return frame.select("model_version", F.timestamp_seconds("_seconds").alias("_start"))


def _from_table(histories: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """The most specific row of the baseline table, with its interval and standard error where
    the table has the optional ``ci_lower`` / ``ci_upper`` / ``std_error`` columns (a validation
    figure's own), else null: exact, or without ``std_error`` the interval's half-width / z."""
    spark = histories.sparkSession
    raw = read_table(spark, cfg.baseline.table)
    interval = [
        (F.col(c.removeprefix("baseline_")) if c.removeprefix("baseline_") in raw.columns else F.lit(None))
        .cast("double")
        .alias(c)
        for c in BASELINE_ERROR
    ]
    table = raw.select(
        *[F.col(c).cast("string").alias(f"_b_{c}") for c in TABLE_COLUMNS[:-1]],
        F.col("value").cast("double").alias("_b_value"),
        *interval,
    )
    h = histories.withColumn("_row", F.monotonically_increasing_id())
    version_ok = (F.col("_b_model_version") == F.col("model_version")) | (F.col("_b_model_version") == ALL_VERSIONS)
    exact_slice = (F.col("_b_slice_key") == F.col("slice_key")) & (F.col("_b_slice_value") == F.col("slice_value"))
    any_slice = (F.col("_b_slice_key") == OVERALL) & (F.col("_b_slice_value") == OVERALL)
    joined = h.join(table, (F.col("_b_metric") == F.col("metric")) & version_ok & (exact_slice | any_slice), "left")
    specificity = F.when(F.col("_b_model_version") == F.col("model_version"), 2).otherwise(0) + F.when(
        exact_slice, 1
    ).otherwise(0)
    best = F.row_number().over(Window.partitionBy("_row").orderBy(specificity.desc()))
    return (
        joined.withColumn("_rank", best)
        .filter(F.col("_rank") == 1)
        .withColumnRenamed("_b_value", "baseline")
        .drop("_row", "_rank", *[f"_b_{c}" for c in TABLE_COLUMNS[:-1]])
    )
