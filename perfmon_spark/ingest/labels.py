"""Label resolution as of ``as_of`` (SPEC §3), by prediction id or by entity and horizon.

Both joins return *resolved rows*: every prediction row and every label row of the run, in one
frame, each with ``_kind`` (0 prediction, 1 label), ``_status`` and ``_reason`` (null, or why the
row goes to quarantine), ``_record`` (a bad row's original values as JSON) and ``_y`` (for a
usable prediction, its resolved label; null while it has none). One aggregation over this frame
gives the states, the counts of the ``runs`` row and the quarantined rows (``states.build``).

By prediction id: a label event is eligible for its prediction when it arrived at or before as_of
(rows after as_of were already left out by ingest) and no later than prediction time +
``max_delay``. The label of a prediction is its eligible event with the greatest label timestamp;
ties go to the greatest label value so that the choice is deterministic. Buckets stay on
prediction time: a late label goes back to the window of its prediction.

By entity and horizon (``labels.join.mode: entity_horizon``): label rows are outcome events of an
entity; a prediction is positive when an event of its entity with the positive label falls in
(prediction time, prediction time + horizon] and at or before as_of, negative once the horizon has
passed without one, and unlabeled until then.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.buckets import seconds
from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest.columns import DELAY, ENTITY, ID, KIND, LABEL_TS, REASON, RECORD, STATUS, TS, RowKind, Y
from perfmon_spark.ingest.validate import (
    derive_predictions,
    duplicate_reason,
    prediction_columns,
    prediction_key,
    preference,
    record_of,
    row_struct,
    validate_labels,
    validate_predictions,
)
from perfmon_spark.vocabulary import Reason, RowStatus

PREDICTION, LABEL = RowKind.PREDICTION, RowKind.LABEL
# Working columns of the window functions over one id.
_PRED_TS = "_pred_ts"  # the time of the id's kept prediction
_LABEL_REASON, _LABEL_RAW = "_label_reason", "_label_raw"


def resolve(
    cfg: MonitorConfig, predictions: DataFrame, labels: DataFrame, as_of: datetime, partial: bool = False
) -> DataFrame:
    """Resolved rows (see the module docstring) of visible predictions and raw label rows.

    Args:
        partial: the predictions are those of some buckets only; a label event without one of
            them belongs to another bucket rather than to no prediction, and is left out.
    """
    if cfg.labels.join.mode == "entity_horizon":
        return _resolve_by_entity(cfg, predictions, labels, as_of)
    return _resolve_by_id(cfg, predictions, labels, as_of, partial)


def _resolve_by_id(
    cfg: MonitorConfig, predictions: DataFrame, labels: DataFrame, as_of: datetime, partial: bool
) -> DataFrame:
    """Prediction and label rows meet in one shuffle on the id; window functions over each id then
    pick the kept prediction, classify its label events and pick its label. The shuffle carries the
    raw columns (a bad row is quarantined as it was read); normalised columns are derived after it."""
    raw = tuple(predictions.columns)
    label_rows = validate_labels(cfg, labels, as_of)
    rows = predictions.withColumns({KIND: F.lit(PREDICTION), ID: prediction_key(cfg)}).unionByName(
        label_rows.df.select(
            F.lit(LABEL).alias(KIND),
            ID,
            LABEL_TS,
            Y,
            F.col(REASON).alias(_LABEL_REASON),
            row_struct(label_rows.raw_columns).alias(_LABEL_RAW),
        ),
        allowMissingColumns=True,
    )
    rows = derive_predictions(cfg, rows.repartition(ID))
    is_prediction = F.col(KIND) == PREDICTION
    rows = rows.withColumn(REASON, F.when(is_prediction, F.col(REASON)).otherwise(F.col(_LABEL_REASON)))
    ordered = Window.partitionBy(ID).orderBy(KIND, *preference(rows))
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    valid = is_prediction & F.col(REASON).isNull()
    rows = rows.withColumns(
        {
            "_rank": F.row_number().over(ordered),
            _PRED_TS: F.first(F.when(valid, F.col(TS)), ignorenulls=True).over(whole),
        }
    )
    rows = rows.withColumn(REASON, duplicate_reason(valid, F.col("_rank")))
    reason, status = _label_status(cfg)
    rows = rows.withColumn(REASON, F.when(is_prediction, F.col(REASON)).otherwise(reason))
    rows = rows.withColumn(STATUS, F.when(is_prediction, _prediction_status()).otherwise(status))
    if partial:
        rows = rows.filter(is_prediction | F.col(_PRED_TS).isNotNull())
    # Over the id alone: the order is irrelevant to a max, and an order naming the rewritten
    # _reason would make Spark sort every row a second time.
    latest = F.max(F.when(F.col(STATUS) == RowStatus.ELIGIBLE, F.struct(LABEL_TS, Y))).over(Window.partitionBy(ID))
    record = F.when(is_prediction, F.to_json(row_struct(raw))).otherwise(F.to_json(F.col(_LABEL_RAW)))
    return rows.select(
        KIND,
        *prediction_columns(cfg, rows, raw),
        F.when(is_prediction, latest[Y]).otherwise(F.col(Y)).alias(Y),
        STATUS,
        REASON,
        F.when(F.col(REASON).isNotNull(), record).alias(RECORD),
        _delay_minutes().alias(DELAY),
        LABEL_TS,  # a label row's arrival: the run's latest tells whether labels still arrive
    )


def _delay_minutes() -> Column:
    """A label event's delay after its id's kept prediction, in whole minutes (floored), for the
    events measured in ``runs.label_delay``: eligible and late ones. Minutes bound the distinct
    delays the one aggregation groups by (a day has 1,440) while keeping the quantiles exact to a
    minute."""
    measured = F.col(STATUS).isin(RowStatus.ELIGIBLE, RowStatus.LATE)
    micros = F.unix_micros(F.col(LABEL_TS)) - F.unix_micros(F.col(_PRED_TS))
    return F.when(measured, F.floor(micros / F.lit(60_000_000))).cast("long")


def _prediction_status() -> Column:
    return F.when(F.col(REASON).isNull(), F.lit(RowStatus.USABLE)).otherwise(F.lit(RowStatus.QUARANTINED))


def _label_status(cfg: MonitorConfig) -> tuple[Column, Column]:
    """(reason, status) of a label row given ``_pred_ts``, the time of its id's kept prediction."""
    deadline = F.col(_PRED_TS) + seconds(cfg.labels.max_delay.seconds)
    before = F.col(REASON).isNull() & F.col(_PRED_TS).isNotNull() & (F.col(LABEL_TS) < F.col(_PRED_TS))
    reason = F.when(before, F.lit(Reason.LABEL_BEFORE_PREDICTION)).otherwise(F.col(REASON))
    status = (
        F.when(reason.isNotNull(), F.lit(RowStatus.QUARANTINED))
        .when(F.col(_PRED_TS).isNull(), F.lit(RowStatus.ORPHAN))
        .when(F.col(LABEL_TS) > deadline, F.lit(RowStatus.LATE))
        .otherwise(F.lit(RowStatus.ELIGIBLE))
    )
    return reason, status


