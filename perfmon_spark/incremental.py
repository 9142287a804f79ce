"""Which buckets a run must recompute: all of them, or only those touched since the last run.

The watermark is the last SUCCEEDED row of ``runs`` for this monitor (the row is appended after
every other table has committed, so a killed run leaves the previous watermark in place and the
next run recomputes a superset). A run is incremental when the config is unchanged, as_of did not
move back, and both input tables have the change data feed over the versions in between. The
buckets it recomputes are those of:

- prediction rows inserted, updated or deleted since the recorded version (pre- and post-images),
  and every other row sharing their ids (a duplicate may change which row is kept);
- predictions whose label events changed since the recorded version;
- predictions stamped in (previous as_of, as_of], and those whose label events arrived then
  (rows that already existed but were invisible to the previous run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig, TableRef
from perfmon_spark.io.tables import Snapshot, read_table, table_exists
from perfmon_spark.states.build import OTHER, NULL, truncate


@dataclass(frozen=True)
class Watermark:
    """What the last successful run read."""

    as_of: datetime
    predictions_version: int
    labels_version: int
    config_hash: str


@dataclass(frozen=True)
class Scope:
    """The buckets a run recomputes: ``buckets is None`` means all of them."""

    mode: str
    buckets: tuple[datetime, ...] | None
    reason: str
    orphan_labels: int | None = None

    @property
    def is_partial(self) -> bool:
        return self.buckets is not None


def last_watermark(spark: SparkSession, cfg: MonitorConfig) -> Watermark | None:
    ref = cfg.output.table("runs")
    if not table_exists(spark, ref):
        return None
    row = (
        read_table(spark, ref)
        .filter((F.col("monitor") == cfg.name) & (F.col("status") == "SUCCEEDED"))
        .orderBy(F.desc("finished_at"))
        .select("as_of", "predictions_version", "labels_version", "config_hash")
        .first()
    )
    return None if row is None else Watermark(*row)


def _changes(spark: SparkSession, ref: TableRef, start: int, end: int) -> DataFrame:
    reader = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start).option("endingVersion", end)
    return reader.load(ref.text) if ref.is_path else reader.table(ref.text)


def _cdf_on(snapshot: Snapshot) -> bool:
    from delta.tables import DeltaTable

    spark = snapshot.df.sparkSession
    table = DeltaTable.forPath(spark, snapshot.ref.text) if snapshot.ref.is_path else DeltaTable.forName(spark, snapshot.ref.text)
    properties = table.detail().select("properties").first()[0] or {}
    return str(properties.get("delta.enableChangeDataFeed", "false")).lower() == "true"


def bucket_range(start: datetime, end: datetime, step: timedelta, unit_start: datetime) -> list[datetime]:
    """Bucket starts from the bucket holding ``unit_start`` up to ``end`` (inclusive)."""
    out, b = [], unit_start
    while b <= end:
        out.append(b)
        b += step
    return out


def plan_scope(
    spark: SparkSession,
    cfg: MonitorConfig,
    predictions: Snapshot,
    labels: Snapshot,
    as_of: datetime,
    mode: str,
    top: dict[str, tuple[str, ...]],
) -> Scope:
    """Decide full or incremental, and in the latter case find the affected buckets."""
    if mode == "full":
        return Scope("full", None, "full refresh requested")
    mark = last_watermark(spark, cfg)
    if mark is None:
        return Scope("full", None, "first run of this monitor")
    if mark.config_hash != cfg.source_hash:
        return Scope("full", None, "config changed since the last run")
    if cfg.labels.join.mode == "entity_horizon":
        return Scope("full", None, "entity_horizon joins are recomputed in full")
    if as_of < mark.as_of:
        return Scope("full", None, f"as_of moved back from {mark.as_of:%Y-%m-%dT%H:%M:%S}")
    for snap, version in ((predictions, mark.predictions_version), (labels, mark.labels_version)):
        if snap.version < version:
            return Scope("full", None, f"{snap.ref.text} is older than the last run read (restored?)")
        if snap.version > version and not _cdf_on(snap):
            return Scope("full", None, f"change data feed is off on {snap.ref.text}")
    if _segments_changed(spark, cfg, top):
        return Scope("full", None, "the top segment values changed")
    try:
        buckets, orphans = _affected_buckets(spark, cfg, predictions, labels, as_of, mark)
    except Exception as e:  # noqa: BLE001  (e.g. change data vacuumed: recompute everything)
        if "change" not in str(e).lower() and "cdc" not in str(e).lower():
            raise
        return Scope("full", None, f"change data feed unavailable: {str(e).splitlines()[0][:200]}")
    return Scope("incremental", tuple(buckets), f"{len(buckets)} buckets changed", orphan_labels=orphans)


def _segments_changed(spark: SparkSession, cfg: MonitorConfig, top: dict[str, tuple[str, ...]]) -> bool:
    """True when a column's top values differ from those the stored states were built with."""
    if not top:
        return False
    stats = cfg.output.table("perf_stats")
    if not table_exists(spark, stats):
        return True
    stored: dict[str, set[str]] = {c: set() for c in top}
    rows = (
        read_table(spark, stats)
        .filter((F.col("monitor") == cfg.name) & F.col("slice_key").isin(*top) & ~F.col("slice_value").isin(OTHER, NULL))
        .select("slice_key", "slice_value")
        .distinct()
        .collect()
    )
    for row in rows:
        stored[row["slice_key"]].add(row["slice_value"])
    return any(stored[c] != set(values) for c, values in top.items())


