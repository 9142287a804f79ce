"""Delta operations written as SQL, so that one text runs on a classic session and through Spark
Connect alike (serverless compute, standard-access clusters, Databricks Connect).

delta-spark's Python ``DeltaTable`` reaches the JVM through py4j, which a Connect client has not;
over Connect it needs the server to load Delta Connect's plugins, which few servers do.
``DESCRIBE HISTORY``, ``DESCRIBE DETAIL``, ``MERGE INTO``, ``DELETE FROM`` and ``OPTIMIZE`` need
only Delta's SQL extension, which every Delta session has. A MERGE's source is a temporary view
of the session, dropped when the MERGE ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession

from perfmon_spark.config import TableRef
from perfmon_spark.io.quoting import sql_identifier, sql_table


def is_delta_path(spark: SparkSession, ref: TableRef) -> bool:
    """Whether the folder ``ref`` holds a Delta table (False where it is missing or holds other
    files): its schema, read from the log with no Spark job."""
    try:
        spark.read.format("delta").load(ref.text).schema  # noqa: B018  (read for the error it may raise)
    except AnalysisException:
        return False
    return True


def detail(spark: SparkSession, ref: TableRef) -> Row:
    """The table's ``DESCRIBE DETAIL`` row: its id, format, files, bytes and properties."""
    return command_rows(spark, f"DESCRIBE DETAIL {sql_table(ref)}")[0]


def history(spark: SparkSession, ref: TableRef, limit: int | None = None) -> list[Row]:
    """The table's last ``limit`` commits, newest first (``DESCRIBE HISTORY``)."""
    return command_rows(spark, f"DESCRIBE HISTORY {sql_table(ref)}" + (f" LIMIT {int(limit)}" if limit else ""))


def command_rows(spark: SparkSession, command: str) -> list[Row]:
    """A command's rows, collected whole: a command runs when ``spark.sql`` is called, and its
    result collected as it is costs no Spark job, where ``first()`` or a ``select`` on it plans one."""
    return spark.sql(command).collect()


def merge(source: DataFrame, ref: TableRef, on: str, clauses: Sequence[str], *, evolve: bool = False) -> Row | None:
    """``MERGE INTO`` the table ``ref`` (alias ``t``) from ``source`` (alias ``s``).

    Args:
        on: the match condition.
        clauses: the ``WHEN ...`` clauses, in order.
        evolve: with schema evolution (source columns the table lacks join it).

    Returns:
        Delta's metrics row (``num_affected_rows``, ``num_inserted_rows``, ...), or None.
    """
    spark = source.sparkSession
    view = f"_perfmon_merge_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    try:
        rows = command_rows(
            spark,
            f"MERGE {'WITH SCHEMA EVOLUTION ' if evolve else ''}INTO {sql_table(ref)} t "
            f"USING {sql_identifier(view)} s ON {on} " + " ".join(clauses),
        )
        return rows[0] if rows else None
    finally:
        spark.catalog.dropTempView(view)


def update_set(columns: Sequence[str]) -> str:
    """A MERGE clause's ``UPDATE SET`` of ``columns`` from the source."""
    return "UPDATE SET " + ", ".join(f"t.{sql_identifier(c)} = s.{sql_identifier(c)}" for c in columns)


def insert_values(columns: Sequence[str]) -> str:
    """A MERGE clause's ``INSERT`` of ``columns`` from the source."""
    names = ", ".join(sql_identifier(c) for c in columns)
    return f"INSERT ({names}) VALUES ({', '.join(f's.{sql_identifier(c)}' for c in columns)})"


def delete(spark: SparkSession, ref: TableRef, where: str) -> None:
    """``DELETE FROM`` the table the rows where ``where`` holds."""
    command_rows(spark, f"DELETE FROM {sql_table(ref)} WHERE {where}")


def optimize(spark: SparkSession, ref: TableRef, zorder_by: str | None = None) -> None:
    """Compact the table's small files (``OPTIMIZE``), ordering rows by ``zorder_by`` if given."""
    order = f" ZORDER BY ({sql_identifier(zorder_by)})" if zorder_by else ""
    command_rows(spark, f"OPTIMIZE {sql_table(ref)}{order}")
