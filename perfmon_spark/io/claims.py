"""One run of a monitor at a time (SPEC §6): a run takes the monitor before its first write, and a
second run started meanwhile stops at once with exit 5 and one line (or, with ``--wait``, waits
for the first to end).

Why: a run is a sequence of commits over several tables (states, metrics, alerts, then its
``runs`` row, the next run's watermark). Each commit is atomic, the sequence is not, so two runs of
one monitor writing together would interleave their MERGEs and append two watermarks, each
planned without the other's writes.

How: the claim is the monitor's row of the ``claims`` output table (``catalog.CLAIMS``), taken by
``take`` in three steps:

1. Read the monitor's row. If another run holds it (``released_at`` null) and it has not expired
   (``expires_at``, its ``claimed_at`` + ``run_timeout``), stop: ``ConcurrentRunError`` naming that
   run, when it took the monitor and until when; nothing is written, not even an empty commit (a
   run that waits polls the row every ``POLL_SECONDS`` instead, until ``wait`` runs out).
2. Otherwise write this run's row with a conflict check: the first claim of an output location
   creates the table with it; later ones MERGE it with ``WHEN NOT MATCHED THEN INSERT`` and
   ``WHEN MATCHED AND (t.released_at IS NOT NULL OR t.expires_at < s.claimed_at) THEN UPDATE``,
   so that a row held meanwhile is left as it is. The MERGE's own metrics say whether it took the
   row: a committed MERGE is what the table holds, so they are the read-back without its Spark
   jobs (and step 1 re-reads the row whenever the write did not take it). Only a MERGE that
   inserted the monitor's first row reads it back, for engines that check conflicts row by row
   (``DeltaClaims._alone``).
3. Two runs that both read the row free race at the commit, and Delta's optimistic concurrency
   lets one win: the other's MERGE fails with a conflict (``ConcurrentAppendException``,
   ``ConcurrentDeleteReadException``, ... of ``delta.exceptions``), or its creation of version 0
   fails because the table now exists. The loser goes back to step 1, finds the winner's row and
   stops. A conflict with a run of another monitor sharing the output location (its row is in the
   same table) is retried the same way, ``CONFLICT_RETRIES`` times at most.

The run lets the monitor go when it ends, having written its ``runs`` row or its FAILED one
(``release``: an UPDATE of the row of the monitor and this run's id, so that a claim another run took
over is not touched). A process killed outright cannot: its claim holds until ``expires_at``. That
is why the claim is a row with an expiry and not a lock file, which a killed process would leave
behind for good; the refusal line says until when, and the README gives the ``UPDATE`` that lets
it go sooner.

The refused run writes nothing (SPEC: "nothing written by it"): no claim, no FAILED ``runs`` row.
What happened is in the tables all the same: the run that held the monitor has its ``runs`` row,
and ``claims`` names it; the refused run's record is its line on stderr and its exit code.

The guarantee is Delta's: that a table version is committed once. Local disks, HDFS, ADLS, GCS and
Databricks give it; S3 gives it to writers of several clusters only with Delta's DynamoDB log
store.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from perfmon_spark.errors import ConcurrentRunError
from perfmon_spark.io import delta_sql
from perfmon_spark.io.catalog import CLAIMS, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.quoting import sql_string, sql_table, sql_timestamp
from perfmon_spark.io.rows import collect_rows, epoch, rows_to_frame
from perfmon_spark.io.tables import create

LOG = logging.getLogger("perfmon_spark")

POLL_SECONDS = 5.0  # how often a waiting run reads the claim again
CONFLICT_RETRIES = 8  # commits lost to other writers of the claims table before a run gives up

# Delta's commit conflicts, by class name: delta-spark's Python classes (raised where a program has
# imported ``delta.exceptions``), the JVM's (``io.delta.exceptions.*``) named in the error's text,
# which is what a classic session without that import and a Spark Connect client raise.
CONFLICTS = (
    "DeltaConcurrentModificationException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
)
_CONFLICT_TEXT = re.compile(
    r"io\.delta\.exceptions\.(?:" + "|".join(CONFLICTS) + r")\b"
    r"|\[DELTA_(?:CONCURRENT_\w+|METADATA_CHANGED|PROTOCOL_CHANGED)\b"
)


def utc_now() -> datetime:
    """The wall clock, naive UTC (as every timestamp of the output tables)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(ts: datetime) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%S}Z"


