"""Business KPIs: a ratio of two sums of row expressions over labeled predictions.

State per KPI (all sums over labeled rows, so KPIs merge by addition like every other field):
``kpi_<name>_num`` (a), ``_den`` (b), and ``_aa``, ``_ab``, ``_bb`` for the interval. The value
is sum(a) / sum(b), null when sum(b) is 0. The interval is the delta-method (linearisation) one
of a ratio estimator: var = sum((a - R b)^2) / sum(b)^2, expanded into the three cross sums, and
its standard error sqrt(var); null with fewer than 2 labeled rows or no spread.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics import intervals
from perfmon_spark.metrics.common import field

PARTS = ("num", "den", "aa", "ab", "bb")


def kpi_fields(name: str) -> tuple[str, ...]:
    return tuple(f"kpi_{name}_{p}" for p in PARTS)


def kpi_value(state, name: str) -> np.ndarray:
    num, den = (field(state, f) for f in kpi_fields(name)[:2])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / den, np.nan)


def kpi_interval(state, name: str, z: float) -> intervals.Interval:
    _, b, aa, ab, bb = (field(state, f) for f in kpi_fields(name))
    r = kpi_value(state, name)
    n = field(state, "n_labeled")
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.maximum(aa - 2 * r * ab + r * r * bb, 0.0) / (b * b)
    # no spread at all (e.g. no row with a non-zero numerator): the linearisation says zero
    # width, which is false certainty, so no interval
    return intervals.symmetric(r, np.where((n >= 2) & (var > 0), np.sqrt(var), np.nan), z)
