"""Bucket states from row-level data in one aggregation (Spark built-ins only, no Python UDF).

Each usable prediction contributes its per-row state fields once, then is exploded into its
slices (overall, each segment column, each crossed group) and summed per
(model version, slice, bucket). The score summary is exact per group up to
``histogram.EXACT_LIMIT`` distinct scores and compacted onto the grid beyond it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.config import MonitorConfig
from perfmon_spark.states import histogram
from perfmon_spark.states.layout import HISTOGRAM, SCALARS, has_histogram

OTHER = "__other__"
NULL = "__null__"
OVERALL = "*"
CROSS_SEP = "&"
KEY = ("model_version", "slice_key", "slice_value", "bucket_start")
STATE_VERSION = 1
_EPS = 2.220446049250313e-16  # float64 machine epsilon: scikit-learn's log_loss clip

_UNIT = {"1 hour": "hour", "1 day": "day", "1 week": "week"}


def score_scale(cfg: MonitorConfig) -> str:
    return "probability" if cfg.predictions.score_type == "probability" else "unbounded"


def score_key(score: Column, scale: str) -> Column:
    """Spark twin of ``histogram.transform``: logit or asinh, clipped to the grid's range."""
    half = histogram.TRANSFORM_RANGE[scale]
    if scale == "probability":
        t = (
            F.when(score <= 0, F.lit(-half))
            .when(score >= 1, F.lit(half))
            .otherwise(F.log(score) - F.log1p(-score))
        )
    else:
        t = F.asinh(score)
    return F.least(F.greatest(t, F.lit(-half)), F.lit(half))


def _grid_centre(key: Column, scale: str) -> Column:
    grid = histogram.Grid.for_scale(scale)
    idx = F.least(F.greatest(F.floor((key - F.lit(grid.low)) / F.lit(grid.width)), F.lit(0)), F.lit(histogram.GRID_BINS - 1))
    return F.lit(grid.low) + (idx + F.lit(0.5)) * F.lit(grid.width)


def top_segment_values(df: DataFrame, cfg: MonitorConfig) -> dict[str, tuple[str, ...]]:
    """The ``segments.max_values`` most frequent values of each segment column (one Spark job;
    only the ranked values reach the driver). Ties are broken by value for determinism."""
    columns = sorted({c for group in cfg.slice_keys for c in group})
    if not columns:
        return {}
    pairs = df.select(
        F.explode(F.array(*[F.struct(F.lit(c).alias("k"), F.col(f"`{c}`").cast("string").alias("v")) for c in columns])).alias("p")
    ).select("p.k", "p.v")
    counts = pairs.filter(F.col("v").isNotNull()).groupBy("k", "v").count()
    rank = F.row_number().over(Window.partitionBy("k").orderBy(F.desc("count"), F.asc("v")))
    kept = counts.withColumn("r", rank).filter(F.col("r") <= cfg.segments.max_values).select("k", "v").collect()
    top: dict[str, list[str]] = {c: [] for c in columns}
    for row in kept:
        top[row["k"]].append(row["v"])
    return {c: tuple(sorted(v)) for c, v in top.items()}


def _segment_value(column: str, top: tuple[str, ...]) -> Column:
    value = F.col(f"`{column}`").cast("string")
    return F.when(value.isNull(), F.lit(NULL)).when(value.isin(*top), value).otherwise(F.lit(OTHER))


def slices(cfg: MonitorConfig, top: dict[str, tuple[str, ...]]) -> Column:
    """Array of (slice_key, slice_value) structs of one row: overall first, then each slice."""
    entries = [F.struct(F.lit(OVERALL).alias("slice_key"), F.lit(OVERALL).alias("slice_value"))]
    for group in cfg.slice_keys:
        values = [_segment_value(c, top[c]) for c in group]
        value = values[0] if len(values) == 1 else F.concat_ws(CROSS_SEP, *values)
        entries.append(F.struct(F.lit(CROSS_SEP.join(group)).alias("slice_key"), value.alias("slice_value")))
    return F.array(*entries)


