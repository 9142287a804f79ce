"""Spark's bucket floor equals the Python one (``buckets.Buckets``), for every granularity."""

from __future__ import annotations

from calendar import timegm
from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import parse_duration


@pytest.mark.parametrize("granularity", ["1 hour", "1 day", "1 week"])
def test_spark_floor_equals_python_floor(spark, granularity):
    buckets = Buckets(parse_duration(granularity, "g"))
    times = [datetime(2026, 2, 27, 23, 59, 59) + timedelta(hours=7 * i, seconds=13 * i) for i in range(60)]
    # epoch seconds both ways: Python's datetimes cross the driver boundary in its local zone
    df = spark.createDataFrame([(timegm(t.timetuple()),) for t in times], "s long")
    start = buckets.floor_column(F.timestamp_seconds("s"))
    got = df.select(F.unix_timestamp(start).alias("b"), F.unix_timestamp(buckets.end_column(start)).alias("e"))
    assert [(r["b"], r["e"]) for r in got.collect()] == [
        (timegm(buckets.floor(t).timetuple()), timegm((buckets.floor(t) + buckets.step).timetuple())) for t in times
    ]