@dataclass(frozen=True)
class Claim:
    """A row of ``claims``: which run holds (or held last) the monitor, and until when."""

    monitor: str
    run_id: str
    mode: str
    as_of: datetime
    claimed_at: datetime
    expires_at: datetime
    released_at: datetime | None = None
    host: str = ""
    pid: int = 0

    @classmethod
    def new(cls, monitor: str, run_id: str, mode: str, as_of: datetime, now: datetime, timeout: timedelta) -> Claim:
        """This process's claim for a run, taken at ``now`` and held for ``timeout`` at most (to the
        second: the table stores whole seconds)."""
        now = now.replace(microsecond=0)
        return cls(monitor, run_id, str(mode), as_of, now, now + timeout, None, socket.gethostname(), os.getpid())

    def held(self, now: datetime) -> bool:
        """Whether the claim keeps other runs out at ``now``: not released and not expired (the
        negation of the MERGE's condition for taking the row over)."""
        return self.released_at is None and now <= self.expires_at

    def at(self, now: datetime) -> Claim:
        """The same claim taken at ``now`` instead (a later attempt), for as long."""
        now = now.replace(microsecond=0)
        return replace(self, claimed_at=now, expires_at=now + (self.expires_at - self.claimed_at))

    def row(self) -> dict[str, Any]:
        """As ``io.rows.rows_to_frame`` takes it: timestamps as epoch seconds."""
        values = {name: getattr(self, name) for name in CLAIMS.names}
        return {k: epoch(v) if isinstance(v, datetime) else v for k, v in values.items()}

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Claim:
        """The inverse of ``row`` (``io.rows.collect_rows`` gives timestamps as epoch seconds)."""
        types = dict(CLAIMS.schema)

        def value(name: str) -> Any:
            v = row.get(name)
            if types[name] == "timestamp" and v is not None:
                return datetime.fromtimestamp(v, timezone.utc).replace(tzinfo=None)
            return v

        return cls(**{name: value(name) for name in CLAIMS.names})

    def refusal(self, waited: float = 0.0) -> str:
        """The one line of a run this claim keeps out (``ConcurrentRunError``), after ``waited``
        seconds of waiting for it."""
        ended = (
            f"this run waited {waited:.0f} s and wrote nothing"
            if waited
            else "this run stopped before writing anything (--wait SECONDS waits for it)"
        )
        return (
            f"monitor {self.monitor!r} is held by run {self.run_id} ({self.mode} as of {_iso(self.as_of)}, "
            f"host {self.host}, pid {self.pid}) since {_iso(self.claimed_at)}, until it ends or "
            f"{_iso(self.expires_at)} (run_timeout); {ended}"
        )


@dataclass(frozen=True)
class Taken:
    """A claim this run holds, and how long it waited for another run to let the monitor go."""

    claim: Claim
    waited: float = 0.0


class Store(Protocol):
    """Where claims are kept: ``DeltaClaims``, or a test's stand-in."""

    def read(self) -> Claim | None:
        """The monitor's claim, or None where it has none."""
        ...

    def write(self, claim: Claim) -> bool:
        """Take the monitor with ``claim`` unless a claim that holds it is there: True when taken,
        False when another writer's commit won (the caller reads again)."""
        ...

    def release(self, claim: Claim, at: datetime) -> bool | None:
        """Let the monitor go: True when released, False when ``claim`` was no longer the
        monitor's (it expired and another run took it), None on a commit conflict (try again)."""
        ...