def _binary_row_fields(cfg: MonitorConfig) -> dict[str, Column]:
    labeled = F.col("_y").isNotNull()
    y, d = F.col("_y"), F.col("_decision")

    def when_labeled(c: Column) -> Column:
        return F.when(labeled, c).otherwise(F.lit(0))

    fields = {
        "n_predictions": F.lit(1),
        "n_labeled": labeled.cast("int"),
        "n_decided_positive": d,
        "tp": when_labeled(((y == 1) & (d == 1)).cast("int")),
        "fp": when_labeled(((y == 0) & (d == 1)).cast("int")),
        "tn": when_labeled(((y == 0) & (d == 0)).cast("int")),
        "fn": when_labeled(((y == 1) & (d == 0)).cast("int")),
    }
    if cfg.predictions.score and cfg.predictions.score_type == "probability":
        p = F.least(F.greatest(F.col("_score"), F.lit(_EPS)), F.lit(1 - _EPS))
        loss = -(y * F.log(p) + (1 - y) * F.log1p(-p))
        brier = (F.col("_score") - y) * (F.col("_score") - y)
    else:
        loss = brier = F.lit(None).cast("double")
    fields.update(
        sum_log_loss=when_labeled(loss),
        sum_log_loss_sq=when_labeled(loss * loss),
        sum_brier=when_labeled(brier),
        sum_brier_sq=when_labeled(brier * brier),
    )
    return fields


def bucket_states(rows: DataFrame, cfg: MonitorConfig, top: dict[str, tuple[str, ...]]) -> DataFrame:
    """Per (model_version, slice_key, slice_value, bucket_start) state rows.

    Args:
        rows: usable predictions with ``_version``, ``_ts``, ``_decision``, ``_score`` and the
            resolved label ``_y`` (null when unlabeled).
    """
    fields = _binary_row_fields(cfg)
    scalars = SCALARS[cfg.problem_type]
    unit = _UNIT[cfg.windows.granularity.text]
    scale = score_scale(cfg)
    use_hist = has_histogram(cfg.problem_type) and cfg.predictions.score is not None
    hkey = score_key(F.col("_score"), scale) if use_hist else F.lit(None).cast("double")
    per_row = rows.select(
        F.col("_version").alias("model_version"),
        F.date_trunc(unit, F.col("_ts")).alias("bucket_start"),
        F.explode(slices(cfg, top)).alias("_slice"),
        *[fields[f].alias(f) for f in scalars],
        F.when(F.col("_y").isNotNull(), hkey).alias("_hkey"),
        F.col("_y").alias("_hy"),
    ).select("*", "_slice.slice_key", "_slice.slice_value").drop("_slice")
    sums = [F.sum(f).alias(f) for f in scalars]
    exact = per_row.groupBy(*KEY, "_hkey").agg(
        *sums,
        F.sum(F.when(F.col("_hy") == 1, 1).otherwise(0)).alias("_hpos"),
        F.sum(F.when(F.col("_hy") == 0, 1).otherwise(0)).alias("_hneg"),
    )
    if cfg.auc.mode == "sketch" and use_hist:
        distinct = F.count("_hkey").over(Window.partitionBy(*KEY))
        compacted = F.when(distinct > histogram.EXACT_LIMIT, _grid_centre(F.col("_hkey"), scale)).otherwise(F.col("_hkey"))
        exact = (
            exact.withColumn("_hkey", compacted)
            .groupBy(*KEY, "_hkey")
            .agg(*sums, F.sum("_hpos").alias("_hpos"), F.sum("_hneg").alias("_hneg"))
        )
    entry = F.when(F.col("_hkey").isNotNull(), F.struct("_hkey", "_hpos", "_hneg"))
    states = exact.groupBy(*KEY).agg(*sums, F.sort_array(F.collect_list(entry)).alias("_hist"))
    return states.select(
        *KEY,
        (F.col("bucket_start") + F.expr(f"INTERVAL {cfg.windows.granularity.seconds} SECONDS")).alias("bucket_end"),
        *[F.col(f).cast("double" if f.startswith("sum_") else "long").alias(f) for f in scalars],
        F.col("_hist._hkey").alias(HISTOGRAM[0]),
        F.col("_hist._hpos").cast("array<long>").alias(HISTOGRAM[1]),
        F.col("_hist._hneg").cast("array<long>").alias(HISTOGRAM[2]),
        F.lit(STATE_VERSION).alias("state_version"),
    )
