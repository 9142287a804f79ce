"""Values and names written into SQL text (the predicates a MERGE reads, the queries of
``perfmon sql``, the table names Spark parses), quoted here and nowhere else. No Spark:
``perfmon sql`` fills its queries without a session."""

from __future__ import annotations

from datetime import datetime

from perfmon_spark.config import TableRef


def sql_escaped(text: str) -> str:
    """``text`` for the inside of a single-quoted SQL string: each quote doubled."""
    return text.replace("'", "''")


def sql_string(text: str) -> str:
    """A SQL string literal of ``text``: ``'it''s'``."""
    return f"'{sql_escaped(text)}'"


def sql_timestamp(ts: datetime) -> str:
    """A SQL timestamp literal of a naive UTC time (runs set the session's time zone to UTC).

    >>> sql_timestamp(datetime(2026, 3, 6, 12, 30))
    "TIMESTAMP'2026-03-06 12:30:00.000000'"
    """
    return f"TIMESTAMP'{ts:%Y-%m-%d %H:%M:%S.%f}'"


def sql_identifier(name: str) -> str:
    """A back-quoted SQL identifier, a back quote in it doubled.

    >>> sql_identifier("my-schema")
    '`my-schema`'
    """
    return "`" + name.replace("`", "``") + "`"


def table_name(ref: TableRef) -> str:
    """A catalog table's name as Spark parses it (``spark.read.table``, ``saveAsTable``, SQL), each part back-quoted so that a catalog or schema named with a
    hyphen or a reserved word reads as written. A name that already holds a back quote is taken
    as quoted by its author.

    >>> table_name(TableRef("main.ml-prod.perf_metrics"))
    '`main`.`ml-prod`.`perf_metrics`'
    """
    if "`" in ref.text:
        return ref.text
    return ".".join(sql_identifier(part) for part in ref.text.split("."))


def sql_table(ref: TableRef) -> str:
    """How SQL text names the Delta table ``ref``: ``delta.`/lake/perf_metrics``` for a path,
    ``table_name`` for a catalog table.

    >>> sql_table(TableRef("/lake/perf_metrics")), sql_table(TableRef("ml.runs"))
    ('delta.`/lake/perf_metrics`', '`ml`.`runs`')
    """
    return f"delta.{sql_identifier(ref.text)}" if ref.is_path else table_name(ref)
