"""Drift decisions on simulated data (quality, not speed; pure numpy, no Spark), through the same
functions the job uses (``metrics.drift``: the bins, PSI, the size-aware test and the decision;
``alerts.decay``: the correlation tests).

A numeric feature is binned as the job bins it: ``BINS`` bins cut at its reference sample's
quantiles, plus the null bin. A categorical one has ``CATEGORIES`` values with Zipf-like shares
(many rare ones), ordered from the most common in the reference, then ``__other__`` and null.
Each window of n rows is compared with a reference of ``REFERENCE_RATIO`` x n rows, at the
defaults ``drift.psi_threshold`` 0.2 and ``drift.fdr`` 0.05.

Prints:
- stable data at 30, 100 and 1,000 rows a window, one feature a monitor: the share of windows
  with the PSI above 0.2 (the threshold alone) and the share drifted (target: at most 5%);
- 20 stable features a monitor: the share of windows with any feature drifted (the false
  discovery rate when nothing moved; target: at most 5%), and with 2 of the 20 shifted by 0.5
  standard deviations at 300 rows, the false discovery proportion among the drifted (target: at
  most 5%);
- power: a numeric feature shifted by 0.5 standard deviations in windows of 300 rows, alone (and
  2 such among 20 above) (target: found);
- drift vs drop: two unrelated AR(1) series over 10 and 20 windows: the share of runs whose
  feature counted as correlated, before (rho > 0, the former list; the t-approximation's p <
  0.05) and after (``comovement_p``, the test of the changes, p <= 0.05; and over 20 unrelated
  features after Benjamini-Hochberg, the share of runs listing any), and the share found where
  the drop follows the drift.

    PYTHONPATH=. .venv/bin/python bench/bench_drift_statistics.py --windows 4000 --runs 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perfmon_spark.alerts.decay import comovement_p, spearman_p, spearman_rho
from perfmon_spark.metrics.drift import bin_index, psi_p_value, value_bins, window_drifted
from perfmon_spark.metrics.proxies import distance
from perfmon_spark.metrics.significance import bh_adjusted
from perfmon_spark.vocabulary import DriftMeasure

BINS = 20  # drift.bins' default
CATEGORIES = 30
THRESHOLD, FDR = 0.2, 0.05  # drift.psi_threshold's and drift.fdr's defaults
REFERENCE_RATIO = 3
SIZES = (30, 100, 1000)
SHIFT, SHIFT_ROWS = 0.5, 300  # the shift to find: standard deviations, rows a window
ZIPF = 1.0 / np.arange(1, CATEGORIES + 1) ** 1.2
ZIPF /= ZIPF.sum()


def histograms(rng: np.random.Generator, n: int, kind: str = "numeric", shift: float = 0.0):
    """(window, reference) counts of one feature, the null bin last; a numeric window's values
    are shifted by ``shift`` standard deviations."""
    m = REFERENCE_RATIO * n
    if kind == "categorical":
        window, reference = rng.multinomial(n, ZIPF), rng.multinomial(m, ZIPF)
        order = np.argsort(-reference, kind="stable")
        empty = np.zeros(2)  # __other__ and null
        return np.r_[window[order], empty], np.r_[reference[order], empty]
    reference = rng.normal(size=m)
    edges = np.quantile(reference, np.linspace(0, 1, BINS + 1))
    size = value_bins(edges) + 1
    count = lambda values: np.bincount(bin_index(edges, values), minlength=size).astype(float)  # noqa: E731
    return count(rng.normal(shift, 1.0, n)), count(reference)


def window_family(rng: np.random.Generator, n: int, features: int, shifted: int = 0, kind: str = "numeric"):
    """(PSI above the threshold, drifted) per feature of one window; the first ``shifted``
    features moved by ``SHIFT``."""
    pairs = [histograms(rng, n, kind, SHIFT if i < shifted else 0.0) for i in range(features)]
    psi = np.array([distance(DriftMeasure.PSI, w, r) for w, r in pairs])
    p = np.array([psi_p_value(w, r, ordered=kind == "numeric") for w, r in pairs])
    tested = ~np.isnan(p)
    drifted = np.zeros(features, dtype=bool)
    drifted[tested] = window_drifted(psi[tested], p[tested], THRESHOLD, FDR)
    return psi > THRESHOLD, drifted


def stable_shares(rng: np.random.Generator, n: int, windows: int, kind: str) -> tuple[float, float]:
    """One stable feature: (share of windows with the PSI above the threshold, share drifted)."""
    found = np.array([window_family(rng, n, 1, kind=kind) for _ in range(windows)])[:, :, 0]
    above, drifted = found.mean(axis=0)
    return float(above), float(drifted)


def false_discoveries(rng: np.random.Generator, n: int, windows: int, features: int, shifted: int):
    """Over windows of ``features``: (share of windows with a stable feature drifted, mean false
    discovery proportion among the drifted, share of the shifted ones found)."""
    any_false, proportions, found = 0, [], []
    for _ in range(windows):
        drifted = window_family(rng, n, features, shifted)[1]
        false = int(drifted[shifted:].sum())
        any_false += false > 0
        proportions.append(false / max(int(drifted.sum()), 1))
        found.extend(drifted[:shifted])
    return any_false / windows, float(np.mean(proportions)), float(np.mean(found)) if found else float("nan")


def ar1(rng: np.random.Generator, length: int, phi: float) -> np.ndarray:
    x = np.empty(length)
    x[0] = rng.normal() / np.sqrt(1 - phi * phi)
    for t in range(1, length):
        x[t] = phi * x[t - 1] + rng.normal()
    return x


def correlation_rates(rng: np.random.Generator, runs: int, length: int, phi: float, features: int = 20):
    """Unrelated AR(1) drop and drift series: shares of runs counted as correlated by rho > 0, by
    the t-approximation's p < 0.05 and by ``comovement_p`` <= 0.05; over ``features`` unrelated
    features after Benjamini-Hochberg at ``FDR``, the share of runs listing any; and the share
    of runs where a drop that follows the drift (plus noise) is found."""
    positive = naive = honest = listed = followed = 0
    for _ in range(runs):
        drop = ar1(rng, length, phi)
        drifts = [ar1(rng, length, phi) for _ in range(features)]
        rho = spearman_rho(drop, drifts[0])
        positive += (rho or 0) > 0
        naive += (spearman_p(rho, length) or 1.0) < 0.05
        p = [comovement_p(drop, d) for d in drifts]
        honest += (p[0] or 1.0) <= 0.05
        listed += min(bh_adjusted([x if x is not None else 1.0 for x in p])) <= FDR
        followed += (comovement_p(drifts[0] + rng.normal(0, 0.5, length), drifts[0]) or 1.0) <= 0.05
    return tuple(x / runs for x in (positive, naive, honest, listed, followed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=4000, help="simulated windows per figure")
    parser.add_argument("--runs", type=int, default=1000, help="simulated AR(1) runs per figure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.time()
    print(f"reference = {REFERENCE_RATIO} x window rows; {BINS} bins; psi_threshold {THRESHOLD}; fdr {FDR}")
    print(f"stable data, one feature ({args.windows} windows each): PSI > {THRESHOLD} alone / drifted (target <= 5%)")
    for kind in ("numeric", "categorical"):
        for n in SIZES:
            above, drifted = stable_shares(rng, n, args.windows, kind)
            print(f"  {kind:<11} {n:>5} rows: {above:6.1%} / {drifted:5.1%}")
    features, windows = 20, args.windows
    print(f"{features} numeric features ({windows} windows each)")
    for n in SIZES:
        share = false_discoveries(rng, n, windows, features, 0)[0]
        print(f"  stable, {n:>5} rows: windows with a feature drifted {share:5.1%} (the FDR; target <= 5%)")
    share, fdp, power = false_discoveries(rng, SHIFT_ROWS, windows, features, 2)
    print(
        f"  2 shifted by {SHIFT} sd, {SHIFT_ROWS} rows: false discovery proportion {fdp:5.1%} (target <= 5%), "
        f"windows with a false one {share:5.1%}, shifted ones found {power:5.1%}"
    )
    power = false_discoveries(rng, SHIFT_ROWS, args.windows, 1, 1)[2]
    print(f"power: one feature shifted by {SHIFT} sd in {SHIFT_ROWS} rows, alone: found in {power:5.1%} of windows")
    print(f"drift vs drop, unrelated AR(1) series ({args.runs} runs each; 20 features for the BH column)")
    print("  windows  phi  | before: rho > 0  t-test p < .05 | after: changes p <= .05  any of 20 after BH | found")
    for length in (10, 20):
        for phi in (0.5, 0.8, 0.95):
            positive, naive, honest, listed, followed = correlation_rates(rng, args.runs, length, phi)
            print(
                f"  {length:>7}  {phi:<4} | {positive:14.1%}  {naive:14.1%} | "
                f"{honest:26.1%}  {listed:18.1%} | {followed:5.1%}"
            )
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
