"""Small numpy helpers shared by the finalisers of every problem type."""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics import intervals


def field(state, name) -> np.ndarray:
    return np.asarray(state[name], dtype=float)


def ratio(num, den) -> np.ndarray:
    """num / den, NaN where den <= 0."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def mean_of(total: str, count: str, squares: str | None = None):
    """(finaliser, interval) of a mean stored as the sum ``total`` over ``count`` rows, with the
    sum of squares of the same per-row quantity in ``squares`` (default ``total + "_sq"``): the
    normal interval and standard error of ``intervals.normal_mean``."""
    squares = squares or f"{total}_sq"

    def finalise(s):
        return ratio(field(s, total), field(s, count))

    def interval(s, z):
        return intervals.normal_mean(field(s, total), field(s, squares), field(s, count), z)

    return finalise, interval
