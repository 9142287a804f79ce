"""The bucket grid in Python (the Spark twin is checked against it in tests/spark/test_buckets.py)."""

from __future__ import annotations

from datetime import datetime

import pytest

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import parse_duration

TS = datetime(2026, 3, 4, 17, 45, 12, 500)  # a Wednesday


@pytest.mark.parametrize(
    ("granularity", "start"),
    [("1 hour", datetime(2026, 3, 4, 17)), ("1 day", datetime(2026, 3, 4)), ("1 week", datetime(2026, 3, 2))],
)
def test_floor_is_the_bucket_start(granularity, start):
    buckets = Buckets(parse_duration(granularity, "g"))
    assert buckets.floor(TS) == start and buckets.floor(start) == start


def test_between_lists_the_buckets_holding_both_ends():
    days = Buckets(parse_duration("1 day", "g"))
    assert days.between(datetime(2026, 3, 1, 12), datetime(2026, 3, 3)) == [
        datetime(2026, 3, 1),
        datetime(2026, 3, 2),
        datetime(2026, 3, 3),
    ]
    assert days.between(datetime(2026, 3, 3), datetime(2026, 3, 2)) == []
