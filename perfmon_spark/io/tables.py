"""Reading input tables at a pinned Delta version and writing output tables by MERGE.

Every output write goes through ``merge_into``: MERGE on the contract key, update only rows whose
values changed (so re-running with the same inputs and as_of rewrites nothing), optionally delete
this monitor's rows in the recomputed scope that the source no longer has.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from perfmon_spark.config import TableRef
from perfmon_spark.errors import InputError
from perfmon_spark.io import delta_sql
from perfmon_spark.io.caching import cached, is_cached, released
from perfmon_spark.io.catalog import OutputTable, Write
from perfmon_spark.io.quoting import table_name


@dataclass(frozen=True)
class Snapshot:
    """An input table read at one Delta version."""

    ref: TableRef
    df: DataFrame
    version: int
    table_id: str | None = None  # Delta's id of the table: another one at the same place has another


def table_exists(spark: SparkSession, ref: TableRef) -> bool:
    if ref.is_path:
        return delta_sql.is_delta_path(spark, ref)
    return spark.catalog.tableExists(table_name(ref))


def latest_version(spark: SparkSession, ref: TableRef) -> int:
    return int(delta_sql.history(spark, ref, 1)[0]["version"])


def read_snapshot(spark: SparkSession, ref: TableRef, role: str) -> Snapshot:
    """The table at its current version, pinned so that every later read sees the same rows.

    Raises:
        InputError: the table does not exist or is not a Delta table.
    """
    if not table_exists(spark, ref):
        raise InputError(f"{role} table {ref.text!r} ({role}.table) does not exist or is not a Delta table")
    version = latest_version(spark, ref)
    table_id = delta_sql.detail(spark, ref)["id"]
    return Snapshot(ref=ref, df=read_version(spark, ref, version), version=version, table_id=table_id)


def read_version(spark: SparkSession, ref: TableRef, version: int) -> DataFrame:
    """The table as it was at a Delta version (time travel)."""
    reader = spark.read.format("delta").option("versionAsOf", version)
    return reader.load(ref.text) if ref.is_path else reader.table(table_name(ref))


_KINDS = {
    "string": (T.StringType,),
    "integer": (T.ByteType, T.ShortType, T.IntegerType, T.LongType),
    "number": (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType),
    "boolean": (T.BooleanType,),
    "timestamp": (T.TimestampType, T.TimestampNTZType),
    "date": (T.DateType,),
    "map or array": (T.MapType, T.ArrayType),
}


def require_columns(
    snapshot: Snapshot, role: str, columns: list[tuple[str, str, tuple[str, ...]]], fixes: dict[str, str] | None = None
) -> None:
    """Check that each configured column exists with one of the allowed kinds.

    Args:
        columns: (config key, column name, allowed kinds) triples, kinds being keys of ``_KINDS``,
            e.g. ``[("predictions.score", "score", ("number",))]``; a column may appear in
            several roles.
        fixes: config key -> what to do when its column has a type not allowed, added to the error.

    Raises:
        InputError: naming the table, the column and its config key, and the columns that exist
            or the kinds allowed.
    """
    fields = {f.name: f.dataType for f in snapshot.df.schema.fields}
    for key, column, kinds in columns:
        where = f"{role} table {snapshot.ref.text!r}: column {column!r} ({key})"
        if column not in fields:
            raise InputError(f"{where} not found; columns: {', '.join(sorted(fields))}")
        allowed = tuple(t for k in kinds for t in _KINDS[k])
        if not isinstance(fields[column], allowed):
            fix = (fixes or {}).get(key)
            raise InputError(
                f"{where} has type {fields[column].simpleString()}; allowed: {' or '.join(kinds)}"
                + (f"; {fix}" if fix else "")
            )


def merge_into(
    df: DataFrame,
    ref: TableRef,
    table: OutputTable,
    *,
    compare: tuple[str, ...] | None = None,
    owned: str | None = None,
) -> int:
    """Write ``df`` into the Delta table ``ref``, keyed on ``table.key`` (creating the table if
    needed), changing only what differs.

    The changes (new keys, rows whose compared values moved, owned rows the source no longer
    has) are found first by one join of ``df`` with the owned target rows; only they are MERGEd,
    and a write that changes nothing commits nothing (no empty table version, none of a MERGE's
    jobs). A ``df`` with a column the table lacks, or an INSERT table, takes one MERGE with
    schema evolution instead.

    A table with a ``clustered_by`` time column is created with its rows range-partitioned on
    it, so that each file covers a span of time. An incremental run owns only recent rows
    (``owned`` bounds that column), and Delta's per-file min/max statistics then let the change
    join and the MERGE skip every file of older history: a MERGE rewrites only the recent files,
    whose rewrite holds recent rows again, so the layout lasts.

    Args:
        table: the catalogue entry: its key, and its write (INSERT tables only insert new keys).
        compare: columns whose change rewrites a matched row (all of ``df``'s columns are then
            written); default: ``table.compared`` of ``df``'s columns.
        owned: SQL predicate over the target (alias ``t``) selecting the rows this write owns:
            the only target rows it reads, updates or deletes (those with no source row go), so
            Delta skips the files that hold none of them. Every source row must fall in it. None
            matches the whole table and keeps every unmatched target row.

    Returns:
        Rows inserted, updated or deleted.
    """
    spark = df.sparkSession
    if not table_exists(spark, ref):
        _create(df, ref, table.clustered_by)
        return int(read_table(spark, ref).count())
    if compare is None and table.write is not Write.INSERT:
        compare = table.compared(df.columns)
    existing = read_table(spark, ref)
    if table.write is Write.INSERT or set(df.columns) - set(existing.columns):
        return _merge_evolving(df, ref, existing.columns, table, compare, owned)
    changes = cached(_changes(df, existing, table, compare or (), owned))
    try:
        found = changes.count()
        if found:
            _merge_changes(changes, ref, table, df.columns, owned)
        return found
    finally:
        released(changes)


def create(df: DataFrame, ref: TableRef) -> None:
    """Create the Delta table ``ref`` with the rows of ``df``; fails where the table exists,
    including where another writer created it first (Delta commits its version 0 once)."""
    _create(df, ref, None)


def _create(df: DataFrame, ref: TableRef, clustered_by: str | None) -> None:
    """Create the table from ``df``; range-partitioned on ``clustered_by`` if given (the range
    bounds are sampled from ``df`` before it is written, so it is cached for that unless the
    caller has)."""
    cache = clustered_by is not None and not is_cached(df)
    if cache:
        df = cached(df)
    try:
        rows = df if clustered_by is None else df.repartitionByRange(df[clustered_by])
        writer = rows.write.format("delta").mode("error")
        if ref.is_path:
            writer.save(ref.text)
        else:
            writer.saveAsTable(table_name(ref))
    finally:
        if cache:
            released(df)


_GONE = "_perfmon_gone"  # a change row that deletes its key
_IN_SOURCE, _IN_TARGET = "_perfmon_s", "_perfmon_t"


def _key_match(table: OutputTable, owned: str | None) -> str:
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in table.key)
    return on if owned is None else f"({owned}) AND {on}"


def _changes(df: DataFrame, existing: DataFrame, table: OutputTable, compare, owned: str | None) -> DataFrame:
    """``df``'s rows that are new or changed against the owned target rows, and (with ``owned``)
    the key of each owned target row the source no longer has, flagged ``_GONE``."""
    from pyspark.sql import functions as F

    target = existing.alias("t")
    if owned is not None:
        target = target.filter(F.expr(owned))
    target = target.select(*[F.col(f"t.`{c}`").alias(c) for c in df.columns], F.lit(True).alias(_IN_TARGET))
    source = df.select("*", F.lit(True).alias(_IN_SOURCE))
    joined = target.alias("t").join(source.alias("s"), F.expr(_key_match(table, None)), "full_outer")
    types = {f.name: f.dataType for f in df.schema.fields}
    changed = " OR ".join(_changed(c, types[c]) for c in compare) if compare else "false"
    upserts = joined.filter(F.expr(f"s.{_IN_SOURCE} AND (t.{_IN_TARGET} IS NULL OR {changed})")).select(
        *[F.col(f"s.`{c}`").alias(c) for c in df.columns], F.lit(False).alias(_GONE)
    )
    if owned is None:
        return upserts
    gone = joined.filter(F.expr(f"s.{_IN_SOURCE} IS NULL")).select(
        *[(F.col(f"t.`{c}`") if c in table.key else F.lit(None).cast(types[c])).alias(c) for c in df.columns],
        F.lit(True).alias(_GONE),
    )
    return upserts.unionByName(gone)


def _merge_changes(
    changes: DataFrame, ref: TableRef, table: OutputTable, columns: list[str], owned: str | None
) -> None:
    delta_sql.merge(
        changes,
        ref,
        _key_match(table, owned),
        [
            f"WHEN MATCHED AND s.{_GONE} THEN DELETE",
            f"WHEN MATCHED THEN {delta_sql.update_set(columns)}",
            f"WHEN NOT MATCHED AND NOT s.{_GONE} THEN {delta_sql.insert_values(columns)}",
        ],
    )


def _merge_evolving(
    df: DataFrame, ref: TableRef, existing: list[str], table: OutputTable, compare, owned: str | None
) -> int:
    """One MERGE with schema evolution: new columns (a KPI added to the config, a newer
    package's column, another problem type's monitor in the same tables) join the table, and
    every matched row is rewritten to fill them."""
    clauses = []
    if compare:
        types = {f.name: f.dataType for f in df.schema.fields}
        changed = (
            "" if set(compare) - set(existing) else " AND (" + " OR ".join(_changed(c, types[c]) for c in compare) + ")"
        )
        clauses.append(f"WHEN MATCHED{changed} THEN UPDATE SET *")
    clauses.append("WHEN NOT MATCHED THEN INSERT *")
    if owned is not None:
        clauses.append(f"WHEN NOT MATCHED BY SOURCE AND ({owned}) THEN DELETE")
    result = delta_sql.merge(df, ref, _key_match(table, owned), clauses, evolve=True)
    return int(result["num_affected_rows"]) if result is not None else 0


def _changed(column: str, dtype: T.DataType) -> str:
    """SQL: the target's value differs from the source's. Doubles compare with a relative
    tolerance of 1e-12, so that summation order (which Spark does not fix) rewrites nothing."""
    t, s = f"t.`{column}`", f"s.`{column}`"
    if isinstance(dtype, T.DoubleType):
        return (
            f"(({t} IS NULL) <> ({s} IS NULL) OR isnan({t}) <> isnan({s}) "
            f"OR abs({t} - {s}) > 1e-12 * greatest(1.0, abs({s})))"
        )
    return f"NOT ({t} <=> {s})"


def read_table(spark: SparkSession, ref: TableRef) -> DataFrame:
    """The current version of an output table."""
    return spark.read.format("delta").load(ref.text) if ref.is_path else spark.read.table(table_name(ref))


def append(df: DataFrame, ref: TableRef) -> None:
    """Append to a log table (creating it if needed; a newer package's columns join it)."""
    writer = df.write.format("delta").mode("append").option("mergeSchema", "true")
    if ref.is_path:
        writer.save(ref.text)
    else:
        writer.saveAsTable(table_name(ref))
