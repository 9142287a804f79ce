"""Feature drift from histograms on fixed bins: the bin of a value, and the distances between a
window's histogram and its reference's.

A numeric feature's bins are cut at ``edges`` e0 < e1 < ... < em, fixed once from the reference
period's quantiles: bin i holds (e_i, e_{i+1}], the first bin everything up to e1 and the last
everything above e_{m-1}, so a value beyond the reference's range counts in an outer bin. A
categorical feature's bins are the reference's top values, then ``__other__``. Both have a last
bin for nulls (and NaN), so that a rise in missing values is drift too.

PSI and the Jensen-Shannon distance compare every bin (``proxies.distance``: PSI with one half
added to each used bin's count, JS in base 2). The Wasserstein distance, numeric features only, is
that of the two histograms with each bin's mass at its centre and the nulls left out: exact for
values at the centres, within half a bin width otherwise, and blind beyond the outer edges (a
shift past the reference's range counts as far as the outer bin's centre). It is in the feature's
own units.

A PSI alone does not say whether a window drifted: two samples of one distribution differ by
chance, and the PSI that chance alone gives grows as the samples shrink (with B bins, a window of
n rows and a reference of m, about (B - 1)(1 / n + 1 / m): 0.84 for 20 bins, 30 rows and 90 in
the reference). ``psi_p_value`` is the size-aware test: when nothing moved, PSI x (1 / n + 1 / m)^-1
is approximately chi-square with B - 1 degrees of freedom (to second order the PSI is
sum (p - q)^2 / s, s the share both have, and that scaled is Pearson's chi-square statistic of the
two histograms), so its tail is the p-value. Small samples need care, measured on stable data at
30 to 200 rows a window (``bench/bench_drift_statistics.py``): bins pooled to ``MIN_EXPECTED`` = 10
expected rows rather than Cochran's 5 (with 5 the statistic passed the chi-square's 0.25% point,
where Benjamini-Hochberg over 20 features looks, 1.6 times too often), Williams' (1976) correction
of the 2 x B table (as for the G-test; the PSI is likelihood-ratio-like), and pooled cells that
the window's own counts cannot move where that is possible (``pooled``). The test then rejects
stable windows at most at its level, within simulation error.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics.proxies import distance
from perfmon_spark.metrics.significance import bh_adjusted, chi2_sf
from perfmon_spark.vocabulary import DriftMeasure

MIN_EXPECTED = 10.0  # rows each pooled bin expects, of the smaller side, when nothing moved


def value_bins(edges) -> int:
    """Bins of non-null values on ``edges`` (one when every quantile tied)."""
    return max(len(edges) - 1, 1)


def bin_index(edges, values) -> np.ndarray:
    """numpy twin of ``states.drift.bin_column`` for numeric values (tests and docs)."""
    values = np.asarray(values, dtype=float)
    inner = np.asarray(edges, dtype=float)[1:-1]
    index = np.searchsorted(inner, values, side="left")
    return np.where(np.isnan(values), value_bins(edges), index)


def centres(edges) -> np.ndarray:
    """Where each numeric bin's mass sits for the Wasserstein distance."""
    edges = np.asarray(edges, dtype=float)
    if len(edges) < 2:
        return edges[:1]
    return (edges[:-1] + edges[1:]) / 2


def wasserstein(edges, window, reference) -> float:
    """W1 between two histograms of non-null values (the null bin, last, is left out), each bin at
    its centre; NaN when either has no value."""
    p, q = np.asarray(window, dtype=float)[:-1], np.asarray(reference, dtype=float)[:-1]
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    x = centres(edges)
    gaps = np.diff(x)
    return float(np.sum(np.abs(np.cumsum(p / p.sum())[:-1] - np.cumsum(q / q.sum())[:-1]) * gaps))


def measures(numeric: bool, edges, window, reference) -> dict[str, float]:
    """Every measure of one feature in one window: psi, js and (numeric) wasserstein; NaN where
    either histogram is empty."""
    w, r = np.asarray(window, dtype=float), np.asarray(reference, dtype=float)
    empty = w.sum() <= 0 or r.sum() <= 0
    out = {m: (np.nan if empty else distance(m, w, r)) for m in (DriftMeasure.PSI, DriftMeasure.JS)}
    if numeric:
        out[DriftMeasure.WASSERSTEIN] = wasserstein(edges, w, r)
    return out


