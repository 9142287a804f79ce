"""Simulated metric histories for the alert rules (no Spark): a year of daily buckets per slice with
50-500 labels each, accuracy 0.85, windows of one or more buckets with the registry's own Wilson
intervals, and a window baseline (with its interval) from each slice's first days, as the job
builds them. Shared by tests/unit/test_alert_simulation.py and bench/bench_alert_rules.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from perfmon_spark.alerts.rules import RulePlan, evaluate_history
from perfmon_spark.config import AlertRule, MaturityPolicy, parse_duration
from perfmon_spark.metrics import bind
from perfmon_spark.vocabulary import Level

DAYS, ACCURACY, Z = 365, 0.85, 1.959963984540054
START = pd.Timestamp("2026-01-01")


def rule(window: str = "1 day", sustained: dict | None = None) -> AlertRule:
    """The rule a user would configure: MINOR at 2% worse, SUSTAINED at 3% worse in 3 of 7
    windows, CRITICAL at 20% worse."""
    return AlertRule(
        name="accuracy_drop",
        metric="accuracy",
        window=window,
        slices="all",
        minor={"ratio": 0.98},
        sustained=sustained or {"ratio": 0.97, "of": 3, "within": 7},
        critical={"ratio": 0.80},
        min_labeled=50,
        confidence=0.95,
        maturity=MaturityPolicy(mode="mature"),
        resolve_after=3,
    )


def plan_of(r: AlertRule) -> RulePlan:
    return RulePlan.build(r, larger_is_better=True, confidence_level=0.95, granularity=parse_duration("1 day", "g"))


@dataclass(frozen=True)
class Scenario:
    """What happens to the slices: ``drop`` from ``drop_day`` on in slice ``drop_slice``; a
    ``bad_day`` with three times the traffic and inverted predictions in that slice; a baseline
    from the first ``baseline_days`` (or, with ``baseline_labels``, from the first buckets
    holding that many labels)."""

    slices: int = 5
    drop: float = 0.0
    drop_day: int = 200
    drop_slice: int = 2
    bad_day: int | None = None
    baseline_days: int = 28
    baseline_labels: int | None = None
    window_days: int = 1


def simulate(seed: int, scenario: Scenario) -> dict[str, pd.DataFrame]:
    """Per slice (``s0``...) and overall (``*``) the history a rule sees."""
    rng = np.random.default_rng(seed)
    s = scenario
    n = rng.integers(50, 501, size=(s.slices, DAYS))
    p = np.full((s.slices, DAYS), ACCURACY)
    p[s.drop_slice, s.drop_day :] *= 1 - s.drop
    if s.bad_day is not None:
        n[s.drop_slice, s.bad_day] *= 3
        p[s.drop_slice, s.bad_day] = 1 - ACCURACY
    correct = rng.binomial(n, p)
    series = {f"s{i}": (correct[i], n[i]) for i in range(s.slices)}
    series["*"] = (correct.sum(axis=0), n.sum(axis=0))
    return {name: _history(k, m, s) for name, (k, m) in series.items()}


def _history(correct: np.ndarray, n: np.ndarray, s: Scenario) -> pd.DataFrame:
    finalise, interval = bind("binary", "accuracy")
    kernel = np.ones(s.window_days)
    k = np.convolve(correct, kernel)[: len(correct)].astype(float)  # trailing sums of whole buckets
    m = np.convolve(n, kernel)[: len(n)].astype(float)
    state = {"tp": k, "fp": m - k, "tn": np.zeros_like(k), "fn": np.zeros_like(k), "n_labeled": m}
    lower, upper = interval(state, Z)
    if s.baseline_labels is not None:
        days = int(np.searchsorted(np.cumsum(n), s.baseline_labels)) + 1
    else:
        days = s.baseline_days
    base = {"tp": [correct[:days].sum()], "fp": [n[:days].sum() - correct[:days].sum()], "tn": [0], "fn": [0]}
    base = {f: np.asarray(v, dtype=float) for f, v in {**base, "n_labeled": [n[:days].sum()]}.items()}
    base_lower, base_upper = interval(base, Z)
    first = max(days, s.window_days) - 1  # the baseline period has ended and the window is whole
    out = pd.DataFrame(
        {
            "window_start": START + pd.to_timedelta(np.arange(len(n)) - s.window_days + 1, unit="D"),
            "value": finalise(state),
            "ci_lower": lower,
            "ci_upper": upper,
            "n_labeled": m,
            "label_coverage": 1.0,
            "is_mature": True,
            "baseline": finalise(base)[0],
            "baseline_ci_lower": base_lower[0],
            "baseline_ci_upper": base_upper[0],
        }
    )
    return out.iloc[first:].reset_index(drop=True)


def worst_level(episodes: list[dict]) -> int:
    return max((Level(e["level"]).rank for e in episodes), default=0)


def count_levels(episodes: list[dict]) -> dict[str, int]:
    """Episodes by level."""
    out = dict.fromkeys(Level, 0)
    for e in episodes:
        out[Level(e["level"])] += 1
    return out


def open_serious(history: pd.DataFrame, plan: RulePlan, upto: int) -> list[dict]:
    """The SUSTAINED-or-worse episodes open after the first ``upto`` windows."""
    found = evaluate_history(history.iloc[:upto], plan)
    return [e for e in found if e["status"] == "OPEN" and Level(e["level"]).rank >= Level.SUSTAINED.rank]
