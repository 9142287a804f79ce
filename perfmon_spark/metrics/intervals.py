"""Confidence intervals as pure numpy functions, vectorised over windows, and the tails of the
distributions the tests read them with.

Each interval returns (lower, upper) arrays with NaN where the method is undefined (no data), so
that a missing interval is always visibly null and never a made-up one.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def z_value(confidence_level: float) -> float:
    """Two-sided standard normal quantile, e.g. 1.95996 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence_level / 2.0)


def t_two_sided(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` >= 1 degrees of freedom (the closed forms for
    integer df, Abramowitz & Stegun 26.7.3-4), for the Spearman correlation's p-value and tests on an
    estimated variance."""
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


def wilson(successes, n, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion; good coverage even near 0 and 1 and for small n."""
    k, n = _arr(successes), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    bad = n <= 0
    return np.where(bad, np.nan, centre - half), np.where(bad, np.nan, centre + half)


def normal_mean(total, total_sq, n, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal interval for a mean from its sum and sum of squares (sample variance, n >= 2)."""
    s, s2, n = _arr(total), _arr(total_sq), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        var = np.maximum(s2 - n * mean * mean, 0.0) / (n - 1)
        half = z * np.sqrt(var / n)
    bad = n < 2
    return np.where(bad, np.nan, mean - half), np.where(bad, np.nan, mean + half)


def hanley_mcneil_se(auc, n_pos, n_neg) -> np.ndarray:
    """Hanley & McNeil (1982) standard error of the AUC; NaN without both classes."""
    a, p, q = _arr(auc), _arr(n_pos), _arr(n_neg)
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (a * (1 - a) + (p - 1) * (q1 - a * a) + (q - 1) * (q2 - a * a)) / (p * q)
    return np.where((p > 0) & (q > 0), np.sqrt(np.maximum(var, 0.0)), np.nan)


def f1_wilson(tp, fp, fn, z: float) -> tuple[np.ndarray, np.ndarray]:
    """F1 through J = TP / (TP + FP + FN), a proportion: a Wilson interval on J mapped by the
    monotone F1 = 2J / (1 + J)."""
    lower, upper = wilson(tp, _arr(tp) + _arr(fp) + _arr(fn), z)
    return 2 * lower / (1 + lower), 2 * upper / (1 + upper)


def logit_interval(value, n, z: float) -> tuple[np.ndarray, np.ndarray]:
    """A proportion-like value (average precision) on the logit scale with n effective trials (the
    positives): logit(v) +- z / sqrt(n v (1 - v)), mapped back (Boyd, Eng and Page, 2013); null
    at 0 and 1, where the logit has no spread."""
    v, n = _arr(value), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.log(v / (1 - v))
        half = z / np.sqrt(n * v * (1 - v))
        lower, upper = 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))
    bad = ~((v > 0) & (v < 1) & (n > 0))
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)


def delong_auc(keys, pos, neg, z: float) -> tuple[float, float]:
    """DeLong's interval for the AUC of one score summary (scores ``keys`` sorted ascending with
    their positive and negative counts; ties count one half). Its variance comes from each
    label's placement values, so it holds when the two classes' spreads differ, where
    Hanley-McNeil under-covers. With no spread (an AUC of 0 or 1), the Wilson interval of the AUC
    over the smaller class; NaN with one class."""
    pos, neg = _arr(pos), _arr(neg)
    m, n = pos.sum(), neg.sum()
    if m == 0 or n == 0:
        return np.nan, np.nan
    below_neg = np.cumsum(neg) - neg  # negatives strictly below each key
    above_pos = m - np.cumsum(pos)  # positives strictly above each key
    v10 = (below_neg + 0.5 * neg) / n  # a positive's placement among negatives
    v01 = (above_pos + 0.5 * pos) / m  # a negative's placement among positives
    auc = float((pos * v10).sum() / m)
    var = _weighted_var(v10, pos) / m + _weighted_var(v01, neg) / n
    if not var > 0 or auc in (0.0, 1.0):
        lower, upper = wilson(auc * min(m, n), min(m, n), z)
        return float(lower), float(upper)
    # on the logit scale (delta method), which keeps the interval inside (0, 1) and covers better
    # than the plain normal one when the AUC is high or the positives few
    centre, half = np.log(auc / (1 - auc)), z * np.sqrt(var) / (auc * (1 - auc))
    return float(1 / (1 + np.exp(-(centre - half)))), float(1 / (1 + np.exp(-(centre + half))))


def _weighted_var(values: np.ndarray, weights: np.ndarray) -> float:
    """Sample variance (n - 1) of values repeated by integer weights."""
    total = weights.sum()
    if total < 2:
        return 0.0
    mean = (values * weights).sum() / total
    return float((weights * (values - mean) ** 2).sum() / (total - 1))