def _resolve_by_entity(cfg: MonitorConfig, predictions: DataFrame, labels: DataFrame, as_of: datetime) -> DataFrame:
    """Entity events: quarantined, orphan (no prediction has the entity) or eligible; each usable
    prediction's outcome over its horizon."""
    preds = validate_predictions(cfg, predictions)
    good = preds.df.filter(F.col(REASON).isNull())
    events = validate_labels(cfg, labels, as_of)
    known = good.select(F.col(ENTITY).alias(ID)).distinct().withColumn("_known", F.lit(True))
    events = events.df.join(known, on=ID, how="left").select(
        F.lit(LABEL).alias(KIND),
        ID,
        LABEL_TS,
        Y,
        F.when(F.col(REASON).isNotNull(), F.lit(RowStatus.QUARANTINED))
        .when(F.col("_known").isNull(), F.lit(RowStatus.ORPHAN))
        .otherwise(F.lit(RowStatus.ELIGIBLE))
        .alias(STATUS),
        REASON,
        record_of(events.raw_columns).alias(RECORD),
        F.lit(None).cast("long").alias(DELAY),  # an outcome event belongs to no one prediction
    )
    outcomes = _attach_outcomes(cfg, good, events, as_of)
    bad = preds.df.filter(F.col(REASON).isNotNull())
    prediction_rows = outcomes.unionByName(bad, allowMissingColumns=True).withColumns(
        {KIND: F.lit(PREDICTION), STATUS: _prediction_status()}
    )
    return prediction_rows.unionByName(events, allowMissingColumns=True)


def _attach_outcomes(cfg: MonitorConfig, predictions: DataFrame, events: DataFrame, as_of: datetime) -> DataFrame:
    horizon = seconds(cfg.labels.join.horizon.seconds)
    positive = events.filter((F.col(STATUS) == RowStatus.ELIGIBLE) & (F.col(Y) == 1)).select(
        F.col(ID).alias(ENTITY), F.col(LABEL_TS).alias("_event_ts")
    )
    hits = (
        predictions.select(ID, ENTITY, TS)
        .join(positive, ENTITY)
        .filter((F.col("_event_ts") > F.col(TS)) & (F.col("_event_ts") <= F.col(TS) + horizon))
        .select(ID)
        .distinct()
        .withColumn("_hit", F.lit(1))
    )
    y = F.when(F.col("_hit") == 1, F.lit(1)).when(F.col(TS) + horizon <= F.lit(as_of), F.lit(0))
    return predictions.join(hits, ID, "left").withColumn(Y, y.cast("int")).drop("_hit")
