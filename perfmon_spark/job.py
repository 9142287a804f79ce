"""The monitoring job: ``run_monitor`` is the one library call behind ``perfmon run`` and
``jobs/run_monitor.py``.

Order of work: read both inputs at pinned Delta versions and check their columns (an input error
stops the run before any write), validate rows, resolve labels as of, build bucket states, then
write quarantine, perf_stats, perf_metrics and finally the ``runs`` row. Every write is a MERGE on
the contract key that rewrites only changed rows, so a re-run with the same as_of leaves the
tables as they were, and a run killed half-way is repaired by running it again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark import __version__
from perfmon_spark.alerts.baseline import check_baseline_table
from perfmon_spark.alerts.stage import run_alerting
from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import ConfigError
from perfmon_spark.incremental import Scope, bucket_filter, feed_warning, plan_scope, segment_values
from perfmon_spark.ingest import (
    REASON,
    RECORD,
    check_input_columns,
    check_label_sample,
    require_known_labels,
    visible_predictions,
)
from perfmon_spark.io.tables import append, merge_into, read_snapshot, read_table, table_exists
from perfmon_spark.labels import KIND, LABEL, PREDICTION, STATUS, resolve
from perfmon_spark.session import get_spark, prepare_session
from perfmon_spark.states.build import aggregate_rows, bucket_states
from perfmon_spark.states.cells import KEY, binning, cell_counts
from perfmon_spark.states.layout import state_columns
from perfmon_spark.windows import METRIC_COLUMNS, WindowPlan, compute_metrics

LOG = logging.getLogger("perfmon_spark")
MODES = ("full", "incremental")
STATS_KEY = ("monitor",) + KEY
METRICS_KEY = ("monitor", "model_version", "slice_key", "slice_value", "window", "window_start", "metric")
QUARANTINE_KEY = ("monitor", "source", "reason", "record_hash")


@dataclass(frozen=True)
class RunResult:
    """What one run read and wrote: the ``runs`` row, as returned to the caller."""

    run_id: str
    monitor: str
    as_of: datetime
    started_at: datetime
    finished_at: datetime
    status: str
    mode: str
    predictions_version: int
    labels_version: int
    rows_read_predictions: int
    rows_read_labels: int
    rows_quarantined: int
    orphan_labels: int | None
    late_labels_ignored: int
    buckets_recomputed: int
    metric_rows_written: int
    config_hash: str
    package_version: str
    message: str


RUNS_SCHEMA = (
    "run_id string, monitor string, as_of timestamp, started_at timestamp, finished_at timestamp, "
    "status string, mode string, predictions_version long, labels_version long, "
    "rows_read_predictions long, rows_read_labels long, rows_quarantined long, orphan_labels long, "
    "late_labels_ignored long, buckets_recomputed long, metric_rows_written long, config_hash string, "
    "package_version string, message string"
)


@dataclass(frozen=True)
class Counts:
    """Rows of the run by (kind, status, reason), from the one aggregation."""

    rows: tuple[tuple[int, str, str | None, int], ...]

    @classmethod
    def of(cls, aggregated: DataFrame) -> Counts:
        grouped = aggregated.groupBy(KIND, STATUS, REASON).agg(F.sum("_n").alias("n")).collect()
        return cls(tuple((r[KIND], r[STATUS], r[REASON], r["n"]) for r in grouped))

    def _sum(self, kind: int | None = None, status: str | None = None) -> int:
        return sum(n for k, s, _, n in self.rows if kind in (None, k) and status in (None, s))

    @property
    def predictions(self) -> int:
        return self._sum(kind=PREDICTION)

    @property
    def labels(self) -> int:
        return self._sum(kind=LABEL)

    @property
    def quarantined(self) -> int:
        return self._sum(status="quarantined")

    @property
    def bad_labels(self) -> int:
        return sum(n for k, _, reason, n in self.rows if k == LABEL and reason == "bad_label")

    def of_status(self, status: str) -> int:
        return self._sum(kind=LABEL, status=status)


def quarantine_rows(aggregated: DataFrame, monitor: str, run_id: str, as_of: datetime) -> DataFrame:
    """Bad rows (one group each in the aggregation) in the ``quarantine`` table's shape."""
    record = F.col(RECORD)
    return aggregated.filter(record.isNotNull()).select(
        F.lit(monitor).alias("monitor"),
        F.when(F.col(KIND) == PREDICTION, F.lit("predictions")).otherwise(F.lit("labels")).alias("source"),
        F.col(REASON).alias("reason"),
        record.alias("record"),
        F.col("_rid").alias("record_id"),
        F.sha2(record, 256).alias("record_hash"),
        F.lit(run_id).alias("first_seen_run"),
        F.lit(as_of).cast("timestamp").alias("as_of"),
    )


