"""Output table care (SPEC §6): ``perfmon maintain`` OPTIMIZEs and VACUUMs the output tables
(``perfmon validate --check-tables`` checks their columns: ``io.lake.Lake.check``).

**What VACUUM may delete.** Nothing perfmon reads needs an old version of an output table. An
incremental run reads the output tables at their current version: its watermark is the last
SUCCEEDED row of ``runs``, and the Delta versions that row records are the *input* tables', whose
change data feed (``job.scope``) and time travel (``job.label_deltas``) a run reads; ``status``,
``report``, ``export`` and the SQL views read current versions too, and no reader reads an output
table's change data feed, so no output table needs it on. What a retention protects is a reader
still reading: a run or a dashboard's query that began before a commit (an OPTIMIZE, another
monitor's MERGE into a shared table) removed the files of the version it reads, and a user's time
travel over the output tables. ``output.retention`` (default 7 days) may not be shorter than 7 days
(``config.model.MIN_RETENTION``), the default of Delta's ``delta.deletedFileRetentionDuration`` and
the least Delta's own check lets a VACUUM keep.

**Where the retention lives.** Delta keeps a table's removed files for its
``delta.deletedFileRetentionDuration``, and from Delta 4 on a VACUUM ignores a ``RETAIN n HOURS``
other than 0 (``spark.databricks.delta.vacuum.retentionWindowIgnore.enabled``) and keeps that
property instead. So ``maintain`` raises the property of a table that keeps less than
``output.retention`` (an ``ALTER TABLE ... SET TBLPROPERTIES`` commit, once; a run committing to
the table at that moment fails, and its next run repairs the tables) and then VACUUMs with
``RETAIN`` the larger of the two, which older Delta versions read. It never shortens a table's
retention: another monitor sharing the table, or its owner, may have asked for more (lower it by
hand with the same ``ALTER TABLE``). Time travel further back than ``delta.logRetentionDuration``
(30 days by default) also needs that property raised.

**The time layout.** The tables with a time column (``OutputTable.clustered_by``) hold their rows in
time order (``io.tables.merge_into``): each file spans a stretch of time, so an incremental run's
MERGE reads and rewrites only recent files. OPTIMIZE's bin-packing would undo that: it groups files
by size, so a compacted file spans the oldest window to the newest and every later run reads and
rewrites it. Those tables are OPTIMIZEd ``ZORDER BY`` their time column instead, which on one
column is a range partitioning: the files come out in time order, with disjoint min/max. A Z-order
rewrites the whole table, not only its small files, into files of
``spark.databricks.delta.optimize.maxFileSize``; Delta's default there, 1 GB, would make most
tables one file that every run rewrites, so unless the session sets its own size these tables get
``CLUSTERED_FILE_BYTES``, and what a run rewrites of older rows stays about one such file. The
other tables are compacted (bin-packing). A table with no more files than OPTIMIZE would leave is
not rewritten.

**Shared tables.** Every monitor with the same ``output.location`` and ``output.prefix`` writes the
same tables, and OPTIMIZE and VACUUM act on whole tables: maintaining one monitor maintains the
tables for all of them (once per location is enough).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from pyspark.sql import SparkSession

from perfmon_spark.config import Duration, MonitorConfig, TableRef
from perfmon_spark.errors import InputError, PerfmonError
from perfmon_spark.io import delta_sql
from perfmon_spark.io.catalog import OUTPUT_TABLES, OutputTable
from perfmon_spark.io.claims import is_conflict
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.quoting import sql_table
from perfmon_spark.io.tables import latest_version

LOG = logging.getLogger(__name__)

RETENTION_PROPERTY = "delta.deletedFileRetentionDuration"
DELTA_RETENTION = "interval 1 week"  # Delta's default of RETENTION_PROPERTY
MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
DELTA_MAX_FILE_BYTES = 1024**3  # Delta's default of MAX_FILE_SIZE
# The file size of the time-ordered tables after OPTIMIZE: what an incremental run rewrites of
# rows older than its scope is about one file, and a table of a few GB is still ~100 files.
CLUSTERED_FILE_BYTES = 32 * 1024**2


@dataclass(frozen=True)
class TableMaintenance:
    """What ``maintain`` did to one table (or, in a dry run, would do).

    ``optimize`` is the OPTIMIZE run (``ZORDER BY (window_end)`` or ``compaction``), None where the
    table had no more files than OPTIMIZE would leave. ``files_after`` and ``bytes_after`` are the
    table's live files after it (a dry run: ``files_after`` is the estimate, ``bytes_after`` None).
    ``retention_hours`` is what VACUUM kept, ``retention_before`` the table's own retention as found
    (None where its property could not be read): ``maintain`` raised it where it is less.
    ``vacuum_files`` counts the files VACUUM deleted (a dry run: would delete) and ``vacuum_bytes``
    their size; None where the storage does not log VACUUM's counts (and the size in a dry run).
    """

    table: str
    files_before: int
    bytes_before: int
    optimize: str | None
    files_after: int
    bytes_after: int | None
    retention_hours: int
    vacuum_files: int | None
    vacuum_bytes: int | None
    dry_run: bool
    retention_before: int | None = None

    @property
    def retention_raised(self) -> bool:
        """Whether ``maintain`` raised (or, in a dry run, would raise) the table's retention."""
        return self.retention_before is not None and self.retention_before < self.retention_hours

    def line(self) -> str:
        """One line: the table, its OPTIMIZE (files and bytes before and after) and its VACUUM.

        >>> TableMaintenance("runs", 3, 9_100, "compaction", 1, 3_200, 168, 2, 5_000, False).line()
        'runs: OPTIMIZE compaction: 3 files (9.1 kB) -> 1 file (3.2 kB); VACUUM RETAIN 168 HOURS: 2 files (5.0 kB) deleted'
        """
        before = f"{files_text(self.files_before)} ({size_text(self.bytes_before)})"
        vacuum = f"VACUUM RETAIN {self.retention_hours} HOURS"
        if self.optimize is None:
            optimize = f"OPTIMIZE not needed: {before}"
        elif self.dry_run:
            optimize = f"would OPTIMIZE {self.optimize}: {before} -> about {files_text(self.files_after)}"
        else:
            after = f"{files_text(self.files_after)} ({size_text(self.bytes_after or 0)})"
            optimize = f"OPTIMIZE {self.optimize}: {before} -> {after}"
        if self.dry_run:
            vacuum = f"would {vacuum}: {files_text(self.vacuum_files or 0)} to delete"
        elif self.vacuum_files is None:
            vacuum += ": done (this storage does not log how many files VACUUM deleted)"
        else:
            vacuum += f": {files_text(self.vacuum_files)} ({size_text(self.vacuum_bytes or 0)}) deleted"
        if self.retention_raised:
            hours = f"from {self.retention_before} to {self.retention_hours} hours"
            vacuum = f"{'would raise retention' if self.dry_run else 'retention raised'} {hours}; {vacuum}"
        return f"{self.table}: {optimize}; {vacuum}"


