"""p-values shared by the steps that test many things at once (pure numpy, no scipy at run time):
the chi-square tail of the size-aware drift test, and the Benjamini-Hochberg adjustment that keeps
the expected share of false discoveries among a family's rejections at a stated rate (the drift
features of a window, the features correlated with a drop, the run's alert episodes).
"""

from __future__ import annotations

import math

import numpy as np


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square X with integer ``df`` >= 1 degrees of freedom.

    The closed forms of the regularised upper incomplete gamma function Q(df / 2, x / 2)
    (Abramowitz & Stegun 26.4.4-5: a Poisson sum for even df, erfc plus a sum for odd df), with
    the sum taken in logs so that large df and x neither overflow nor underflow.

    >>> round(chi2_sf(3.841458820694124, 1), 6), round(chi2_sf(30.14352720564616, 19), 6)
    (0.05, 0.05)
    """
    if x <= 0:
        return 1.0
    h, k = x / 2, df // 2
    if df % 2 == 0:  # e^-h sum_{0<=j<k} h^j / j!: terms h^j / j! = previous x h / j
        tail, first, ratios = 0.0, -h, np.arange(1, k, dtype=float)
    elif k == 0:
        return math.erfc(math.sqrt(h))
    else:  # erfc(sqrt h) + e^-h sum_{1<=j<=k} h^(j-1/2) / Gamma(j + 1/2): previous x h / (j - 1/2)
        tail, first, ratios = math.erfc(math.sqrt(h)), -h + 0.5 * math.log(h) - math.lgamma(1.5), np.arange(1, k) + 0.5
    logs = first + np.concatenate([[0.0], np.cumsum(math.log(h) - np.log(ratios))])
    top = logs.max()
    return float(min(tail + math.exp(top) * np.exp(logs - top).sum(), 1.0))


def bh_adjusted(p_values) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q), in the order given: rejecting every q <= rate
    keeps the expected share of false rejections among the rejections at most ``rate`` (for
    independent or positively dependent tests).

    >>> bh_adjusted([0.01, 0.04, 0.03])
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = q
    return out.tolist()
