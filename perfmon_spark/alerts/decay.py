"""Drift against performance (pure pandas/numpy): whether a window decayed, how that relates to
its drift, and how a feature's drift moves with the metric's drop.

A window *decayed* when its rule's lowest level holds for it alone: the rule's own test (its
standard error and the baseline's, at the rule's confidence, past the level's threshold; see
``alerts.rules``), so decay is decided as an alert is, not by a point comparison. A window the
rule does not evaluate (immature, too few labels, no baseline) is unknown. A window *drifted*
when a feature drifted in it by the size-aware decision (``drift_metrics.is_drifted``: PSI above
``drift.psi_threshold`` and its test through Benjamini-Hochberg over the window's features);
unknown while no feature could be tested (the reference period has not ended, too few rows).
The score's PSI is shown beside it and does not decide: it has no size-aware test. The class
crosses the two.

Drift and drop over recent windows: Spearman's correlation of their levels (``spearman_rho``, with
the t-approximation's ``spearman_p``) is descriptive only, since both series trend and their
windows are not independent: two unrelated AR(1) series over 10 windows give p < 0.05 in about a
fifth of runs. ``comovement_p`` is the test that allows for it, and the only one a decision reads.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perfmon_spark.alerts.rules import RulePlan, window_tests
from perfmon_spark.metrics.intervals import t_two_sided
from perfmon_spark.vocabulary import DriftClass, Level


def decayed(history: pd.DataFrame, plan: RulePlan) -> list[bool | None]:
    """Per window of one rule history (``rules.evaluate_history``'s columns): True where its
    lowest level holds on that window alone, False where evaluated and not, None elsewhere."""
    level = min(plan.rule.levels, key=lambda lv: Level(lv.level).rank)
    return [None if t is None else plan.beyond(level, t) for t in window_tests(history, plan)]


def drift_class(decay: bool | None, drifted: bool | None) -> DriftClass:
    """The class of a window from its decay and drift (None: unknown)."""
    if decay is None or drifted is None:
        return DriftClass.UNKNOWN
    if decay:
        return DriftClass.DRIFT_AND_DECAY if drifted else DriftClass.DECAY_WITHOUT_DRIFT
    return DriftClass.DRIFT_WITHOUT_DECAY if drifted else DriftClass.STABLE


def spearman_p(rho: float | None, n: int) -> float | None:
    """Two-sided p-value of a Spearman correlation of ``n`` pairs (t-approximation, as scipy's
    ``spearmanr``); None below 3 pairs or without a correlation."""
    if rho is None or n < 3 or np.isnan(rho):
        return None
    if abs(rho) >= 1:
        return 0.0
    return t_two_sided(rho * math.sqrt((n - 2) / (1 - rho * rho)), n - 2)


def spearman_rho(x, y) -> float | None:
    """Spearman's rank correlation (ties take their mean rank, as scipy's ``spearmanr``); None
    when either series is constant."""
    rx, ry = (pd.Series(np.asarray(v, dtype=float)).rank().to_numpy() for v in (x, y))
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def comovement_p(drop, psi) -> float | None:
    """One-sided p-value that a feature's drift (``psi``, per window in time order) rises with the
    metric's drop (``drop``) beyond what unrelated trending series give.

    The statistic is Spearman's correlation of the window-to-window changes: differencing removes
    the trends that make the levels of unrelated series correlate. Differencing also leaves
    autocorrelation of its own (the changes of white noise have lag-1 autocorrelation -0.5), so
    the t-test counts an effective number of changes instead of n (Pyper & Peterman 1998):
    1 / n_eff = 1 / n + (2 / n) sum_{j <= n / 5} (n - j) / n r_x(j) r_y(j), with r the
    autocorrelations of the two rank series; n_eff is kept within [3, n] and rounded down. On
    unrelated AR(1) series (phi 0 to 0.95, 10 to 30 windows) it passes at 5% in 1-5% of runs; a
    permutation of blocks of the changes passed in up to 7% (blocks keep only part of that
    lag-1 dependence) and its smallest p at 10 windows, 1/120, could not pass Benjamini-Hochberg
    over more than 6 features. None below 4 windows or where either series' changes are constant.
    """
    dx, dy = np.diff(np.asarray(drop, dtype=float)), np.diff(np.asarray(psi, dtype=float))
    n = len(dx)
    rho = spearman_rho(dx, dy) if n >= 3 else None
    if rho is None:
        return None
    if abs(rho) >= 1:
        return 0.0 if rho > 0 else 1.0
    rx, ry = (pd.Series(d).rank().to_numpy() for d in (dx, dy))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    shared = sum((n - j) / n * (rx[j:] @ rx[:-j]) * (ry[j:] @ ry[:-j]) for j in range(1, max(n // 5, 1) + 1))
    inflation = 1 + 2 * shared / ((rx @ rx) * (ry @ ry))
    df = math.floor(min(max(n / inflation if inflation > 0 else n, 3.0), n)) - 2
    t = rho * math.sqrt(df / (1 - rho * rho))
    tail = t_two_sided(t, df) / 2
    return tail if t >= 0 else 1 - tail
