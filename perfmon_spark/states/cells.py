"""Cells: (model version, bucket, value of every segment column), the finest grain every slice
is a union of.

One scan of the visible predictions counts rows per *raw* cell (``cell_counts``: segment values as
read, before the top-N cut). Everything a run must know before it reads the rows again comes from
those few counts, not from more scans: the top values of each segment column, the values a
partial run has not stored yet, and where the score summary is binned (``binning``). The counts
are as many rows as there are distinct (version, bucket, segment values), at most the number of
predictions; cache them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest.times import prediction_time
from perfmon_spark.metrics import histogram
from perfmon_spark.problems import problem
from perfmon_spark.vocabulary import CROSS_SEP, NULL_VALUE, OTHER, OVERALL

KEY = ("model_version", "slice_key", "slice_value", "bucket_start")  # a slice group in a bucket
COUNT = "_count"


def cell_names(cfg: MonitorConfig) -> list[str]:
    """Column names of a cell: version, bucket, then one per segment column."""
    return ["model_version", "bucket_start", *[f"_cell{i}" for i in range(len(cfg.segment_columns))]]


def slices(cfg: MonitorConfig, values_of: dict[str, Column]) -> Column:
    """Array of (slice_key, slice_value) structs of one row: overall first, then each slice.

    Args:
        values_of: each segment column's slice value (top value, ``__other__`` or ``__null__``).
    """
    entries = [F.struct(F.lit(OVERALL).alias("slice_key"), F.lit(OVERALL).alias("slice_value"))]
    for group in cfg.slice_keys:
        values = [values_of[c] for c in group]
        value = values[0] if len(values) == 1 else F.concat_ws(CROSS_SEP, *values)
        entries.append(F.struct(F.lit(CROSS_SEP.join(group)).alias("slice_key"), value.alias("slice_value")))
    return F.array(*entries)


def to_groups(cells: DataFrame, cfg: MonitorConfig, *columns: str) -> DataFrame:
    """One row per (cell row, slice group the cell belongs to): the ``KEY`` columns and ``columns``."""
    names = cell_names(cfg)
    to_slices = F.explode(slices(cfg, dict(zip(cfg.segment_columns, [F.col(n) for n in names[2:]])))).alias("_slice")
    out = cells.select("model_version", "bucket_start", to_slices, *columns)
    return out.select("model_version", "_slice.slice_key", "_slice.slice_value", "bucket_start", *columns)


def _raw_values(cfg: MonitorConfig) -> dict[str, Column]:
    """Cell column name -> the segment column's value as a string, as read."""
    return {n: F.col(f"`{c}`").cast("string") for c, n in zip(cfg.segment_columns, cell_names(cfg)[2:])}


