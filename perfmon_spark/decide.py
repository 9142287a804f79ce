"""``perfmon decide``: the latest retrain decision of each model version, for orchestrators."""

from __future__ import annotations

import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import RETRAIN_DECISIONS
from perfmon_spark.io.rows import collect_rows
from perfmon_spark.io.tables import read_table, table_exists


def latest_decisions(spark: SparkSession, cfg: MonitorConfig, model_version: str | None = None) -> list[dict]:
    """Per version, the decision of the latest as_of, as JSON-ready dicts (as_of in ISO-8601 UTC).

    Raises:
        InputError: no retrain_decisions table yet, or no decision for ``model_version``.
    """
    ref = cfg.output.table(RETRAIN_DECISIONS.name)
    if not table_exists(spark, ref):
        raise InputError(
            f"retrain_decisions table {ref.text!r} does not exist: configure alerts: and run 'perfmon run' first"
        )
    rows = read_table(spark, ref).filter(F.col("monitor") == cfg.name)
    if model_version is not None:
        rows = rows.filter(F.col("model_version") == model_version)
    latest = Window.partitionBy("model_version").orderBy(F.desc("as_of"), F.desc("run_id"))
    rows = rows.withColumn("_r", F.row_number().over(latest)).filter(F.col("_r") == 1)
    decisions = collect_rows(
        rows.withColumn("as_of", F.date_format("as_of", "yyyy-MM-dd'T'HH:mm:ss'Z'")),
        [(c, "string" if c == "as_of" else t) for c, t in RETRAIN_DECISIONS.schema],
    )
    if model_version is not None and not decisions:
        raise InputError(f"retrain_decisions table {ref.text!r}: no decision for model_version {model_version!r}")
    for d in decisions:
        d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else None
    return sorted(decisions, key=lambda d: d["model_version"])
