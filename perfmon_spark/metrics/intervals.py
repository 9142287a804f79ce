"""Confidence intervals as pure numpy functions, vectorised over windows, and the tails of the
distributions the tests read them with.

Each interval method returns an ``Interval``: its bounds and the standard error of the value, by
the same method, with NaN where the method is undefined (no data), so that a missing interval is
always visibly null and never a made-up one. The standard error is returned with the bounds, not
rebuilt from them, because the alert tests need it on the metric's own scale and the bounds do
not give it back where they are asymmetric or clipped: DeLong and average precision on the logit
scale, F1 mapped from a Wilson interval, RMSE as the square root of the MSE's, clipped estimates.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np


def z_value(confidence_level: float) -> float:
    """Two-sided standard normal quantile: the z that leaves ``1 - confidence_level`` in the two
    tails together.

    Examples:
        >>> round(z_value(0.95), 4)
        1.96
        >>> round(z_value(0.99), 3)
        2.576
    """
    return NormalDist().inv_cdf(0.5 + confidence_level / 2.0)


def t_two_sided(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` >= 1 degrees of freedom (the closed forms for
    integer df, Abramowitz & Stegun 26.7.3-4), for the Spearman correlation's p-value and tests on an
    estimated variance.

    Examples:
        With one degree of freedom, T is Cauchy: half its mass lies beyond -1 and 1.

        >>> t_two_sided(1.0, 1)
        0.5

        2.228 is the 5% two-sided point of the t table at 10 degrees of freedom, where the normal's
        would be 1.96: an estimated variance widens the test.

        >>> round(t_two_sided(2.228, 10), 4)
        0.05
    """
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2 == 1:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):  # cos, cos^3 2/3, cos^5 (2 4)/(3 5), ...
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        within = 2 / math.pi * (theta + s * total) if df > 1 else 2 * theta / math.pi
    else:
        term, total = 1.0, 0.0
        for k in range(1, df // 2 + 1):  # 1, cos^2 1/2, cos^4 (1 3)/(2 4), ...
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        within = s * total
    return float(min(max(1.0 - within, 0.0), 1.0))


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


class Interval(NamedTuple):
    """An interval at some z and the standard error of the value it is built around, each an
    array over windows (or a float for one summary), NaN together where the method is undefined.

    ``std_error`` is what a test of the value reads (``perf_metrics.std_error``): the method's own
    standard error on the metric's scale, which for an asymmetric or clipped interval is not its
    half-width / z."""

    lower: np.ndarray
    upper: np.ndarray
    std_error: np.ndarray


def symmetric(centre, std_error, z: float, low: float = -np.inf, high: float = np.inf) -> Interval:
    """The normal interval ``centre -+ z std_error``, clipped to [low, high] where the metric is
    bounded; the standard error is the one before clipping (a clipped end says nothing of it)."""
    centre, se = _arr(centre), _arr(std_error)
    return Interval(np.clip(centre - z * se, low, high), np.clip(centre + z * se, low, high), se)


def wilson(successes, n, z: float) -> Interval:
    """Wilson score interval for a proportion; good coverage even near 0 and 1 and for small n.

    Its standard error is the Wilson score one, the interval's half-width / z:
    sqrt(p (1 - p) / n + z^2 / (4 n^2)) / (1 + z^2 / n). Unlike the Wald sqrt(p (1 - p) / n) it
    stays > 0 at p = 0 or 1, so that 200 correct of 200 is not taken for an exact value.

    Examples:
        18 of 20: the interval leans away from 1, and stays inside [0, 1].

        >>> lower, upper, se = wilson(18, 20, z_value(0.95))
        >>> print(f"{lower:.3f} {upper:.3f} {se:.4f}")
        0.699 0.972 0.0697

        20 of 20 is not an exact 1: the interval has a width and the value a standard error.

        >>> lower, upper, se = wilson(20, 20, z_value(0.95))
        >>> print(f"{lower:.3f} {upper:.3f} {se:.4f}")
        0.839 1.000 0.0411

        Vectorised over windows; a window without trials has no interval (NaN, stored as null).

        >>> np.round(wilson(np.array([5, 0]), np.array([10, 0]), 1.96).std_error, 4)
        array([0.1344,    nan])
    """
    k, n = _arr(successes), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        se = np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    bad = n <= 0
    se = np.where(bad, np.nan, se)
    return Interval(centre - z * se, centre + z * se, se)


def normal_mean(total, total_sq, n, z: float) -> Interval:
    """Normal interval for a mean from its sum and sum of squares (sample variance, n >= 2); its
    standard error is sqrt(variance / n)."""
    s, s2, n = _arr(total), _arr(total_sq), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        var = np.maximum(s2 - n * mean * mean, 0.0) / (n - 1)
        se = np.sqrt(var / n)
    return symmetric(mean, np.where(n < 2, np.nan, se), z)


def hanley_mcneil_se(auc, n_pos, n_neg) -> np.ndarray:
    """Hanley & McNeil (1982) standard error of the AUC; NaN without both classes."""
    a, p, q = _arr(auc), _arr(n_pos), _arr(n_neg)
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (a * (1 - a) + (p - 1) * (q1 - a * a) + (q - 1) * (q2 - a * a)) / (p * q)
    return np.where((p > 0) & (q > 0), np.sqrt(np.maximum(var, 0.0)), np.nan)


def f1_wilson(tp, fp, fn, z: float) -> Interval:
    """F1 through J = TP / (TP + FP + FN), a proportion: a Wilson interval on J mapped by the
    monotone F1 = 2J / (1 + J). Its standard error is the delta method's on the F1 scale,
    dF1/dJ = 2 / (1 + J)^2 times J's Wilson standard error, at the window's own J."""
    tp, trials = _arr(tp), _arr(tp) + _arr(fp) + _arr(fn)
    j = wilson(tp, trials, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = tp / trials
    return Interval(2 * j.lower / (1 + j.lower), 2 * j.upper / (1 + j.upper), 2 / (1 + share) ** 2 * j.std_error)


def logit_interval(value, n, z: float) -> Interval:
    """A proportion-like value (average precision) on the logit scale with n effective trials (the
    positives): logit(v) +- z / sqrt(n v (1 - v)), mapped back (Boyd, Eng and Page, 2013); null
    at 0 and 1, where the logit has no spread. Its standard error is the delta method's back on
    the value's scale: the logit's, 1 / sqrt(n v (1 - v)), times dv/dlogit = v (1 - v), that is
    sqrt(v (1 - v) / n)."""
    v, n = _arr(value), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(v * (1 - v) / n)
        centre, half = np.log(v / (1 - v)), z * se / (v * (1 - v))
        lower, upper = 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))
    bad = ~((v > 0) & (v < 1) & (n > 0))
    return Interval(*(np.where(bad, np.nan, x) for x in (lower, upper, se)))


