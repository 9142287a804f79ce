"""Reading a monitor's output tables back with SQL.

From Python, ``open_tables`` gives a Spark session (with Delta) in which every output table of the
config is a temporary view, so that queries name ``perf_metrics`` whether the tables are paths or
catalog tables. For SQL editors, ``sql_queries`` fills the package's ``sql/*.sql`` queries
(``${perf_metrics}``, ``${monitor}``, ...) with a monitor's real names (``perfmon sql``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from perfmon_spark.alerts.rules import MIN_SLICE_LABELS
from perfmon_spark.config import MonitorConfig, load_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.io.catalog import OUTPUT_TABLES, written_by
from perfmon_spark.io.quoting import sql_escaped, sql_table, table_name

if TYPE_CHECKING:  # Spark is imported where a view is registered: ``perfmon sql`` runs without it
    from pyspark.sql import SparkSession


def register_views(spark: SparkSession, cfg: MonitorConfig) -> tuple[str, ...]:
    """Each existing output table of ``cfg`` as a temporary view named without the prefix
    (``perf_metrics``, ``perf_alerts``, ...). Returns the names registered."""
    from perfmon_spark.io.lake import Lake

    lake = Lake(spark, cfg)
    names = []
    for table in written_by(cfg):
        if lake.exists(table):
            lake.read_all(table).createOrReplaceTempView(table.name)
            names.append(table.name)
    return tuple(names)


def open_tables(config: str | Path, spark: SparkSession | None = None) -> SparkSession:
    """A session with the output tables of the config file as temporary views (see
    ``register_views``); the local session perfmon itself would start, unless one is given or
    active."""
    from perfmon_spark.session import get_spark

    cfg = load_config(config)
    spark = spark or get_spark(cfg.spark)
    register_views(spark, cfg)
    return spark


SQL_FOLDER = "sql"  # the queries of ``perfmon sql``: package data, one ``<name>.sql`` each


@dataclass(frozen=True)
class Query:
    """One query of ``perfmon_spark/sql`` with the monitor's names filled in."""

    name: str  # the file's stem
    title: str  # its first line, a ``--`` comment
    text: str  # the statement, without the title and the final semicolon

    def statement(self, view: str | None = None) -> str:
        """The query as printed: the title, then the statement (as ``CREATE VIEW view`` if given)."""
        body = f"CREATE OR REPLACE {view} AS\n{self.text}" if view else self.text
        return f"-- {self.name}: {self.title}\n{body};"


def query_values(cfg: MonitorConfig) -> dict[str, str]:
    """What the queries' ``${...}`` placeholders stand for: each output table's name, the monitor,
    the watched metric (the first alert rule's, else the first configured metric) with its
    window, granularity and worse direction, and the fewest labels a slice needs."""
    rule = cfg.alerts[0] if cfg.alerts else None
    metric = rule.metric if rule else cfg.metrics[0]
    rolling = cfg.windows.rolling[0].text if cfg.windows.rolling else cfg.windows.granularity.text
    return {
        **{t.name: sql_table(cfg.output.table(t.name)) for t in OUTPUT_TABLES},
        "monitor": sql_escaped(cfg.name),
        "metric": sql_escaped(metric),
        "window": (rule.window if rule and rule.window else rolling),
        "granularity": cfg.windows.granularity.text,
        "worse_first": "DESC" if cfg.larger_is_better(metric) is False else "ASC",
        "min_labeled": str(rule.min_labeled if rule else MIN_SLICE_LABELS),
    }


def sql_queries(cfg: MonitorConfig, names: tuple[str, ...] = ()) -> tuple[Query, ...]:
    """The queries (all, or ``names``) that read only tables ``cfg`` writes, filled in for it.

    Raises:
        ConfigError: a name in ``names`` is not a query.
    """
    folder = files("perfmon_spark") / SQL_FOLDER
    templates = {p.name.removesuffix(".sql"): p.read_text() for p in folder.iterdir() if p.name.endswith(".sql")}
    unknown = [n for n in names if n not in templates]
    if unknown:
        raise ConfigError(f"--name: unknown query {unknown[0]!r}; known: {', '.join(sorted(templates))}")
    values = query_values(cfg)
    unwritten = {t.name for t in OUTPUT_TABLES} - {t.name for t in written_by(cfg)}
    found = []
    for name in sorted(names or templates):
        if unwritten & set(re.findall(r"\$\{(\w+)\}", templates[name])):
            continue
        title, _, body = Template(templates[name]).substitute(values).partition("\n")
        found.append(Query(name, title.removeprefix("--").strip(), body.strip().removesuffix(";")))
    return tuple(found)


def view_name(cfg: MonitorConfig, query: Query) -> str:
    """``VIEW <location>.<prefix>v_<name>`` beside catalog tables; a ``TEMPORARY VIEW`` for path
    tables (a view cannot live in a folder)."""
    ref = cfg.output.table(f"v_{query.name}")
    return f"TEMPORARY VIEW {cfg.output.prefix}v_{query.name}" if ref.is_path else f"VIEW {table_name(ref)}"