def _affected_buckets(spark, cfg, predictions: Snapshot, labels: Snapshot, as_of: datetime, mark: Watermark):
    p, lab = cfg.predictions, cfg.labels
    unit_ts = truncate(cfg, F.col(p.timestamp).cast("timestamp"))
    ids: list[DataFrame] = []
    buckets: list[DataFrame] = []
    if predictions.version > mark.predictions_version:
        changed = _changes(spark, predictions.ref, mark.predictions_version + 1, predictions.version)
        buckets.append(changed.select(unit_ts.alias("bucket")))
        ids.append(changed.select(F.col(p.id).cast("string").alias("_id"), F.lit(False).alias("_label")))
    if labels.version > mark.labels_version:
        changed = _changes(spark, labels.ref, mark.labels_version + 1, labels.version)
        ids.append(changed.select(F.col(lab.id).cast("string").alias("_id"), F.lit(True).alias("_label")))
    if as_of > mark.as_of:
        arrived = labels.df.filter(F.col(lab.timestamp).cast("timestamp").between(F.lit(mark.as_of), F.lit(as_of)))
        ids.append(arrived.select(F.col(lab.id).cast("string").alias("_id"), F.lit(False).alias("_label")))
    orphans = 0
    if ids:
        touched = ids[0]
        for more in ids[1:]:
            touched = touched.unionByName(more)
        touched = touched.groupBy("_id").agg(F.max("_label").alias("_label"), F.count(F.lit(1)).alias("_events"))
        times = predictions.df.select(F.col(p.id).cast("string").alias("_id"), unit_ts.alias("bucket"))
        joined = touched.join(times, "_id", "left")
        buckets.append(joined.filter(F.col("bucket").isNotNull()).select("bucket"))
        orphan_rows = joined.filter(F.col("bucket").isNull() & F.col("_label")).agg(F.count(F.lit(1))).first()
        orphans = int(orphan_rows[0] or 0)
    found: set[datetime] = set()
    if buckets:
        union = buckets[0]
        for more in buckets[1:]:
            union = union.unionByName(more)
        found = {r["bucket"] for r in union.filter(F.col("bucket").isNotNull() & (F.col("bucket") <= F.lit(as_of))).distinct().collect()}
    if as_of > mark.as_of:
        first = spark.range(1).select(truncate(cfg, F.lit(mark.as_of).cast("timestamp")).alias("b")).first()["b"]
        found |= set(bucket_range(mark.as_of, as_of, cfg.windows.granularity.delta, first))
    return sorted(found), orphans


def bucket_filter(ts: Column, buckets: tuple[datetime, ...], step: timedelta) -> Column:
    """Rows whose timestamp falls in one of the buckets, as few ts ranges as possible (so that
    Delta's file statistics and partition pruning apply)."""
    ranges: list[list[datetime]] = []
    for b in sorted(buckets):
        if ranges and ranges[-1][1] == b:
            ranges[-1][1] = b + step
        else:
            ranges.append([b, b + step])
    condition = F.lit(False)
    for start, end in ranges:
        condition = condition | ((ts >= F.lit(start)) & (ts < F.lit(end)))
    return condition
