"""The floors a monitoring run is measured against, each run as its own process by
``bench_full_run.py``:

- ``counts`` (``--floor counts``, the default): read both Delta tables, keep the latest label per
  id as of, join, count per (version, slice, day) for the overall slice and each segment column,
  write the counts: the least work any such job must do;
- ``labels``: the simplest Spark SQL that does the label work the contract requires: de-duplicate
  predictions by id (the latest row), keep label events that arrived by as_of and within
  max_delay after their prediction, the latest per id, join, count TP / FP / TN / FN per
  (version, slice, day), overwrite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F

from perfmon_spark.cli import parse_as_of
from perfmon_spark.config import load_config
from perfmon_spark.session import get_spark


def floor_counts(spark, cfg, as_of):
    """The floor's query: counts per (version, slice, day) of the joined rows (not yet written)."""
    p, lab = cfg.predictions, cfg.labels
    preds = spark.read.format("delta").load(p.table.text).filter(F.col(p.timestamp) <= F.lit(as_of))
    labels = spark.read.format("delta").load(lab.table.text).filter(F.col(lab.timestamp) <= F.lit(as_of))
    latest = labels.groupBy(lab.id).agg(F.max(F.struct(lab.timestamp, lab.label)).alias("l"))
    joined = preds.join(latest, p.id, "left")
    slices = F.array(
        F.struct(F.lit("*").alias("k"), F.lit("*").alias("v")),
        *[F.struct(F.lit(c).alias("k"), F.col(c).cast("string").alias("v")) for c in cfg.segments.columns],
    )
    return (
        joined.select(p.model_version, F.date_trunc("day", p.timestamp).alias("day"), F.explode(slices).alias("s"), "l")
        .groupBy(p.model_version, "s.k", "s.v", "day")
        .agg(F.count(F.lit(1)).alias("n"), F.count("l").alias("n_labeled"))
    )


def label_floor_counts(spark, cfg, as_of):
    """The label-work floor's query (binary): confusion counts per (version, slice, day)."""
    p, lab = cfg.predictions, cfg.labels
    spark.read.format("delta").load(p.table.text).createOrReplaceTempView("floor_predictions")
    spark.read.format("delta").load(lab.table.text).createOrReplaceTempView("floor_labels")
    positive = lab.positive if isinstance(lab.positive, (int, float)) else f"'{lab.positive}'"
    slices = ", ".join(
        [
            "named_struct('k', '*', 'v', '*')",
            *[f"named_struct('k', '{c}', 'v', CAST(`{c}` AS STRING))" for c in cfg.segments.columns],
        ]
    )
    return spark.sql(f"""
        WITH p AS (
            SELECT * FROM (
                SELECT *, row_number() OVER (PARTITION BY `{p.id}` ORDER BY `{p.timestamp}` DESC) AS _r
                FROM floor_predictions WHERE `{p.timestamp}` <= TIMESTAMP'{as_of}'
            ) WHERE _r = 1
        ),
        l AS (
            SELECT e.`{lab.id}` AS _id, max_by(e.`{lab.label}`, e.`{lab.timestamp}`) AS _label
            FROM floor_labels e JOIN p ON e.`{lab.id}` = p.`{p.id}`
            WHERE e.`{lab.timestamp}` <= TIMESTAMP'{as_of}'
              AND e.`{lab.timestamp}` >= p.`{p.timestamp}`
              AND e.`{lab.timestamp}` <= p.`{p.timestamp}` + make_dt_interval(0, 0, 0, {lab.max_delay.seconds})
            GROUP BY e.`{lab.id}`
        ),
        j AS (
            SELECT p.`{p.model_version}` AS version, date_trunc('day', p.`{p.timestamp}`) AS day,
                   p.`{p.score}` >= {p.threshold} AS decided, l._label = {positive} AS actual,
                   explode(array({slices})) AS s
            FROM p LEFT JOIN l ON p.`{p.id}` = l._id
        )
        SELECT version, s.k, s.v, day, count(*) AS n,
               count_if(decided AND actual) AS tp, count_if(decided AND NOT actual) AS fp,
               count_if(NOT decided AND NOT actual) AS tn, count_if(NOT decided AND actual) AS fn
        FROM j GROUP BY version, s.k, s.v, day
    """)


FLOORS = {"counts": floor_counts, "labels": label_floor_counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--floor", choices=sorted(FLOORS), default="counts")
    args = parser.parse_args()
    cfg = load_config(args.config)
    spark = get_spark(cfg.spark)
    counts = FLOORS[args.floor](spark, cfg, parse_as_of(args.as_of))
    counts.write.format("delta").mode("overwrite").save(args.out)


if __name__ == "__main__":
    main()
