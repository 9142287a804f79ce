"""Label resolution as of ``as_of`` (SPEC §3), by prediction id or by entity and horizon.

By prediction id: a label event is eligible for its prediction when it arrived at or before as_of (rows after as_of
were already left out by ingest) and no later than prediction time + ``max_delay``. The label of a
prediction is its eligible event with the greatest label timestamp; ties go to the greatest label
value so that the choice is deterministic. Buckets stay on prediction time: a late label goes back
to the window of its prediction.

By entity and horizon (``labels.join.mode: entity_horizon``): label rows are outcome events of an
entity; a prediction is positive when an event of its entity with the positive label falls in
(prediction time, prediction time + horizon] and at or before as_of, negative once the horizon has
passed without one, and unlabeled until then.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest import REASON, RECORD, Validated, record_of

STATUS = "_status"  # eligible | late | orphan | quarantined


def annotate_labels(cfg: MonitorConfig, labels: Validated, predictions: DataFrame, drop_unmatched: bool = False) -> Validated:
    """Add ``_status`` to each label event and the ``label_before_prediction`` reason.

    Args:
        predictions: usable predictions (unique ``_id``) with their ``_ts``.
        drop_unmatched: keep only events of these predictions (a run over some buckets only,
            where an unmatched event belongs to another bucket rather than to no prediction).
    """
    if cfg.labels.join.mode == "entity_horizon":
        return _narrow(_annotate_events(labels, predictions))
    times = predictions.select("_id", F.col("_ts").alias("_pred_ts"))
    df = labels.df.join(times, on="_id", how="inner" if drop_unmatched else "left")
    deadline = F.col("_pred_ts") + F.expr(f"INTERVAL {cfg.labels.max_delay.seconds} SECONDS")
    before = F.col(REASON).isNull() & F.col("_pred_ts").isNotNull() & (F.col("_label_ts") < F.col("_pred_ts"))
    df = df.withColumn(REASON, F.when(before, F.lit("label_before_prediction")).otherwise(F.col(REASON)))
    status = (
        F.when(F.col(REASON).isNotNull(), F.lit("quarantined"))
        .when(F.col("_pred_ts").isNull(), F.lit("orphan"))
        .when(F.col("_label_ts") > deadline, F.lit("late"))
        .otherwise(F.lit("eligible"))
    )
    return _narrow(Validated(df=df.withColumn(STATUS, status), raw_columns=labels.raw_columns))


def _narrow(labels: Validated) -> Validated:
    """Only what later steps read (the frame is cached at input scale); a bad row keeps its
    original values as JSON for the quarantine table."""
    df = labels.df.select("_id", "_label_ts", "_y", STATUS, REASON, record_of(labels.raw_columns).alias(RECORD))
    return Validated(df=df, raw_columns=labels.raw_columns)


def _annotate_events(events: Validated, predictions: DataFrame) -> Validated:
    """Entity events: quarantined, orphan (no prediction has the entity) or eligible."""
    known = predictions.select(F.col("_entity").alias("_id")).distinct().withColumn("_known", F.lit(True))
    df = events.df.join(known, on="_id", how="left")
    status = (
        F.when(F.col(REASON).isNotNull(), F.lit("quarantined"))
        .when(F.col("_known").isNull(), F.lit("orphan"))
        .otherwise(F.lit("eligible"))
    )
    return Validated(df=df.withColumn(STATUS, status).drop("_known"), raw_columns=events.raw_columns)


def attach_labels(cfg: MonitorConfig, predictions: DataFrame, labels: Validated, as_of: datetime) -> DataFrame:
    """Predictions with ``_y``: the resolved label, or null where none is usable yet."""
    if cfg.labels.join.mode == "entity_horizon":
        return _attach_outcomes(cfg, predictions, labels, as_of)
    latest = (
        labels.df.filter(F.col(STATUS) == "eligible")
        .groupBy("_id")
        .agg(F.max(F.struct("_label_ts", "_y")).alias("_latest"))
        .select("_id", F.col("_latest._y").alias("_y"))
    )
    return predictions.join(latest, on="_id", how="left")


def _attach_outcomes(cfg: MonitorConfig, predictions: DataFrame, events: Validated, as_of: datetime) -> DataFrame:
    horizon = F.expr(f"INTERVAL {cfg.labels.join.horizon.seconds} SECONDS")
    positive = events.df.filter((F.col(STATUS) == "eligible") & (F.col("_y") == 1)).select(
        F.col("_id").alias("_entity"), F.col("_label_ts").alias("_event_ts")
    )
    hits = (
        predictions.select("_id", "_entity", "_ts")
        .join(positive, "_entity")
        .filter((F.col("_event_ts") > F.col("_ts")) & (F.col("_event_ts") <= F.col("_ts") + horizon))
        .select("_id")
        .distinct()
        .withColumn("_hit", F.lit(1))
    )
    y = F.when(F.col("_hit") == 1, F.lit(1)).when(F.col("_ts") + horizon <= F.lit(as_of), F.lit(0))
    return predictions.join(hits, "_id", "left").withColumn("_y", y.cast("int")).drop("_hit")