def cell_counts(predictions: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """Visible predictions per raw cell (segment values as strings, nulls kept): one scan."""
    p = cfg.predictions
    version, ts = F.col(p.model_version).cast("string"), prediction_time(cfg)
    cell = [
        version.alias("model_version"),
        Buckets(cfg.windows.granularity).floor_column(ts).alias("bucket_start"),
        *[v.alias(n) for n, v in _raw_values(cfg).items()],
    ]
    return predictions.select(*cell).groupBy(*cell_names(cfg)).agg(F.count(F.lit(1)).alias(COUNT))


def _pairs(counts: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """(k: segment column, v: its value, count) of every raw cell, null values left out."""
    names = cell_names(cfg)[2:]
    entries = [F.struct(F.lit(c).alias("k"), F.col(n).alias("v")) for c, n in zip(cfg.segment_columns, names)]
    pairs = counts.select(F.explode(F.array(*entries)).alias("p"), COUNT).select("p.k", "p.v", COUNT)
    return pairs.filter(F.col("v").isNotNull())


def top_segment_values(counts: DataFrame, cfg: MonitorConfig) -> dict[str, tuple[str, ...]]:
    """The ``segments.max_values`` most frequent values of each segment column, from
    ``cell_counts`` (one Spark job; only the ranked values reach the driver). Ties are broken by
    value for determinism."""
    columns = cfg.segment_columns
    if not columns:
        return {}
    totals = _pairs(counts, cfg).groupBy("k", "v").agg(F.sum(COUNT).alias("n"))
    rank = F.row_number().over(Window.partitionBy("k").orderBy(F.desc("n"), F.asc("v")))
    kept = totals.withColumn("r", rank).filter(F.col("r") <= cfg.segments.max_values).select("k", "v").collect()
    top: dict[str, list[str]] = {c: [] for c in columns}
    for row in kept:
        top[row["k"]].append(row["v"])
    return {c: tuple(sorted(v)) for c, v in top.items()}


def values_seen(counts: DataFrame, cfg: MonitorConfig) -> dict[str, set[str]]:
    """Every non-null value of each segment column in ``cell_counts`` (one Spark job)."""
    seen: dict[str, set[str]] = {c: set() for c in cfg.segment_columns}
    for row in _pairs(counts, cfg).select("k", "v").distinct().collect():
        seen[row["k"]].add(row["v"])
    return seen


def segment_value(column: Column, top: tuple[str, ...]) -> Column:
    """A raw segment value (string) as its slice value: itself if in the top values, else
    ``__other__``; ``__null__`` for null."""
    return F.when(column.isNull(), F.lit(NULL_VALUE)).when(column.isin(*top), column).otherwise(F.lit(OTHER))


def located(cfg: MonitorConfig, top: dict[str, tuple[str, ...]], version: Column, ts: Column) -> dict[str, Column]:
    """A row's cell columns by name, from its model version and timestamp columns."""
    values = {n: segment_value(v, top[c]) for c, (n, v) in zip(cfg.segment_columns, _raw_values(cfg).items())}
    return {
        "model_version": version,
        "bucket_start": Buckets(cfg.windows.granularity).floor_column(ts),
        **values,
    }


@dataclass(frozen=True)
class Binning:
    """Where the score summary is keyed by grid bin rather than by exact score.

    The rule: a slice group's summary in a bucket is binned when the group has more than
    ``EXACT_LIMIT`` prediction rows there (every visible row counts, quarantined ones included),
    and exact otherwise. It depends on the predictions only, so a label arriving never changes it.

    ``cells`` lists the cells of at least ``EXACT_LIMIT / 8`` predictions all of whose groups are
    binned: their rows are keyed by grid bin as they are aggregated, so such a cell collapses to
    at most ``GRID_BINS`` groups in the one aggregation. ``groups`` lists the binned groups, whose
    merged entries are binned after the merge (binning is a function of the key, so binning early
    or late gives the same entries).
    """

    cells: DataFrame  # cell columns and _binned
    groups: DataFrame  # KEY columns and _binned
    scale: str  # the summary's score scale (``histogram.scale_of``)


def binning(counts: DataFrame, cfg: MonitorConfig, top: dict[str, tuple[str, ...]]) -> Binning | None:
    """The ``Binning`` of a run, from ``cell_counts`` (small frames, meant to be broadcast). None
    where nothing is binned: no score summary (multiclass, no score column) or binary exact mode.
    The regression summary (predicted values, for the proxies) is always binned past the limit."""
    scale = problem(cfg.problem_type).summary_scale(cfg)
    if scale is None:
        return None
    names = cell_names(cfg)
    mapped = [segment_value(F.col(n), top[c]).alias(n) for c, n in zip(cfg.segment_columns, names[2:])]
    cells = (
        counts.select("model_version", "bucket_start", *mapped, COUNT).groupBy(*names).agg(F.sum(COUNT).alias(COUNT))
    )
    sizes = to_groups(cells, cfg, COUNT).groupBy(*KEY).agg(F.sum(COUNT).alias("_size"))
    large = F.col("_size") > histogram.EXACT_LIMIT
    # Binning early or late gives the same entries, so only cells big enough to shrink are listed:
    # that bounds the broadcast list by predictions / (EXACT_LIMIT / 8) whatever the cardinality.
    busy = cells.filter(F.col(COUNT) >= max(histogram.EXACT_LIMIT // 8, 1))
    every = to_groups(busy, cfg, *names[2:]).join(sizes, list(KEY)).groupBy(*names).agg(F.min(large).alias("_binned"))
    return Binning(
        cells=every.filter("_binned"),
        groups=sizes.filter(large).select(*KEY, F.lit(True).alias("_binned")),
        scale=scale,
    )