def files_text(n: int) -> str:
    """``n`` files, in words.

    >>> files_text(1), files_text(12)
    ('1 file', '12 files')
    """
    return f"{n} file{'' if n == 1 else 's'}"


def size_text(n: int) -> str:
    """Bytes in decimal units, one decimal from kB on.

    >>> size_text(950), size_text(48_213), size_text(3_500_000_000)
    ('950 B', '48.2 kB', '3.5 GB')
    """
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} TB"


def retention_hours(retention: Duration) -> int:
    """``output.retention`` in whole hours for ``VACUUM ... RETAIN n HOURS``, rounded up (never
    less than configured).

    >>> from perfmon_spark.config import Duration
    >>> retention_hours(Duration.parse("7 days")), retention_hours(Duration.parse("10081 minutes"))
    (168, 169)
    """
    return math.ceil(retention.seconds / 3600)


_INTERVAL_SECONDS = {"microsecond": 1e-6, "millisecond": 1e-3, "second": 1, "minute": 60, "hour": 3600}
_INTERVAL_SECONDS |= {"day": 86400, "week": 7 * 86400}
_INTERVAL_PART = re.compile(rf"(\d+)\s*({'|'.join(_INTERVAL_SECONDS)})s?\b", re.IGNORECASE)


def interval_hours(text: str) -> int | None:
    """A Delta interval property (``interval 30 days``) in whole hours, rounded up; None where the
    text is not a sum of whole units from microseconds to weeks.

    >>> interval_hours("interval 1 week"), interval_hours("INTERVAL 30 DAYS"), interval_hours("1 day 90 minutes")
    (168, 720, 26)
    >>> interval_hours("interval 1 month") is None
    True
    """
    body = re.sub(r"^\s*interval\s+", "", text, flags=re.IGNORECASE)
    parts = _INTERVAL_PART.findall(body)
    if not parts or _INTERVAL_PART.sub("", body).strip():
        return None
    return math.ceil(sum(int(n) * _INTERVAL_SECONDS[unit.lower()] for n, unit in parts) / 3600)


def retention_sql(ref: TableRef, hours: int) -> str:
    """The statement that makes Delta keep ``ref``'s removed files for ``hours``.

    >>> from perfmon_spark.config import TableRef
    >>> retention_sql(TableRef("/lake/runs"), 336)
    "ALTER TABLE delta.`/lake/runs` SET TBLPROPERTIES ('delta.deletedFileRetentionDuration' = 'interval 336 hours')"
    """
    return f"ALTER TABLE {sql_table(ref)} SET TBLPROPERTIES ('{RETENTION_PROPERTY}' = 'interval {hours} hours')"


