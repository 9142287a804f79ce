"""Time buckets: the tumbling grid every state, window and scope is cut on.

A bucket starts at a multiple of the granularity in UTC (an hour, a day, or a week starting on
Monday, as Spark's ``date_trunc``). ``Buckets`` gives the same floor in Python (for planning) and
in Spark (for rows), so that neither needs the other: no Spark job truncates one timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from perfmon_spark.config import Duration

_UNITS = {3600: "hour", 86400: "day", 7 * 86400: "week"}


def seconds(n: int) -> Column:
    """An interval of ``n`` seconds, to add to a timestamp column."""
    return F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), F.lit(n).cast("decimal(18,6)"))


@dataclass(frozen=True)
class Buckets:
    """The bucket grid of a granularity (``windows.granularity``: 1 hour, 1 day or 1 week)."""

    granularity: Duration

    @property
    def unit(self) -> str:
        return _UNITS[self.granularity.seconds]

    @property
    def step(self) -> timedelta:
        return self.granularity.delta

    def floor(self, ts: datetime) -> datetime:
        """The start of the bucket holding ``ts`` (naive UTC)."""
        start = ts.replace(minute=0, second=0, microsecond=0)
        if self.unit != "hour":
            start = start.replace(hour=0)
        if self.unit == "week":
            start -= timedelta(days=start.weekday())
        return start

    def floor_column(self, ts: Column) -> Column:
        """Spark twin of ``floor``."""
        return F.date_trunc(self.unit, ts)

    def end_column(self, start: Column) -> Column:
        """The end of the bucket starting at ``start``."""
        return start + seconds(self.granularity.seconds)

    def between(self, first: datetime, last: datetime) -> list[datetime]:
        """Starts of the buckets from the one holding ``first`` to the one holding ``last``."""
        out, b = [], self.floor(first)
        while b <= last:
            out.append(b)
            b += self.step
        return out
