"""Drift against performance (pure pandas/numpy): whether a window decayed, how that relates to
its drift, and the rank correlation of a feature's drift with the metric's drop.

A window *decayed* when its rule's lowest level holds for it alone: the rule's own test (its
interval and the baseline's, at the rule's confidence, past the level's threshold; see
``alerts.rules``), so decay is decided as an alert is, not by a point comparison. A window the
rule does not evaluate (immature, too few labels, no baseline) is unknown. A window *drifted*
when its largest feature PSI, or its score PSI, is above ``drift.psi_threshold``; unknown while
no drift measure exists (the reference period has not ended). The class crosses the two.
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