def expected_files(size: int, target: int) -> int:
    """About how many files OPTIMIZE leaves of ``size`` bytes with a target file size of ``target``.

    >>> expected_files(0, 32), expected_files(10, 32), expected_files(100, 32)
    (1, 1, 4)
    """
    return max(1, math.ceil(size / target))


def vacuum_sql(ref: TableRef, hours: int, dry_run: bool = False) -> str:
    """The VACUUM statement of ``ref``.

    >>> from perfmon_spark.config import TableRef
    >>> vacuum_sql(TableRef("main.ml.runs"), 168, dry_run=True)
    'VACUUM `main`.`ml`.`runs` RETAIN 168 HOURS DRY RUN'
    """
    return f"VACUUM {sql_table(ref)} RETAIN {hours} HOURS" + (" DRY RUN" if dry_run else "")


def optimize_kind(table: OutputTable) -> str:
    """The OPTIMIZE a table gets: ``ZORDER BY`` its time column, which keeps the time layout, or
    compaction (bin-packing)."""
    return "compaction" if table.clustered_by is None else f"ZORDER BY ({table.clustered_by})"


def maintain(spark: SparkSession, cfg: MonitorConfig, dry_run: bool = False) -> list[TableMaintenance]:
    """For each output table of the catalogue that exists under ``output.location``, in catalogue
    order: raise its retention to ``output.retention`` where it keeps less, OPTIMIZE it, then VACUUM
    it. The tables are shared by every monitor writing there, and all three act on whole tables.

    Args:
        dry_run: change nothing: count the files (``DESCRIBE DETAIL``) to say whether OPTIMIZE
            would run and about how many files it would leave, and list what VACUUM would delete
            (``VACUUM ... DRY RUN``; where the retention would be raised, Delta 4 lists by the
            table's current one, so the count is an upper bound).

    Raises:
        InputError: VACUUM refused the retention (a table whose retention property perfmon cannot
            read keeps removed files longer).
        PerfmonError: a write committed to a table while maintain changed it (run it again).
    """
    lake = Lake(spark, cfg)
    hours = retention_hours(cfg.output.retention)
    return [_maintain(spark, lake.ref(t), t, hours, dry_run) for t in OUTPUT_TABLES if lake.exists(t)]


def _maintain(spark: SparkSession, ref: TableRef, table: OutputTable, hours: int, dry_run: bool) -> TableMaintenance:
    files, size, properties = table_detail(spark, ref)
    found = interval_hours(properties.get(RETENTION_PROPERTY, DELTA_RETENTION))
    keep = max(hours, found or 0)
    target = _target_bytes(spark, table)
    optimize = optimize_kind(table) if files > expected_files(size, target) else None
    result = TableMaintenance(table.name, files, size, optimize, files, None, keep, None, None, dry_run, found)
    if dry_run:
        deleted, _ = vacuum_table(spark, ref, keep, dry_run=True)
        return replace(result, files_after=expected_files(size, target) if optimize else files, vacuum_files=deleted)
    if result.retention_raised:
        _commit(ref, "raising the retention", lambda: spark.sql(retention_sql(ref, keep)).collect())
    if optimize is not None:
        _commit(ref, "OPTIMIZE", lambda: _optimize(spark, ref, table))
    deleted, freed = vacuum_table(spark, ref, keep)
    after, after_size, _ = table_detail(spark, ref)
    return replace(result, files_after=after, bytes_after=after_size, vacuum_files=deleted, vacuum_bytes=freed)


def table_detail(spark: SparkSession, ref: TableRef) -> tuple[int, int, dict[str, str]]:
    """The live files of the table's current version, their bytes, and the table's properties
    (``DESCRIBE DETAIL``)."""
    row = delta_sql.detail(spark, ref)
    return int(row["numFiles"] or 0), int(row["sizeInBytes"] or 0), dict(row["properties"] or {})


def _session_file_bytes(spark: SparkSession) -> int | None:
    """The session's ``MAX_FILE_SIZE`` in bytes, or None where it is Delta's default (or not a
    plain number of bytes, which OPTIMIZE reads itself)."""
    value = spark.conf.get(MAX_FILE_SIZE, str(DELTA_MAX_FILE_BYTES))
    if value == str(DELTA_MAX_FILE_BYTES) or not value.isdigit():
        return None
    return int(value)


