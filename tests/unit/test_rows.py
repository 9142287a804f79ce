"""Driver-side row sets: when a write of them would change nothing."""

from __future__ import annotations

from perfmon_spark.io.rows import unchanged
from perfmon_spark.vocabulary import RunStatus

COLUMNS = ("monitor", "model_version", "status")


def test_equal_row_sets_in_any_order_are_unchanged():
    rows = [{"monitor": "m", "model_version": "v1", "status": "OK"}, {"monitor": "m", "model_version": "v2"}]
    assert unchanged(rows, list(reversed(rows)), COLUMNS)
    assert unchanged([], [], COLUMNS)
    # as the driver builds them (vocabulary members, tuples) and as Spark returns them
    built = [{"monitor": "m", "model_version": ("v1", "v2"), "status": RunStatus.SUCCEEDED}]
    assert unchanged(built, [{"monitor": "m", "model_version": ["v1", "v2"], "status": "SUCCEEDED"}], COLUMNS)


def test_a_changed_added_or_removed_row_is_a_change():
    rows = [{"monitor": "m", "model_version": "v1", "status": "OK"}]
    assert not unchanged(rows, [{**rows[0], "status": "DEGRADED"}], COLUMNS)
    assert not unchanged(rows, [], COLUMNS)
    assert not unchanged([], rows, COLUMNS)
    assert not unchanged(rows * 2, rows, COLUMNS)
    # columns outside the compared ones do not count
    assert unchanged(rows, [{**rows[0], "run_id": "other"}], COLUMNS)
