"""The floor a monitoring run is measured against: the least work any such job must do.

Read both Delta tables, keep the latest label per id as of, join, count per
(version, slice, day) for the overall slice and each segment column, write the counts.
Run as its own process by ``bench_full_run.py``.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cfg = load_config(args.config)
    spark = get_spark(cfg.spark)
    floor_counts(spark, cfg, parse_as_of(args.as_of)).write.format("delta").mode("overwrite").save(args.out)


if __name__ == "__main__":
    main()