def _target_bytes(spark: SparkSession, table: OutputTable) -> int:
    """The file size OPTIMIZE aims at for ``table``: the session's, else ``CLUSTERED_FILE_BYTES``
    for a time-ordered table and Delta's default for the others."""
    own = _session_file_bytes(spark)
    if own is not None:
        return own
    return DELTA_MAX_FILE_BYTES if table.clustered_by is None else CLUSTERED_FILE_BYTES


@contextmanager
def _file_size(spark: SparkSession, size: int) -> Iterator[None]:
    """OPTIMIZE's target file size is ``size`` while the block runs, unless the session set its
    own (or refuses the setting: the platform's size is then used, with a warning)."""
    if spark.conf.get(MAX_FILE_SIZE, str(DELTA_MAX_FILE_BYTES)) != str(DELTA_MAX_FILE_BYTES):
        yield
        return
    try:
        spark.conf.set(MAX_FILE_SIZE, str(size))
    except Exception as e:  # noqa: BLE001  (a platform that allows only some settings keeps its own)
        LOG.warning("could not set %s=%s (%s); OPTIMIZE uses the platform's size", MAX_FILE_SIZE, size, _first(e))
        yield
        return
    try:
        yield
    finally:
        spark.conf.unset(MAX_FILE_SIZE)


def _optimize(spark: SparkSession, ref: TableRef, table: OutputTable) -> None:
    """OPTIMIZE ``table`` as ``optimize_kind`` says."""
    if table.clustered_by is None:
        delta_sql.optimize(spark, ref)
    else:
        with _file_size(spark, CLUSTERED_FILE_BYTES):
            delta_sql.optimize(spark, ref, zorder_by=table.clustered_by)


def _commit(ref: TableRef, what: str, change: Callable[[], object]) -> None:
    """Run ``change``, a commit to ``ref``.

    Raises:
        PerfmonError: a concurrent write (a run) committed first and Delta refused this commit;
            nothing changed.
    """
    try:
        change()
    except Exception as e:
        if not is_conflict(e):
            raise
        raise PerfmonError(
            f"output table {ref.text!r}: {what} met a concurrent write and changed nothing ({_first(e)}); "
            "run perfmon maintain again"
        ) from e


def vacuum_table(
    spark: SparkSession, ref: TableRef, hours: int, dry_run: bool = False
) -> tuple[int | None, int | None]:
    """VACUUM ``ref`` keeping the files removed in the last ``hours``.

    Returns:
        The files deleted and their bytes, read from the VACUUM START and END commits Delta logs
        (either None where the storage does not log them); in a dry run the files it would
        delete, and None.

    Raises:
        InputError: Delta refused the retention: the table keeps removed files longer (its
            ``RETENTION_PROPERTY``).
    """
    from pyspark.errors import IllegalArgumentException

    try:
        if dry_run:
            return spark.sql(vacuum_sql(ref, hours, dry_run=True)).count(), None
        before = latest_version(spark, ref)
        spark.sql(vacuum_sql(ref, hours)).collect()
    except IllegalArgumentException as e:
        if "retention" not in str(e).lower():
            raise
        least = re.search(r'(?:at least|not less than) "?(\d+) hours', str(e))  # Delta 4 / earlier wording
        raise InputError(
            f"output table {ref.text!r}: VACUUM refused to keep only {hours} hours (output.retention): the table "
            f"keeps removed files longer ({RETENTION_PROPERTY}); set output.retention to "
            f"{f'{least[1]} hours' if least else 'that'} or more"
        ) from e
    return _vacuum_counts(spark, ref, before)


def _vacuum_counts(spark: SparkSession, ref: TableRef, before: int) -> tuple[int | None, int | None]:
    """Files deleted (VACUUM END) and bytes (VACUUM START) of the VACUUM committed after version
    ``before``; None for what is not in the log."""
    since = latest_version(spark, ref) - before
    logged = [
        r
        for r in delta_sql.history(spark, ref, max(1, since))
        if r["version"] > before and r["operation"] in ("VACUUM START", "VACUUM END")
    ]
    metrics = {r["operation"]: r["operationMetrics"] or {} for r in logged}
    files = metrics.get("VACUUM END", {}).get("numDeletedFiles")
    size = metrics.get("VACUUM START", {}).get("sizeOfDataToDelete")
    return (None if files is None else int(files)), (None if size is None else int(size))


def report(cfg: MonitorConfig, done: list[TableMaintenance], dry_run: bool) -> str:
    """What ``perfmon maintain`` prints: where, the retention, then one line per table."""
    head = (
        f"{'dry run, nothing changed: ' if dry_run else ''}output tables under {cfg.output.location.text} "
        f"(shared by every monitor writing there), retention {cfg.output.retention.text}"
    )
    return "\n".join([head, *(m.line() for m in done)] if done else [head, "no output table yet: nothing to maintain"])


def _first(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0][:200]