def pooled(window, reference, *, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two histograms on bins pooled for the test: bins empty on both sides left out, then
    neighbours merged until each pooled bin expects ``MIN_EXPECTED`` rows of the smaller side; a
    short last group joins the one before.

    ``ordered`` (numeric features): neighbours in the bins' order (values, then nulls), expected
    rows by the reference's shares, so the cells are fixed before the window is looked at.
    Otherwise (categorical): in the order of both histograms' counts together, most common
    first, so that rare values pool together, with expected rows by those counts (the margins
    the test conditions on). Not the stored order: that is the reference's own counts, and
    cutting groups on them splits near-ties by the reference's noise, which the window does not
    share (stable categorical windows then failed the 5% test about 7% of the time).

    >>> w, r = np.array([18.0, 9, 6, 0, 27, 3]), np.array([36.0, 18, 18, 0, 54, 3])
    >>> [c.tolist() for c in pooled(w, r, ordered=True)]
    [[18.0, 15.0, 30.0], [36.0, 36.0, 57.0]]
    >>> [c.tolist() for c in pooled(w, r, ordered=False)]
    [[27.0, 18.0, 18.0], [54.0, 36.0, 39.0]]
    """
    w, r = np.asarray(window, dtype=float), np.asarray(reference, dtype=float)
    used = (w + r) > 0
    w, r = w[used], r[used]
    if ordered:
        shares = r / r.sum()
    else:
        order = np.argsort(-(w + r), kind="stable")
        w, r = w[order], r[order]
        shares = (w + r) / (w.sum() + r.sum())
    expected = min(w.sum(), r.sum()) * shares
    group, groups, filled = np.zeros(len(w), dtype=int), 0, 0.0
    for i, e in enumerate(expected):
        group[i] = groups
        filled += e
        if filled >= MIN_EXPECTED:
            groups, filled = groups + 1, 0.0
    if groups > 0 and group[-1] == groups:  # a short tail (even one expecting nothing) joins the last full group
        group[group == groups] = groups - 1
    size = int(group.max()) + 1 if len(group) else 0
    return np.bincount(group, weights=w, minlength=size), np.bincount(group, weights=r, minlength=size)


def psi_p_value(window, reference, *, ordered: bool) -> float:
    """p-value of the size-aware drift test of a window's histogram against its reference's (see
    the module): the chi-square tail, with (pooled bins - 1) degrees of freedom, of
    PSI x (1 / n + 1 / m)^-1 / q on the ``pooled`` bins, q = 1 + (N sum_i 1 / c_i - 1)
    (N (1 / n + 1 / m) - 1) / (6 N (bins - 1)) Williams' correction (N = n + m, c_i a pooled bin's
    rows on both sides); NaN where the rows fill fewer than two pooled bins (too few to test)."""
    w, r = pooled(window, reference, ordered=ordered)
    bins = len(w)
    if bins < 2:
        return float("nan")
    n, m = w.sum(), r.sum()
    total, scale = n + m, 1 / n + 1 / m
    q = 1 + (total * np.sum(1 / (w + r)) - 1) * (total * scale - 1) / (6 * total * (bins - 1))
    return chi2_sf(distance(DriftMeasure.PSI, w, r) / scale / q, bins - 1)


def window_drifted(psi, p_values, threshold: float, fdr: float) -> np.ndarray:
    """The drift decision of one window's tested features: the PSI above ``threshold`` (a shift
    large enough to matter) and the Benjamini-Hochberg adjusted p-value over these features at
    most ``fdr`` (a shift chance alone is unlikely to make, at these sizes, with this many
    features looked at).

    >>> window_drifted([0.5, 0.5, 0.1, 0.3], [0.001, 0.04, 0.001, 0.6], 0.2, 0.05).tolist()
    [True, False, False, False]
    """
    q = np.asarray(bh_adjusted(p_values), dtype=float)
    return (np.asarray(psi, dtype=float) > threshold) & (q <= fdr)
