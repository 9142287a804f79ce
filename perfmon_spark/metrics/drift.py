"""Feature drift from histograms on fixed bins: the bin of a value, and the distances between a
window's histogram and its reference's.

A numeric feature's bins are cut at ``edges`` e0 < e1 < ... < em, fixed once from the reference
period's quantiles: bin i holds (e_i, e_{i+1}], the first bin everything up to e1 and the last
everything above e_{m-1}, so a value beyond the reference's range counts in an outer bin. A
categorical feature's bins are the reference's top values, then ``__other__``. Both have a last
bin for nulls (and NaN), so that a rise in missing values is drift too.

PSI and the Jensen-Shannon distance compare every bin (``proxies.distance``: PSI with empty bins
floored, JS in base 2). The Wasserstein distance, numeric features only, is that of the two
histograms with each bin's mass at its centre and the nulls left out: exact for values at the
centres, within half a bin width otherwise, and blind beyond the outer edges (a shift past the
reference's range counts as far as the outer bin's centre). It is in the feature's own units.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics.proxies import distance
from perfmon_spark.vocabulary import DriftMeasure


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
