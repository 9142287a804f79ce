"""Alert fatigue and detection on simulated series (no Spark; ``tests/simulation.py``), a few seeds
of each case that ``bench/bench_alert_rules.py`` runs over many more."""

from __future__ import annotations

import json

import pytest

from perfmon_spark.alerts.rules import evaluate_history
from perfmon_spark.vocabulary import Level
from tests.simulation import (
    Scenario,
    count_levels,
    day_to_day,
    detection_delay,
    plan_of,
    rule,
    serious_days,
    simulate,
    worst_level,
)

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
    assert 1 <= detection_delay(h, DAILY, scenario.drop_day) <= 7
    assert not [d for d in serious_days(h, DAILY) if d < scenario.drop_day]


DAY_TO_DAY = day_to_day(Scenario(slices=40))


def test_forty_series_that_vary_from_day_to_day_raise_next_to_nothing_sustained_or_worse():
    """150 days of 1,000 to 6,000 labels, the true accuracy moving 2 points from day to day around
    0.85: far beyond the sampling error of a day's labels, and no reason to alert. Sampling error
    alone raised 0.3 to 1 false SUSTAINED per series; counting the extra variance, the bench
    finds about one series in 800 (5 seeds here: 200 series, at most one)."""
    false = [
        (seed, name)
        for seed in range(5)
        for name, h in simulate(seed, DAY_TO_DAY).items()
        if name != "*" and worst_level(evaluate_history(h, DAILY)) >= Level.SUSTAINED.rank
    ]
    assert len(false) <= 1, false


def test_a_real_eight_percent_drop_among_them_is_sustained_within_fourteen_days_in_nine_seeds_of_ten():
    """The drop's series alone (the 39 others are the test above), 20 seeds: found within 14 days
    in at least 18 (``bench_alert_rules.py`` runs 100)."""
    drop = day_to_day(Scenario(slices=1, drop=0.08, drop_slices=(0,)))
    delays = [detection_delay(simulate(seed, drop)["s0"], DAILY, drop.drop_day) for seed in range(20)]
    assert sum(d is not None and d <= 14 for d in delays) >= 18, delays
