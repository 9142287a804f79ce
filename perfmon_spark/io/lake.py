"""The one way to a monitor's output tables: ``Lake(spark, cfg)`` knows the monitor and where its
tables are (``output``), reads a table's rows of this monitor, says which target rows a write owns
(the predicate MERGE reads), and writes by MERGE on the catalogue's key (``io.tables.merge_into``)
or by append.

The job and the readers (``status``, ``summary``, ``decide``, ``query``, ``export``, the report)
reach the output tables through it, so "this monitor's rows" is written once (and its name is
quoted for SQL by ``io.quoting``). Column names come from the catalogue (``catalog.C``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig, TableRef
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import OUTPUT_TABLES, C, OutputTable
from perfmon_spark.io.quoting import sql_string, sql_timestamp, table_name
from perfmon_spark.io.tables import (
    append,
    latest_version,
    merge_into,
    read_table,
    read_version,
    table_exists,
)


@dataclass(frozen=True)
class Lake:
    """A monitor's output tables, on a session."""

    spark: SparkSession
    cfg: MonitorConfig

    def ref(self, table: OutputTable) -> TableRef:
        """Where ``table`` is, for this config (``output.location`` and ``output.prefix``)."""
        return self.cfg.output.table(table.name)

    def exists(self, table: OutputTable) -> bool:
        return table_exists(self.spark, self.ref(table))

    def check(self) -> list[str]:
        """Where the run will write, checked before it computes anything (and by ``perfmon validate
        --check-tables``): ``output.location`` is a folder that exists or can be created, or a schema
        that exists, and the output tables already there hold the catalogue's column types. A run
        would otherwise fail at its first write, after the whole scan. Returns the lines to print.

        Raises:
            InputError: one line naming the key or the columns, and the fix (exit 3).
        """
        location = self.cfg.output.location
        lines = [_check_folder(location.text) if location.is_path else self._check_schema()]
        found, wrong = [], []
        for table in OUTPUT_TABLES:
            if self.exists(table):
                found.append(table.name)
                wrong += table.wrong_types({f.name: f.dataType.simpleString() for f in self.read_all(table).schema})
        if wrong:
            raise InputError(
                f"output tables under {location.text!r}: {'; '.join(wrong)}; a run cannot write these columns: "
                "fix their type, or move the table away and let the next run create it"
            )
        lines.append(
            f"output tables: {', '.join(found)}, with the catalogue's column types"
            if found
            else "output tables: none yet (the first run creates them)"
        )
        return lines

    def _check_schema(self) -> str:
        location = self.cfg.output.location
        if not self.spark.catalog.databaseExists(table_name(location)):
            raise InputError(
                f"output.location: schema {location.text!r} does not exist; create it "
                f"(CREATE SCHEMA {table_name(location)}) or name an existing schema, or a folder"
            )
        return f"output location: schema {location.text}"

    def mine(self) -> Column:
        """The filter ``read`` applies: the rows of this monitor (tables may hold several)."""
        return F.col(C.monitor) == self.cfg.name

    def read(self, table: OutputTable, *, pinned: bool = False) -> DataFrame:
        """This monitor's rows of ``table``, which must exist (``read_if_exists`` otherwise).

        Args:
            pinned: read the table at its current Delta version, so that the frame keeps what it
                reads whatever is written to the table before it is evaluated.
        """
        ref = self.ref(table)
        rows = read_version(self.spark, ref, latest_version(self.spark, ref)) if pinned else read_table(self.spark, ref)
        return rows.filter(self.mine())

    def read_if_exists(self, table: OutputTable) -> DataFrame | None:
        """``read``, or None where no run has written ``table`` yet."""
        return self.read(table) if self.exists(table) else None

    def read_all(self, table: OutputTable) -> DataFrame:
        """Every monitor's rows of ``table`` (SQL views, whose queries name the monitor)."""
        return read_table(self.spark, self.ref(table))

    def owned(
        self,
        table: OutputTable | None = None,
        *,
        since: datetime | None = None,
        at: Iterable[datetime] | None = None,
    ) -> str:
        """SQL predicate over a MERGE target (alias ``t``, see ``io.tables.merge_into``): the rows
        of this monitor, and with ``at`` or ``since`` only those whose time column
        (``table.clustered_by``) is one of ``at`` or at or after ``since``.

        Raises:
            ValueError: ``at`` or ``since`` for a table without a time column.
        """
        predicate = f"t.{C.monitor} = {sql_string(self.cfg.name)}"
        if at is None and since is None:
            return predicate
        column = None if table is None else table.clustered_by
        if column is None:
            raise ValueError(f"{'a table' if table is None else table.name} has no time column to bound a write by")
        if at is not None:
            predicate += f" AND t.{column} IN ({', '.join(sql_timestamp(ts) for ts in at)})"
        if since is not None:
            predicate += f" AND t.{column} >= {sql_timestamp(since)}"
        return predicate

    def merge(
        self, df: DataFrame, table: OutputTable, *, compare: tuple[str, ...] | None = None, owned: str | None = None
    ) -> int:
        """MERGE ``df`` into ``table`` on its key (``io.tables.merge_into``: ``compare`` and
        ``owned`` as there); returns the rows inserted, updated or deleted."""
        return merge_into(df, self.ref(table), table, compare=compare, owned=owned)

    def append(self, df: DataFrame, table: OutputTable) -> None:
        """Append ``df`` to a log table (``io.tables.append``)."""
        append(df, self.ref(table))


def _check_folder(text: str) -> str:
    """A folder ``output.location``: on a local file system, it or its nearest existing parent is
    a folder this process may write in (the first write creates the rest). Other file systems
    (``s3://``, ``abfss://``, ``dbfs:/``) are checked by the first write: only their own client
    can tell."""
    parsed = urlparse(text)
    if parsed.scheme not in ("", "file"):
        return f"output location: {text} (a {parsed.scheme}: URI, checked by the first write)"
    wanted = Path(parsed.path if parsed.scheme else text)
    existing = next(p for p in (wanted, *wanted.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(
            f"output.location: {str(existing)!r} is a file, not a folder; name a folder (it is created if missing)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"output.location: {str(existing)!r} is not writable by this process; name a folder it may write in"
        )
    return f"output location: folder {text}" + ("" if existing == wanted else " (the first run creates it)")
