"""Confidence intervals as pure numpy functions, vectorised over windows.

Each returns (lower, upper) arrays with NaN where the method is undefined (no data), so that a
missing interval is always visibly null and never a made-up one.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def z_value(confidence_level: float) -> float:
    """Two-sided standard normal quantile, e.g. 1.95996 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence_level / 2.0)


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


def hanley_mcneil(auc, n_pos, n_neg, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Hanley & McNeil (1982) standard error of the AUC; clipped to [0, 1]."""
    a, p, q = _arr(auc), _arr(n_pos), _arr(n_neg)
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (a * (1 - a) + (p - 1) * (q1 - a * a) + (q - 1) * (q2 - a * a)) / (p * q)
        half = z * np.sqrt(np.maximum(var, 0.0))
    bad = np.isnan(a) | (p <= 0) | (q <= 0)
    lower = np.clip(a - half, 0.0, 1.0)
    upper = np.clip(a + half, 0.0, 1.0)
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)
