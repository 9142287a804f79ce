"""How late labels arrive: the delays (label time minus prediction time) of the label events a run
read, as quantiles in days (``runs.label_delay``), and the ``max_delay`` that would keep 99% of
them.

The delays are measured on the eligible and late events (``ingest.labels``: an event matched to its
prediction, within max_delay or not), in whole minutes, so that the one aggregation carries them
as at most 1,440 groups a day of delay instead of one row per event; the quantiles are Spark's
exact ``percentile`` over those groups weighted by their sizes (linear interpolation, as numpy's
and pandas' default), so they equal a pandas computation on the delays floored to the minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from perfmon_spark.ingest.columns import DELAY, STATUS
from perfmon_spark.io.catalog import LABEL_DELAY_QUANTILES as QUANTILES
from perfmon_spark.io.catalog import LABEL_DELAY_SHARE_BEYOND as SHARE_BEYOND
from perfmon_spark.vocabulary import RowStatus

MINUTES_PER_DAY = 24 * 60
KEPT_SHARE = 0.99  # the share of label events the suggested max_delay keeps (p99)


@dataclass(frozen=True)
class LabelDelay:
    """The measured delays: ``days`` maps p50, p90, p99 and max to days."""

    events: int  # eligible and late label events measured
    late: int  # of those, later than max_delay
    days: dict[str, float]

    @property
    def share_late(self) -> float:
        return self.late / self.events

    def as_map(self) -> dict[str, float]:
        """The ``runs.label_delay`` value."""
        return {**self.days, SHARE_BEYOND: self.share_late}

    def suggested_max_delay(self) -> str:
        """The whole number of days that keeps ``KEPT_SHARE`` of the events, as a config duration."""
        days = max(1, math.ceil(self.days["p99"]))
        return f"{days} day" if days == 1 else f"{days} days"

    def describe(self) -> str:
        """One line: the quantiles, the late share and the suggestion."""
        quantiles = ", ".join(f"{name} {value:.1f}" for name, value in self.days.items())
        return (
            f"label delay over {self.events:,} label events (days): {quantiles}; "
            f"{self.share_late:.1%} beyond max_delay; max_delay: {self.suggested_max_delay()} "
            f"would keep {KEPT_SHARE:.0%} of them"
        )


def measure(rows: DataFrame, weight: Column) -> LabelDelay | None:
    """The delays of ``rows`` (resolved rows, or the one aggregation's groups with ``weight`` their
    sizes), or None when no label event was matched to a prediction. One small job."""
    delay = F.col(DELAY)
    names = list(QUANTILES)
    row = (
        rows.filter(delay.isNotNull())
        .agg(
            F.percentile(delay, [QUANTILES[n] for n in names], weight).alias("q"),
            F.max(delay).alias("max"),
            F.sum(weight).alias("events"),
            F.sum(F.when(F.col(STATUS) == RowStatus.LATE, weight).otherwise(0)).alias("late"),
        )
        .first()
    )
    if row is None or not row["events"]:
        return None
    days = {n: q / MINUTES_PER_DAY for n, q in zip(names, row["q"])}
    days["max"] = row["max"] / MINUTES_PER_DAY
    return LabelDelay(int(row["events"]), int(row["late"]), days)