def delong_auc(keys, pos, neg, z: float) -> Interval:
    """DeLong's interval for the AUC of one score summary (scores ``keys`` sorted ascending with
    their positive and negative counts; ties count one half), as floats. Its variance comes from
    each label's placement values, so it holds when the two classes' spreads differ, where
    Hanley-McNeil under-covers; the standard error is its square root, on the AUC's scale (the
    interval is built on the logit's). With no spread (an AUC of 0 or 1), the Wilson interval of
    the AUC over the smaller class, and its Wilson standard error; NaN with one class."""
    pos, neg = _arr(pos), _arr(neg)
    m, n = pos.sum(), neg.sum()
    if m == 0 or n == 0:
        return Interval(np.nan, np.nan, np.nan)
    below_neg = np.cumsum(neg) - neg  # negatives strictly below each key
    above_pos = m - np.cumsum(pos)  # positives strictly above each key
    v10 = (below_neg + 0.5 * neg) / n  # a positive's placement among negatives
    v01 = (above_pos + 0.5 * pos) / m  # a negative's placement among positives
    auc = float((pos * v10).sum() / m)
    var = _weighted_var(v10, pos) / m + _weighted_var(v01, neg) / n
    if not var > 0 or auc in (0.0, 1.0):
        return Interval(*(float(x) for x in wilson(auc * min(m, n), min(m, n), z)))
    # on the logit scale (delta method), which keeps the interval inside (0, 1) and covers better
    # than the plain normal one when the AUC is high or the positives few
    se = math.sqrt(var)
    centre, half = np.log(auc / (1 - auc)), z * se / (auc * (1 - auc))
    return Interval(float(1 / (1 + np.exp(-(centre - half)))), float(1 / (1 + np.exp(-(centre + half)))), se)


def _weighted_var(values: np.ndarray, weights: np.ndarray) -> float:
    """Sample variance (n - 1) of values repeated by integer weights."""
    total = weights.sum()
    if total < 2:
        return 0.0
    mean = (values * weights).sum() / total
    return float((weights * (values - mean) ** 2).sum() / (total - 1))
