"""The monitoring job: ``run_monitor`` is the one library call behind ``perfmon run`` and
``jobs/run_monitor.py``.

Order of work: read both inputs at pinned Delta versions and check their columns (an input error
stops the run before any write), validate rows, resolve labels as of, build bucket states, then
write quarantine, perf_stats, perf_metrics and finally the ``runs`` row. Every write is a MERGE on
the contract key that rewrites only changed rows, so a re-run with the same as_of leaves the
tables as they were, and a run killed half-way is repaired by running it again.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark import __version__
from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest import REASON, check_input_columns, quarantine_rows, validate_labels, validate_predictions
from perfmon_spark.io.tables import append, merge_into, read_snapshot, read_table
from perfmon_spark.labels import STATUS, annotate_labels, attach_labels
from perfmon_spark.session import get_spark
from perfmon_spark.states.build import KEY, bucket_states, top_segment_values
from perfmon_spark.states.layout import state_columns
from perfmon_spark.windows import METRIC_COLUMNS, WindowPlan, compute_metrics

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
    orphan_labels: int
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


def to_utc(ts: datetime) -> datetime:
    """Naive timestamps are read as UTC; aware ones are converted. Returned naive, in UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc)
    return ts.replace(tzinfo=None)


def run_monitor(cfg: MonitorConfig, as_of: datetime, mode: str = "incremental", spark: SparkSession | None = None) -> RunResult:
    """Run the monitor once as of ``as_of`` and write its tables.

    Args:
        cfg: the validated config.
        as_of: the instant the run sees: rows stamped later do not exist for it (UTC if naive).
        mode: ``incremental`` (default) or ``full``. This version always recomputes every bucket
            from the pinned inputs; both modes give the same tables.
        spark: a session to use; default: ``session.get_spark(cfg.spark)``.

    Raises:
        InputError: a missing input table or column, or an unusable column type (before any write).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    as_of = to_utc(as_of)
    spark = spark or get_spark(cfg.spark)
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    started_at = to_utc(datetime.now(timezone.utc))
    run_id = f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"

    predictions = read_snapshot(spark, cfg.predictions.table, "predictions")
    labels = read_snapshot(spark, cfg.labels.table, "labels")
    check_input_columns(cfg, predictions, labels)

    cached: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    try:
        preds = validate_predictions(cfg, predictions, as_of)
        keep(preds.df)
        good = preds.df.filter(F.col(REASON).isNull())
        labs = annotate_labels(cfg, validate_labels(cfg, labels, as_of), good)
        keep(labs.df)
        pred_counts = {r[REASON]: r["count"] for r in preds.df.groupBy(REASON).count().collect()}
        label_counts: dict[tuple, int] = {
            (r[STATUS], r[REASON]): r["count"] for r in labs.df.groupBy(STATUS, REASON).count().collect()
        }
        top = top_segment_values(good, cfg)
        states = keep(
            bucket_states(attach_labels(good, labs), cfg, top).select(
                F.lit(cfg.name).alias("monitor"), "*", F.lit(as_of).alias("as_of"), F.lit(run_id).alias("run_id")
            )
        )
        n_states = states.count()

        quarantine = quarantine_rows(preds, "predictions", cfg.name, run_id, as_of).unionByName(
            quarantine_rows(labs, "labels", cfg.name, run_id, as_of)
        )
        merge_into(quarantine, cfg.output.table("quarantine"), QUARANTINE_KEY, insert_only=True)
        scope = f"t.monitor = '{cfg.name}'"
        state_fields = ("bucket_end", *state_columns(cfg.problem_type), "state_version")
        merge_into(states, cfg.output.table("perf_stats"), STATS_KEY, compare=state_fields, delete_scope=scope)

        stats = read_table(spark, cfg.output.table("perf_stats")).filter(F.col("monitor") == cfg.name)
        metrics = keep(
            compute_metrics(stats, WindowPlan.from_config(cfg, as_of)).select(
                F.lit(cfg.name).alias("monitor"), "*", F.lit(as_of).alias("as_of"), F.lit(run_id).alias("run_id")
            )
        )
        values = tuple(c for c, _ in METRIC_COLUMNS if c not in METRICS_KEY)
        written = merge_into(metrics, cfg.output.table("perf_metrics"), METRICS_KEY, compare=values, delete_scope=scope)
    finally:
        for df in cached:
            df.unpersist()

    result = RunResult(
        run_id=run_id,
        monitor=cfg.name,
        as_of=as_of,
        started_at=started_at,
        finished_at=to_utc(datetime.now(timezone.utc)),
        status="SUCCEEDED",
        mode="full" if mode == "full" else "incremental",
        predictions_version=predictions.version,
        labels_version=labels.version,
        rows_read_predictions=sum(pred_counts.values()),
        rows_read_labels=sum(label_counts.values()),
        rows_quarantined=sum(n for r, n in pred_counts.items() if r) + sum(n for (s, _), n in label_counts.items() if s == "quarantined"),
        orphan_labels=sum(n for (s, _), n in label_counts.items() if s == "orphan"),
        late_labels_ignored=sum(n for (s, _), n in label_counts.items() if s == "late"),
        buckets_recomputed=n_states,
        metric_rows_written=written,
        config_hash=cfg.source_hash,
        package_version=__version__,
        message="",
    )
    append(spark.createDataFrame([tuple(asdict(result).values())], RUNS_SCHEMA), cfg.output.table("runs"))
    return result
