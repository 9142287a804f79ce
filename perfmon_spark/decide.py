"""``perfmon decide``: the current retrain decision of each model version, for orchestrators."""

from __future__ import annotations

import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import MODEL_STATUS, RETRAIN_DECISIONS, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows


def latest_decisions(spark: SparkSession, cfg: MonitorConfig, model_version: str | None = None) -> list[dict]:
    """Per version, the decision of the run that set its ``model_status`` (the same as_of), as
    JSON-ready dicts (as_of in ISO-8601 UTC).

    Paired on the status's as_of rather than each version's newest decision: a version that has
    gone INACTIVE (no prediction within ``retrain.inactive_after``) gets no decision from the
    runs that find it so, and its newest one, from while it was active, would otherwise stay in
    ``decide``, ``status`` and the report for ever (a stale RETRAIN would keep ``decide`` at 10).

    Raises:
        InputError: no retrain_decisions (or model_status) table yet, or no decision for
            ``model_version``.
    """
    lake = Lake(spark, cfg)
    for table in (RETRAIN_DECISIONS, MODEL_STATUS):
        if not lake.exists(table):
            raise InputError(
                f"{table.name} table {lake.ref(table).text!r} does not exist: configure alerts: and run 'perfmon run' first"
            )
    rows = lake.read(RETRAIN_DECISIONS)
    if model_version is not None:
        rows = rows.filter(F.col(C.model_version) == model_version)
    current = lake.read(MODEL_STATUS).select(C.model_version, C.as_of)
    decisions = collect_rows(
        rows.join(current, [C.model_version, C.as_of]).withColumn(
            C.as_of, F.date_format(C.as_of, "yyyy-MM-dd'T'HH:mm:ss'Z'")
        ),
        [(c, "string" if c == C.as_of else t) for c, t in RETRAIN_DECISIONS.schema],
    )
    if model_version is not None and not decisions:
        raise InputError(
            f"retrain_decisions table {lake.ref(RETRAIN_DECISIONS).text!r}: no current decision for model_version "
            f"{model_version!r} (an INACTIVE version gets none)"
        )
    for d in decisions:
        d[C.evidence] = json.loads(d[C.evidence]) if d[C.evidence] else None
    return sorted(decisions, key=lambda d: d[C.model_version])