def first_claim(claims: list[Claim]) -> Claim:
    """Of several rows of one monitor that all hold it (two inserts that both committed), the one
    every run keeps: the earliest, then the least run id."""
    return min(claims, key=lambda c: (c.claimed_at, c.run_id))


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` is Delta refusing a commit that lost a race with another writer: one of
    ``CONFLICTS`` (as raised, or named by the error or one it wraps)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(c.__name__ in CONFLICTS for c in type(current).__mro__) or _CONFLICT_TEXT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class Free:
    """The monitor free: the seconds waited for it, and its last claim as read (None: never
    claimed), which says whether its last holder ended (``job.scope.killed_run``)."""

    waited: float
    last: Claim | None


def wait_until_free(
    store: Store,
    wait: float = 0.0,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> Free:
    """Read the monitor's claim until no other run holds it, ``wait`` seconds at most. It writes
    nothing: a run calls it before it plans, so that it stops at once (or waits) while another run
    holds the monitor, and ``take`` calls it before each attempt.

    Raises:
        ConcurrentRunError: another run still holds the monitor after ``wait``.
    """
    start = clock()
    deadline = start + timedelta(seconds=max(wait, 0.0))
    polls = 0
    while True:
        now = clock()
        current = store.read()
        waited = (now - start).total_seconds() if polls else 0.0
        if current is None or not current.held(now):
            return Free(waited, current)
        if now >= deadline:
            raise ConcurrentRunError(current.refusal(waited))
        sleep(min(POLL_SECONDS, (deadline - now).total_seconds()))
        polls += 1


def take(
    store: Store,
    claim: Claim,
    wait: float = 0.0,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> Taken:
    """Take the monitor for ``claim``'s run (see the module's docstring for the steps).

    Args:
        wait: seconds to wait for a run that holds the monitor to let it go (0: stop at once).
        clock, sleep: the wall clock and the pause (tests pass their own).

    Raises:
        ConcurrentRunError: another run holds the monitor (still, after ``wait``), or kept
            winning the commit ``CONFLICT_RETRIES`` times; nothing was written.
    """
    start = clock()
    deadline = start + timedelta(seconds=max(wait, 0.0))
    lost = 0
    while True:
        waited = wait_until_free(store, (deadline - clock()).total_seconds(), clock=clock, sleep=sleep).waited
        now = clock()
        mine = claim.at(now)
        if store.write(mine):
            return Taken(mine, (now - start).total_seconds() if waited else 0.0)
        lost += 1
        if lost > CONFLICT_RETRIES:
            raise ConcurrentRunError(
                f"monitor {claim.monitor!r}: other runs kept claiming it at the same moment "
                f"({lost} commits lost); this run stopped before writing anything"
            )
        sleep(random.uniform(0.05, 0.25) * lost)  # apart from the runs it collided with


def release(
    store: Store,
    claim: Claim,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Let the monitor go at the end of ``claim``'s run. Returns False, with a warning, when the
    claim had expired and another run had taken the monitor (``run_timeout`` is too short) or
    when conflicts kept the release from committing (the claim then holds until it expires)."""
    for attempt in range(1, CONFLICT_RETRIES + 2):
        released = store.release(claim, clock())
        if released is not None:
            break
        sleep(random.uniform(0.05, 0.25) * attempt)
    if released is None:
        LOG.warning(
            f"[{claim.monitor}] run {claim.run_id} could not let the monitor go (its commits kept conflicting "
            f"with other writers of claims): other runs are refused until {_iso(claim.expires_at)}"
        )
        return False
    if not released:
        LOG.warning(
            f"[{claim.monitor}] run {claim.run_id} outlived its claim (run_timeout, expired at "
            f"{_iso(claim.expires_at)}) and another run took the monitor meanwhile: make run_timeout longer "
            "than the longest run"
        )
    return released


@dataclass(frozen=True)
class DeltaClaims:
    """The claims of a monitor in its ``claims`` output table."""

    lake: Lake

    def read(self) -> Claim | None:
        if not self.lake.exists(CLAIMS):
            return None
        claims = self._rows()
        held = [c for c in claims if c.released_at is None]
        # one row per monitor (the key); were there more, one that holds the monitor is the claim
        return first_claim(held) if held else max(claims, key=lambda c: c.claimed_at, default=None)

    def _rows(self) -> list[Claim]:
        return [Claim.of_row(r) for r in collect_rows(self.lake.read(CLAIMS), CLAIMS.schema)]

    def write(self, claim: Claim) -> bool:
        spark, ref = self.lake.spark, self.lake.ref(CLAIMS)
        row = rows_to_frame(spark, [claim.row()], CLAIMS.schema)
        existed = self.lake.exists(CLAIMS)
        try:
            if not existed:
                create(row, ref)
                return True
            result = delta_sql.merge(
                row,
                ref,
                f"t.{C.monitor} = s.{C.monitor}",
                [
                    f"WHEN MATCHED AND (t.{C.released_at} IS NOT NULL OR t.{C.expires_at} < s.{C.claimed_at}) "
                    "THEN UPDATE SET *",
                    "WHEN NOT MATCHED THEN INSERT *",
                ],
            )
        except Exception as e:
            if is_conflict(e) or (not existed and self.lake.exists(CLAIMS)):  # another writer committed first
                LOG.debug("claim of %s lost a commit race: %s", claim.monitor, str(e).splitlines()[0][:200])
                return False
            raise
        if result is None or int(result["num_affected_rows"]) == 0:
            return False
        return not int(result.asDict().get("num_inserted_rows") or 0) or self._alone(claim)

    def _alone(self, claim: Claim) -> bool:
        """After this run inserted the monitor's first row: whether it is the claim. Delta's
        conflict check fails the second of two such inserts (both MERGEs read the table); an
        engine that checks conflicts row by row (Databricks' row-level concurrency, with deletion
        vectors) may commit both, and then every run keeps ``first_claim`` and the other deletes
        its own row."""
        held = [c for c in self._rows() if c.released_at is None]
        if claim.run_id not in {c.run_id for c in held}:
            return False  # gone already: read again
        if first_claim(held).run_id == claim.run_id:
            return True
        mine = f"{C.monitor} = {sql_string(claim.monitor)} AND {C.run_id} = {sql_string(claim.run_id)}"
        delta_sql.delete(self.lake.spark, self.lake.ref(CLAIMS), mine)
        return False

    def release(self, claim: Claim, at: datetime) -> bool | None:
        """One SQL ``UPDATE`` of this run's row: no source frame and no join, so cheaper than a
        MERGE on a small table, and it reports the rows it changed all the same."""
        mine = f"{C.monitor} = {sql_string(claim.monitor)} AND {C.run_id} = {sql_string(claim.run_id)}"
        try:
            rows = delta_sql.command_rows(
                self.lake.spark,
                f"UPDATE {sql_table(self.lake.ref(CLAIMS))} SET {C.released_at} = {sql_timestamp(at)} "
                f"WHERE {mine} AND {C.released_at} IS NULL",
            )
        except Exception as e:
            if is_conflict(e):
                return None
            raise
        return bool(rows) and int(rows[0]["num_affected_rows"]) > 0


@contextmanager
def claimed(lake: Lake, claim: Claim, wait: float = 0.0) -> Iterator[Taken]:
    """Hold the monitor for the body (``take``), and let it go when the body ends, whether it
    returns or raises (``release``; a failure to release is a warning, never the run's error:
    the claim then holds until it expires).

    Raises:
        ConcurrentRunError: as ``take``, before the body runs.
    """
    store = DeltaClaims(lake)
    taken = take(store, claim, wait)
    try:
        yield taken
    finally:
        try:
            release(store, taken.claim)
        except Exception as e:  # noqa: BLE001  (the run's own outcome is what the user must see)
            LOG.warning(
                f"[{claim.monitor}] could not let the monitor go ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''}): other runs are refused until "
                f"{_iso(taken.claim.expires_at)}"
            )
