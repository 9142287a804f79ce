"""Label resolution as of ``as_of`` (SPEC §3), by prediction id.

A label event is eligible for its prediction when it arrived at or before as_of (rows after as_of
were already left out by ingest) and no later than prediction time + ``max_delay``. The label of a
prediction is its eligible event with the greatest label timestamp; ties go to the greatest label
value so that the choice is deterministic. Buckets stay on prediction time: a late label goes back
to the window of its prediction.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest import REASON, Validated

STATUS = "_status"  # eligible | late | orphan | quarantined


def annotate_labels(cfg: MonitorConfig, labels: Validated, predictions: DataFrame, drop_unmatched: bool = False) -> Validated:
    """Add ``_status`` to each label event and the ``label_before_prediction`` reason.

    Args:
        predictions: usable predictions (unique ``_id``) with their ``_ts``.
        drop_unmatched: keep only events of these predictions (a run over some buckets only,
            where an unmatched event belongs to another bucket rather than to no prediction).
    """
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
    return Validated(df=df.withColumn(STATUS, status), raw_columns=labels.raw_columns)


def attach_labels(predictions: DataFrame, labels: Validated) -> DataFrame:
    """Predictions with ``_y``: the resolved label (0/1), or null where none is usable yet."""
    latest = (
        labels.df.filter(F.col(STATUS) == "eligible")
        .groupBy("_id")
        .agg(F.max(F.struct("_label_ts", "_y")).alias("_latest"))
        .select("_id", F.col("_latest._y").alias("_y"))
    )
    return predictions.join(latest, on="_id", how="left")
