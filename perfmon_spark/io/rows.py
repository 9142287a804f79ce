"""Small result sets (alert episodes, decisions, statuses) between Spark and the driver.

Timestamps cross as epoch seconds: PySpark turns naive ``datetime`` values into the driver
process's local time zone, whatever the session's, so integers are the only zone-proof carrier.
Used only for tables with one row per alert, version or decision, never for row-level data.
"""

from __future__ import annotations

from calendar import timegm
from collections.abc import Iterable, Mapping
from enum import Enum

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

Columns = tuple[tuple[str, str], ...]  # (name, Spark SQL type)


def collect_rows(df: DataFrame, columns: Columns) -> list[dict]:
    """``df``'s ``columns`` as dicts, timestamps as epoch seconds (int)."""
    select = [F.unix_timestamp(F.col(c)).alias(c) if t == "timestamp" else F.col(c) for c, t in columns]
    return [row.asDict() for row in df.select(*select).collect()]


def cell(value, spark_type: str):
    """``value`` as ``createDataFrame`` takes it on every Spark this runs on: a vocabulary member as
    its string (a classic Spark 4.0 session pickles it as an object it cannot build), an array
    column's tuple as a list (Spark Connect takes no tuple there; a struct stays a tuple)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple) and spark_type.startswith("array"):
        return [v.value if isinstance(v, Enum) else v for v in value]
    return value


def rows_to_frame(spark: SparkSession, rows: Iterable[Mapping], columns: Columns) -> DataFrame:
    """The inverse of ``collect_rows``: dicts (timestamps as epoch seconds) to a typed DataFrame."""
    carrier = ", ".join(f"`{c}` {'long' if t == 'timestamp' else t}" for c, t in columns)
    data = [tuple(cell(row.get(c), t) for c, t in columns) for row in rows]
    df = spark.createDataFrame(data, carrier)
    return df.select(*[F.timestamp_seconds(F.col(c)).alias(c) if t == "timestamp" else F.col(c) for c, t in columns])


def unchanged(rows: Iterable[Mapping], previous: Iterable[Mapping], columns: Iterable[str]) -> bool:
    """Whether driver-side ``rows`` equal ``previous`` (the target rows the write owns, as
    collected) on ``columns``, as multisets: then a MERGE would change nothing, and the caller
    skips it (a MERGE costs several Spark jobs even when it changes nothing)."""
    columns = tuple(columns)

    def plain(value):  # as Spark gives it back: vocabulary members as their strings, sequences as lists
        if isinstance(value, Enum):
            return value.value
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value

    def normal(rs: Iterable[Mapping]) -> list[tuple[str, ...]]:
        return sorted(tuple(repr(plain(r.get(c))) for c in columns) for r in rs)

    return normal(rows) == normal(previous)


def epoch(ts) -> int:
    """A naive-UTC ``datetime`` as epoch seconds."""
    return timegm(ts.timetuple())
