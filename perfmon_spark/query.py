"""Reading a monitor's output tables back with SQL, from Python: ``open_tables`` gives a Spark
session (with Delta) in which every output table of the config is a temporary view, so that
queries name ``perf_metrics`` whether the tables are paths or catalog tables."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from perfmon_spark.config import MonitorConfig, load_config
from perfmon_spark.io.catalog import written_by
from perfmon_spark.io.tables import read_table, table_exists
from perfmon_spark.session import get_spark


def register_views(spark: SparkSession, cfg: MonitorConfig) -> tuple[str, ...]:
    """Each existing output table of ``cfg`` as a temporary view named without the prefix
    (``perf_metrics``, ``perf_alerts``, ...). Returns the names registered."""
    names = []
    for table in written_by(cfg.decides, bool(cfg.drift.columns)):
        ref = cfg.output.table(table.name)
        if table_exists(spark, ref):
            read_table(spark, ref).createOrReplaceTempView(table.name)
            names.append(table.name)
    return tuple(names)


def open_tables(config: str | Path, spark: SparkSession | None = None) -> SparkSession:
    """A session with the output tables of the config file as temporary views (see
    ``register_views``); the local session perfmon itself would start, unless one is given or
    active."""
    cfg = load_config(config)
    spark = spark or get_spark(cfg.spark)
    register_views(spark, cfg)
    return spark
