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

from perfmon_spark.alerts.rules import RulePlan, evaluated, standard_error
from perfmon_spark.vocabulary import DriftClass, Level


def decayed(history: pd.DataFrame, plan: RulePlan) -> list[bool | None]:
    """Per window of one rule history (``rules.evaluate_history``'s columns): True where its
    lowest level holds on that window alone, False where evaluated and not, None elsewhere."""
    level = min(plan.rule.levels, key=lambda lv: Level(lv.level).rank)
    mask = evaluated(history, plan)
    out: list[bool | None] = []
    for ok, row in zip(mask, history.itertuples(index=False)):
        if not ok:
            out.append(None)
            continue
        base = float(row.baseline) if plan.rule.absolute is None else level.limit
        se = standard_error(row.ci_lower, row.ci_upper, plan.z_table)
        base_se = (
            0.0
            if plan.rule.absolute is not None
            else standard_error(
                getattr(row, "baseline_ci_lower", None), getattr(row, "baseline_ci_upper", None), plan.z_table
            )
        )
        out.append(bool(plan.beyond(level, float(row.value), se, base, base_se)))
    return out


def drift_class(decay: bool | None, drifted: bool | None) -> DriftClass:
    """The class of a window from its decay and drift (None: unknown)."""
    if decay is None or drifted is None:
        return DriftClass.UNKNOWN
    if decay:
        return DriftClass.DRIFT_AND_DECAY if drifted else DriftClass.DECAY_WITHOUT_DRIFT
    return DriftClass.DRIFT_WITHOUT_DECAY if drifted else DriftClass.STABLE


def t_two_sided(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` >= 1 degrees of freedom (the closed forms for
    integer df, Abramowitz & Stegun 26.7.3-4), for the Spearman correlation's p-value."""
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


def spearman_p(rho: float | None, n: int) -> float | None:
    """Two-sided p-value of a Spearman correlation of ``n`` pairs (t-approximation, as scipy's
    ``spearmanr``); None below 3 pairs or without a correlation."""
    if rho is None or n < 3 or np.isnan(rho):
        return None
    if abs(rho) >= 1:
        return 0.0
    return t_two_sided(rho * math.sqrt((n - 2) / (1 - rho * rho)), n - 2)
