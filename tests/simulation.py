"""Simulated metric histories for the alert rules (no Spark): daily buckets per slice (a year of
50-500 labels each by default), accuracy 0.85 that may vary from day to day beyond its sampling
error, windows of one or more buckets with the registry's own Wilson intervals, and a window
baseline (with its interval and reference period) from each slice's first days, as the job builds
them. Shared by tests/unit/test_alert_simulation.py and bench/bench_alert_rules.py."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from perfmon_spark.alerts.rules import RulePlan, replay
from perfmon_spark.config import AlertRule, MaturityPolicy, parse_duration
from perfmon_spark.metrics import bind
from perfmon_spark.vocabulary import AlertStatus, Level

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
    """What happens to the slices over ``days``: ``labels`` (low, high) a day; a true accuracy that
    moves from day to day with standard deviation ``day_sd`` (traffic mix, campaigns) around
    0.85; ``drop`` from ``drop_day`` on in the slices ``drop_slices``; a ``bad_day`` with three
    times the traffic and inverted predictions in the first of them; a baseline from the first
    ``baseline_days`` (or, with ``baseline_labels``, from the first buckets holding that many
    labels)."""

    slices: int = 5
    days: int = DAYS
    labels: tuple[int, int] = (50, 500)
    day_sd: float = 0.0
    drop: float = 0.0
    drop_day: int = 200
    drop_slices: tuple[int, ...] = (2,)
    bad_day: int | None = None
    baseline_days: int = 28
    baseline_labels: int | None = None
    window_days: int = 1


def day_to_day(scenario: Scenario) -> Scenario:
    """The issue's production-like series: 150 days, 1,000 to 6,000 labels a day, a daily
    standard deviation of 2 accuracy points, and (given ``scenario``'s drop) the drop from day 110."""
    return replace(scenario, days=150, labels=(1000, 6000), day_sd=0.02, drop_day=110)


def simulate(seed: int, scenario: Scenario) -> dict[str, pd.DataFrame]:
    """Per slice (``s0``...) and overall (``*``) the history a rule sees."""
    rng = np.random.default_rng(seed)
    s = scenario
    shape = (s.slices, s.days)
    n = rng.integers(s.labels[0], s.labels[1] + 1, size=shape)
    p = np.full(shape, ACCURACY)
    if s.day_sd:
        p = np.clip(p + rng.normal(0, s.day_sd, size=shape), 0, 1)
    if s.drop:
        p[list(s.drop_slices), s.drop_day :] *= 1 - s.drop
    if s.bad_day is not None:
        n[s.drop_slices[0], s.bad_day] *= 3
        p[s.drop_slices[0], s.bad_day] = 1 - ACCURACY
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
    ci = interval(state, Z)
    if s.baseline_labels is not None:
        days = int(np.searchsorted(np.cumsum(n), s.baseline_labels)) + 1
    else:
        days = s.baseline_days
    base = {"tp": [correct[:days].sum()], "fp": [n[:days].sum() - correct[:days].sum()], "tn": [0], "fn": [0]}
    base = {f: np.asarray(v, dtype=float) for f, v in {**base, "n_labeled": [n[:days].sum()]}.items()}
    base_ci = interval(base, Z)
    window_end = START + pd.to_timedelta(np.arange(len(n)) + 1, unit="D")
    out = pd.DataFrame(
        {
            "window_start": window_end - pd.Timedelta(days=s.window_days),
            "window_end": window_end,
            "value": finalise(state),
            "ci_lower": ci.lower,
            "ci_upper": ci.upper,
            "std_error": ci.std_error,
            "n_labeled": m,
            "label_coverage": 1.0,
            "is_mature": True,
            "baseline": finalise(base)[0],
            "baseline_ci_lower": base_ci.lower[0],
            "baseline_ci_upper": base_ci.upper[0],
            "baseline_std_error": base_ci.std_error[0],
            "reference_start": START,
            "reference_end": START + pd.Timedelta(days=days),
            "baseline_from_reference": True,
        }
    )
    # the reference period's windows measure the extra variance; they are compared with a baseline
    # only once the period has ended (windows of fewer buckets than their length are left out)
    out.loc[: days - 2, ["baseline", "baseline_ci_lower", "baseline_ci_upper", "baseline_std_error"]] = np.nan
    return out.iloc[s.window_days - 1 :].reset_index(drop=True)


def worst_level(episodes: list[dict]) -> int:
    return max((Level(e["level"]).rank for e in episodes), default=0)


def count_levels(episodes: list[dict]) -> dict[str, int]:
    """Episodes by level."""
    out = dict.fromkeys(Level, 0)
    for e in episodes:
        out[Level(e["level"])] += 1
    return out


def serious_days(history: pd.DataFrame, plan: RulePlan) -> list[int]:
    """The days (from ``START``) after which a SUSTAINED-or-worse episode is open: what a daily
    run would find (one replay of the history)."""
    return [
        (pd.Timestamp(window["window_start"]) - START).days + plan.step - 1
        for window, episodes in replay(history, plan)
        if any(e["status"] == AlertStatus.OPEN and Level(e["level"]).rank >= Level.SUSTAINED.rank for e in episodes)
    ]


def detection_delay(history: pd.DataFrame, plan: RulePlan, day: int) -> int | None:
    """Days from ``day`` (a drop's first, counted as 1) to the first run that finds a
    SUSTAINED-or-worse episode open; None if none does."""
    return next((d - day + 1 for d in serious_days(history, plan) if d >= day), None)
