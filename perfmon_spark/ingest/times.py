"""When an input row happened, declared once per input: the configured timestamp column, or a
date column read by the rule the config opts into (``timestamp_is_date``).

A date says which day, not when in it, so a run must not see a day before it is over:

- a prediction dated D falls in the bucket of D's midnight (UTC) and is visible to runs as of
  the end of D (D + 1 day) or later: ``--as-of 2026-02-25`` sees predictions dated up to the 24th;
- a label dated D arrived at the end of D: it is eligible from as_of D + 1 day, never precedes a
  prediction made on D, and its delay is measured to the end of its day.

Without the option a DATE or string column is an input error (``validate.check_input_columns``):
read as midnight, a run as of a date would count the whole of that day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig

NO_LAG = timedelta(0)
DAY = timedelta(days=1)


def prediction_time(cfg: MonitorConfig) -> Column:
    """The prediction's timestamp (its bucket's time): a date's midnight."""
    p = cfg.predictions
    if p.timestamp_is_date:
        return F.to_date(F.col(p.timestamp)).cast("timestamp")
    return F.col(p.timestamp).cast("timestamp")


def visibility_lag(cfg: MonitorConfig) -> timedelta:
    """How long after ``prediction_time`` a prediction becomes visible: a day for dates."""
    return DAY if cfg.predictions.timestamp_is_date else NO_LAG


def prediction_visible(cfg: MonitorConfig, as_of: datetime) -> Column:
    """A prediction exists for a run as of ``as_of``."""
    return prediction_time(cfg) <= F.lit(as_of - visibility_lag(cfg))


def label_time(cfg: MonitorConfig) -> Column:
    """The label event's arrival time: the end of its day for dates."""
    lab = cfg.labels
    if lab.timestamp_is_date:
        return F.date_add(F.to_date(F.col(lab.timestamp)), 1).cast("timestamp")
    return F.col(lab.timestamp).cast("timestamp")
