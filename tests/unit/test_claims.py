"""``io.claims`` without Spark: when a claim keeps other runs out, the line a refused run prints,
which errors are Delta's commit conflicts, and how ``take`` and ``release`` behave against a
stand-in store (waits, races lost, conflicts with other writers). The Delta store itself:
tests/spark/test_concurrent_runs.py; two real processes: tests/e2e/test_concurrent_runs.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from perfmon_spark.cli import main, run_cli
from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConcurrentRunError
from perfmon_spark.io import claims
from perfmon_spark.io.catalog import CLAIMS
from perfmon_spark.io.claims import CONFLICT_RETRIES, POLL_SECONDS, Claim, first_claim, is_conflict, release, take
from tests.helpers import config_dict

T = datetime(2026, 3, 1, 6, 0, 0)
HOURS_6 = timedelta(hours=6)


def claim_of(run_id: str, at: datetime = T, timeout: timedelta = HOURS_6, **changes) -> Claim:
    claim = Claim("fraud", run_id, "incremental", datetime(2026, 3, 1), at, at + timeout, None, "host-a", 4242)
    return replace(claim, **changes)


class Clock:
    """A wall clock that only ``sleep`` moves."""

    def __init__(self, now: datetime = T):
        self.now, self.slept = now, []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class Store:
    """The claims of one monitor in memory, written as the MERGE does (a held row stays), with
    hooks that play another writer: ``before_write`` runs just before a write commits."""

    def __init__(self, current: Claim | None = None, before_write=None):
        self.current, self.before_write = current, before_write
        self.writes, self.releases = [], []

    def read(self) -> Claim | None:
        return self.current

    def write(self, claim: Claim) -> bool:
        self.writes.append(claim)
        if self.before_write is not None and self.before_write(self) is False:
            return False  # another writer committed first: a conflict
        if self.current is not None and self.current.held(claim.claimed_at):
            return False  # the MERGE's condition: 0 rows changed
        self.current = claim
        return True

    def release(self, claim: Claim, at: datetime) -> bool | None:
        self.releases.append(at)
        if self.current is None or self.current.run_id != claim.run_id:
            return False
        self.current = replace(self.current, released_at=at)
        return True


# --- the claim ----------------------------------------------------------------------------------


def test_a_claim_holds_until_released_or_expired():
    held = claim_of("a")
    assert held.held(T) and held.held(T + HOURS_6)  # expires_at itself still holds (MERGE: expires_at < now)
    assert not held.held(T + HOURS_6 + timedelta(seconds=1))
    assert not replace(held, released_at=T + timedelta(minutes=5)).held(T + timedelta(minutes=6))


def test_a_new_claim_is_this_process_to_the_second():
    import os

    claim = Claim.new("fraud", "r1", "backfill", T, T + timedelta(microseconds=700), HOURS_6)
    assert (claim.claimed_at, claim.expires_at, claim.released_at) == (T, T + HOURS_6, None)
    assert claim.pid == os.getpid() and claim.host and claim.mode == "backfill"
    later = claim.at(T + timedelta(minutes=3, microseconds=5))
    assert (later.claimed_at, later.expires_at) == (T + timedelta(minutes=3), T + timedelta(minutes=3) + HOURS_6)


def test_a_claim_crosses_to_spark_as_the_catalogues_row():
    claim = claim_of("a", released_at=T + timedelta(hours=1))
    row = claim.row()
    assert list(row) == list(CLAIMS.names)
    assert row["claimed_at"] == 1772344800 and row["released_at"] == 1772344800 + 3600
    assert Claim.of_row(row) == claim
    assert Claim.of_row(claim_of("b").row()).released_at is None


def test_the_refusal_is_one_line_naming_the_holder_and_until_when():
    error = ConcurrentRunError(claim_of("20260301T060000-abcd1234").refusal())
    assert error.exit_code == 5
    assert str(error) == (
        "concurrent run: monitor 'fraud' is held by run 20260301T060000-abcd1234 (incremental as of "
        "2026-03-01T00:00:00Z, host host-a, pid 4242) since 2026-03-01T06:00:00Z, until it ends or "
        "2026-03-01T12:00:00Z (run_timeout); this run stopped before writing anything (--wait SECONDS waits for it)"
    )
    assert str(ConcurrentRunError(claim_of("a").refusal(600.4))).endswith("this run waited 600 s and wrote nothing")


def test_of_two_rows_that_both_hold_a_monitor_every_run_keeps_the_same():
    early, late = claim_of("b", at=T), claim_of("a", at=T + timedelta(seconds=1))
    tie = claim_of("a", at=T)
    assert first_claim([late, early]) == first_claim([early, late]) == early
    assert first_claim([early, tie]) == tie  # then the least run id


# --- Delta's conflicts --------------------------------------------------------------------------


@pytest.mark.parametrize("name", claims.CONFLICTS)
def test_each_of_deltas_conflicts_is_a_lost_race(name):
    from delta.exceptions import base

    assert is_conflict(getattr(base, name)(message="a concurrent update"))


@pytest.mark.parametrize(
    "text",
    [
        "io.delta.exceptions.ConcurrentAppendException: Files were added to the root of the table",
        "[DELTA_CONCURRENT_APPEND.WITHOUT_HINT] ConcurrentAppendException: Files were added",
        "[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: This happens when multiple writers are writing to "
        "an empty directory",
        "[DELTA_METADATA_CHANGED] MetadataChangedException: the metadata changed",
    ],
)
def test_a_conflict_is_recognised_by_the_name_it_carries(text):
    assert is_conflict(RuntimeError(text))
    try:
        try:
            raise RuntimeError(text)
        except RuntimeError as inner:
            raise ValueError("the MERGE failed") from inner
    except ValueError as outer:
        assert is_conflict(outer)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        RuntimeError("[DELTA_PATH_EXISTS] Cannot write to already existing path"),
        RuntimeError("ConcurrentModificationException in a java.util.HashMap"),
    ],
)
def test_other_errors_are_not_conflicts(error):
    assert not is_conflict(error)


# --- take ---------------------------------------------------------------------------------------


def test_a_free_monitor_is_taken_at_once():
    clock, store = Clock(), Store()
    taken = take(store, claim_of("me"), clock=clock, sleep=clock.sleep)
    assert taken.waited == 0 and store.current == taken.claim and taken.claim.run_id == "me"
    assert clock.slept == []


@pytest.mark.parametrize(
    "holder",
    [
        claim_of("old", at=T - timedelta(hours=2), released_at=T - timedelta(hours=1)),
        claim_of("killed", at=T - timedelta(hours=7)),  # expired an hour ago
    ],
    ids=["released", "expired"],
)
def test_a_released_or_expired_claim_is_taken_over(holder):
    clock, store = Clock(), Store(holder)
    taken = take(store, claim_of("me", at=T - timedelta(minutes=1)), clock=clock, sleep=clock.sleep)
    assert store.current.run_id == "me" and taken.claim.claimed_at == T and taken.claim.expires_at == T + HOURS_6


def test_a_held_monitor_stops_the_run_at_once_without_a_write():
    clock, store = Clock(), Store(claim_of("other", at=T - timedelta(minutes=5)))
    with pytest.raises(ConcurrentRunError, match=r"held by run other .* stopped before writing anything") as e:
        take(store, claim_of("me"), clock=clock, sleep=clock.sleep)
    assert e.value.exit_code == 5 and store.writes == [] and clock.slept == []


def test_a_waiting_run_takes_the_monitor_when_the_holder_lets_go():
    clock = Clock()
    store = Store(claim_of("other", at=T - timedelta(minutes=5)))
    reads = 0

    def read():
        nonlocal reads
        reads += 1
        if reads == 4:  # the holder ends between the third and the fourth look
            store.current = replace(store.current, released_at=clock())
        return store.current

    store.read = read
    taken = take(store, claim_of("me"), wait=60, clock=clock, sleep=clock.sleep)
    assert clock.slept == [POLL_SECONDS] * 3 and taken.waited == 3 * POLL_SECONDS
    assert store.current.run_id == "me" and taken.claim.claimed_at == T + timedelta(seconds=3 * POLL_SECONDS)


def test_a_wait_that_runs_out_stops_the_run():
    clock, store = Clock(), Store(claim_of("other"))
    with pytest.raises(ConcurrentRunError, match=r"held by run other .*; this run waited 12 s and wrote nothing"):
        take(store, claim_of("me"), wait=12, clock=clock, sleep=clock.sleep)
    assert clock.slept == [POLL_SECONDS, POLL_SECONDS, 12 - 2 * POLL_SECONDS] and store.writes == []


def test_a_race_lost_at_the_commit_reads_the_winner_and_stops():
    """Both runs read the monitor free; the other commits first: this run's commit fails (a
    conflict), it reads again, finds the winner and stops."""
    clock = Clock()

    def other_wins(store):
        store.current = claim_of("winner")
        return False

    store = Store(before_write=other_wins)
    with pytest.raises(ConcurrentRunError, match="held by run winner"):
        take(store, claim_of("me"), clock=clock, sleep=clock.sleep)
    assert [c.run_id for c in store.writes] == ["me"] and store.current.run_id == "winner"


def test_conflicts_with_other_writers_are_retried_then_given_up():
    """Another monitor's runs sharing the claims table conflict without holding this monitor:
    the claim is tried again, ``CONFLICT_RETRIES`` times at most."""
    clock = Clock()
    lost = iter([False, False])
    store = Store(before_write=lambda s: next(lost, None))
    assert take(store, claim_of("me"), clock=clock, sleep=clock.sleep).claim.run_id == "me"
    assert len(store.writes) == 3 and len(clock.slept) == 2 and all(0 < s < 1 for s in clock.slept)

    always = Store(before_write=lambda s: False)
    with pytest.raises(ConcurrentRunError, match=r"other runs kept claiming it .* stopped before writing anything"):
        take(always, claim_of("me"), clock=clock, sleep=clock.sleep)
    assert len(always.writes) == CONFLICT_RETRIES + 1


# --- release ------------------------------------------------------------------------------------


def test_release_lets_the_monitor_go(caplog):
    clock, store = Clock(), Store()
    taken = take(store, claim_of("me"), clock=clock, sleep=clock.sleep)
    clock.now += timedelta(minutes=20)
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        assert release(store, taken.claim, clock=clock, sleep=clock.sleep)
    assert store.current.released_at == T + timedelta(minutes=20) and not caplog.records
    assert take(store, claim_of("next"), clock=clock, sleep=clock.sleep).claim.run_id == "next"


def test_a_run_that_outlived_its_claim_says_so(caplog):
    clock, store = Clock(), Store(claim_of("taker"))
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        assert not release(store, claim_of("me", at=T - timedelta(hours=7)), clock=clock, sleep=clock.sleep)
    assert store.current.run_id == "taker" and store.current.released_at is None
    assert "outlived its claim" in caplog.text and "make run_timeout longer" in caplog.text


def test_a_release_that_keeps_conflicting_gives_up_with_a_warning(caplog):
    clock, store = Clock(), Store()
    store.release = lambda claim, at: None
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        assert not release(store, claim_of("me"), clock=clock, sleep=clock.sleep)
    assert len(clock.slept) == CONFLICT_RETRIES + 1 and "refused until 2026-03-01T12:00:00Z" in caplog.text


# --- config and command line --------------------------------------------------------------------


def test_run_timeout_defaults_to_6_hours_and_changes_no_hash(tmp_path):
    data = config_dict(str(tmp_path / "p"), str(tmp_path / "l"), str(tmp_path / "out"))
    default, short = parse_config(data), parse_config(dict(data, run_timeout="20 minutes"))
    assert default.run_timeout.delta == HOURS_6 and short.run_timeout.delta == timedelta(minutes=20)
    assert default.source_hash == short.source_hash


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_wait_takes_seconds_only(value, capsys):
    assert main(["run", "--config", "conf/demo.yml", "--wait", value]) == 2
    err = capsys.readouterr().err
    assert "argument --wait: expected a number of seconds >= 0" in err and len(err.strip().splitlines()) == 1


def test_a_refused_run_exits_5_with_one_line(capsys):
    def refused(args):
        raise ConcurrentRunError(claim_of("other").refusal())

    from perfmon_spark.cli import build_parser

    assert run_cli(["run", "--config", "x.yml", "--wait", "2.5"], build_parser(), refused) == 5
    err = capsys.readouterr().err
    assert err.startswith("concurrent run: monitor 'fraud' is held by run other") and err.count("\n") == 1
