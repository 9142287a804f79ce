"""Alert fatigue and detection on simulated years (no Spark; ``tests/simulation.py``), a few seeds
of each case that ``bench/bench_alert_rules.py`` runs over a thousand series-years."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from perfmon_spark.alerts.rules import evaluate_history
from perfmon_spark.vocabulary import Level
from tests.simulation import Scenario, count_levels, open_serious, plan_of, rule, simulate, worst_level

DAILY, WEEKLY = plan_of(rule("1 day")), plan_of(rule("7 days"))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("plan", "days"), [(DAILY, 1), (WEEKLY, 7)], ids=["daily", "7-day rolling"])
def test_a_stable_year_raises_nothing_sustained_or_worse(seed, plan, days):
    for name, h in simulate(seed, Scenario(window_days=days)).items():
        assert worst_level(evaluate_history(h, plan)) < Level.SUSTAINED.rank, name


@pytest.mark.parametrize("seed", range(3))
def test_one_bad_day_in_a_slice_is_never_sustained_and_never_confirmed(seed):
    """Three times the traffic with inverted predictions for one day: the seven 7-day windows
    holding it may be CRITICAL (block), but they share that bucket, so no level is confirmed and
    SUSTAINED never holds."""
    histories = simulate(seed, Scenario(window_days=7, bad_day=150))
    found = evaluate_history(histories["s2"], WEEKLY)
    assert count_levels(found)[Level.SUSTAINED] == 0
    confirmed = [c for e in found for c in json.loads(e["evidence"])["confirmed"]]
    assert all(Level(c).rank < Level.SUSTAINED.rank for c in confirmed)
    assert any(e["level"] == Level.CRITICAL for e in found)  # the bad day itself is seen


@pytest.mark.parametrize("seed", range(3))
def test_a_baseline_from_300_labels_is_taken_as_the_estimate_it_is(seed):
    for name, h in simulate(seed, Scenario(baseline_labels=300)).items():
        if name != "*":  # the overall slice has 300 labels within hours: its baseline is a day's
            assert worst_level(evaluate_history(h, DAILY)) < Level.SUSTAINED.rank, name


@pytest.mark.parametrize("seed", range(3))
def test_a_ten_percent_drop_is_sustained_within_seven_windows_and_only_there(seed):
    scenario = Scenario(drop=0.10)
    histories = simulate(seed, scenario)
    for name, h in histories.items():
        if name not in ("s2", "*"):  # the overall slice carries a real 2% drop, a fifth of the traffic's 10%
            assert worst_level(evaluate_history(h, DAILY)) < Level.SUSTAINED.rank, name
    h = histories["s2"]
    drop_index = int((h["window_start"] < pd.Timestamp("2026-01-01") + pd.Timedelta(days=scenario.drop_day)).sum())
    assert open_serious(h, DAILY, drop_index + 7)
    assert not open_serious(h, DAILY, drop_index)