def to_utc(ts: datetime) -> datetime:
    """Naive timestamps are read as UTC; aware ones are converted. Returned naive, in UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc)
    return ts.replace(tzinfo=None)


def run_monitor(
    cfg: MonitorConfig,
    as_of: datetime,
    mode: str = "incremental",
    spark: SparkSession | None = None,
    backfill: tuple[datetime, datetime] | None = None,
) -> RunResult:
    """Run the monitor once as of ``as_of`` and write its tables.

    Args:
        cfg: the validated config.
        as_of: the instant the run sees: rows stamped later do not exist for it (UTC if naive).
        mode: ``incremental`` (default: recompute only the buckets touched since the last run,
            see ``incremental.plan_scope``) or ``full`` (recompute every bucket).
        spark: a session to use; default: ``session.get_spark(cfg.spark)``.
        backfill: recompute the buckets starting in [from, to) from raw rows instead.

    Raises:
        InputError: a missing input table or column, or an unusable column type (before any write).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    as_of = to_utc(as_of)
    spark = spark or get_spark(cfg.spark)
    prepare_session(spark)
    started_at = to_utc(datetime.now(timezone.utc))
    run_id = f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"

    predictions = read_snapshot(spark, cfg.predictions.table, "predictions")
    labels = read_snapshot(spark, cfg.labels.table, "labels")
    check_input_columns(cfg, predictions, labels)
    check_baseline_table(spark, cfg)
    warning = feed_warning(predictions, labels)
    if warning is not None:
        LOG.warning(warning)
    base = {
        "run_id": run_id,
        "monitor": cfg.name,
        "as_of": as_of,
        "started_at": started_at,
        "predictions_version": predictions.version,
        "labels_version": labels.version,
        "config_hash": cfg.source_hash,
        "package_version": __version__,
    }
    try:
        result = _compute_and_write(spark, cfg, as_of, mode, backfill, predictions, labels, run_id, base)
    except Exception as e:
        _record_failure(spark, cfg, base, e)
        raise
    append(spark.createDataFrame([tuple(asdict(result).values())], RUNS_SCHEMA), cfg.output.table("runs"))
    return result


def _record_failure(spark: SparkSession, cfg: MonitorConfig, base: dict, error: Exception) -> None:
    """Best effort: a FAILED row in ``runs`` (only where the table already exists, so that a run
    failing before its first write leaves no table behind). It never moves the watermark."""
    ref = cfg.output.table("runs")
    try:
        if not table_exists(spark, ref):
            return
        row = RunResult(
            **base,
            finished_at=to_utc(datetime.now(timezone.utc)),
            status="FAILED",
            mode="unknown",
            rows_read_predictions=0,
            rows_read_labels=0,
            rows_quarantined=0,
            orphan_labels=0,
            late_labels_ignored=0,
            buckets_recomputed=0,
            metric_rows_written=0,
            message=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:1000],
        )
        append(spark.createDataFrame([tuple(asdict(row).values())], RUNS_SCHEMA), ref)
    except Exception:  # noqa: BLE001  (the original error is what the user must see)
        pass


def _compute_and_write(spark, cfg, as_of, mode, backfill, predictions, labels, run_id, base) -> RunResult:
    visible = visible_predictions(cfg, predictions, as_of)
    if backfill is not None:
        scope = backfill_scope(cfg, *backfill, as_of)
    else:
        scope = plan_scope(spark, cfg, predictions, labels, as_of, mode)
    cached: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    try:
        # Persisting is lazy: the cell counts of every visible row are scanned only when used (a
        # full run, or a partial one that must rank the values again), and then only once.
        all_cells = keep(cell_counts(visible, cfg))
        scoped = keep(cell_counts(_in_scope(cfg, visible, scope), cfg)) if scope.is_partial else all_cells
        top, scope = segment_values(spark, cfg, all_cells, scoped, scope)
        cells = scoped if scope.is_partial else all_cells  # a partial run may have turned full
        visible = _in_scope(cfg, visible, scope)
        label_rows = labels.df
        if scope.is_partial:
            start = min(scope.buckets) if scope.buckets else as_of
            label_rows = label_rows.filter(F.col(cfg.labels.timestamp).cast("timestamp") >= F.lit(start))
        rows = resolve(cfg, visible, label_rows, as_of, partial=scope.is_partial)
        binned = binning(cells, cfg, top)
        aggregated = keep(aggregate_rows(rows, cfg, top, binned))
        counts = Counts.of(aggregated)
        require_known_labels(cfg, labels, counts.bad_labels, counts.labels)
        states = keep(
            bucket_states(aggregated, cfg, binned).select(
                F.lit(cfg.name).alias("monitor"), "*", F.lit(as_of).alias("as_of"), F.lit(run_id).alias("run_id")
            )
        )
        recomputes = scope.buckets != ()  # a partial run may find no bucket to recompute
        n_states = states.count() if recomputes else 0
        if counts.quarantined:
            merge_into(
                quarantine_rows(aggregated, cfg.name, run_id, as_of),
                cfg.output.table("quarantine"),
                QUARANTINE_KEY,
                insert_only=True,
            )
        if recomputes:
            owned = f"t.monitor = '{cfg.name}'"
            if scope.is_partial:
                listed = ", ".join(f"TIMESTAMP'{b:%Y-%m-%d %H:%M:%S}'" for b in scope.buckets)
                owned += f" AND t.bucket_start IN ({listed})"
            state_fields = (
                "bucket_end",
                *state_columns(cfg.problem_type, tuple(k.name for k in cfg.kpis)),
                "state_version",
            )
            merge_into(states, cfg.output.table("perf_stats"), STATS_KEY, compare=state_fields, delete_scope=owned)

        stats = read_table(spark, cfg.output.table("perf_stats")).filter(F.col("monitor") == cfg.name)
        metrics = compute_metrics(stats, WindowPlan.from_config(cfg, as_of)).select(
            F.lit(cfg.name).alias("monitor"), "*", F.lit(as_of).alias("as_of"), F.lit(run_id).alias("run_id")
        )
        values = tuple(c for c, _ in METRIC_COLUMNS if c not in METRICS_KEY)
        written = merge_into(
            metrics,
            cfg.output.table("perf_metrics"),
            METRICS_KEY,
            compare=values,
            delete_scope=f"t.monitor = '{cfg.name}'",
        )
    finally:
        for df in cached:
            df.unpersist()

    message = scope.reason
    if cfg.decides:
        alerting = run_alerting(spark, cfg, as_of, run_id)
        message += (
            f"; alerts: {alerting.open_alerts} open, {alerting.events} events, {alerting.undelivered} undelivered; "
            f"retrain: {', '.join(alerting.retrain) or 'none'}"
        )
    return RunResult(
        **base,
        finished_at=to_utc(datetime.now(timezone.utc)),
        status="SUCCEEDED",
        mode=scope.mode,
        rows_read_predictions=counts.predictions,
        rows_read_labels=counts.labels,
        rows_quarantined=counts.quarantined,
        orphan_labels=None if scope.is_partial else counts.of_status("orphan"),
        late_labels_ignored=counts.of_status("late"),
        buckets_recomputed=n_states,
        metric_rows_written=written,
        message=message,
    )


def _in_scope(cfg: MonitorConfig, visible: DataFrame, scope: Scope) -> DataFrame:
    """The visible predictions of the buckets a run recomputes."""
    if not scope.is_partial:
        return visible
    return visible.filter(
        bucket_filter(F.col(cfg.predictions.timestamp).cast("timestamp"), scope.buckets, cfg.windows.granularity.delta)
    )


def backfill_scope(cfg: MonitorConfig, start: datetime, end: datetime, as_of: datetime) -> Scope:
    """Every bucket starting in [start, end), as a partial scope."""
    if end <= start:
        raise ConfigError(f"--to {end:%Y-%m-%d} must be after --from {start:%Y-%m-%d}")
    step = cfg.windows.granularity.delta
    first = start
    if cfg.windows.granularity.text == "1 week":
        first = start - timedelta(days=start.weekday())
    first = first.replace(minute=0, second=0, microsecond=0)
    if cfg.windows.granularity.text != "1 hour":
        first = first.replace(hour=0)
    buckets = []
    b = first
    while b < end:
        if b >= start or cfg.windows.granularity.text == "1 week":
            buckets.append(b)
        b += step
    return Scope(
        "backfill", tuple(buckets), f"backfill of {len(buckets)} buckets in [{start:%Y-%m-%d}, {end:%Y-%m-%d})"
    )


def check_tables(cfg: MonitorConfig, spark: SparkSession | None = None) -> list[str]:
    """What ``perfmon validate --check-tables`` checks, without running the job: the inputs'
    columns and types, a sample of label values, the baseline table. Returns warnings.

    Raises:
        InputError: the first problem found.
    """
    spark = spark or get_spark(cfg.spark)
    predictions = read_snapshot(spark, cfg.predictions.table, "predictions")
    labels = read_snapshot(spark, cfg.labels.table, "labels")
    check_input_columns(cfg, predictions, labels)
    check_label_sample(cfg, labels)
    check_baseline_table(spark, cfg)
    warning = feed_warning(predictions, labels)
    return [] if warning is None else [warning]
