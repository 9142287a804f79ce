"""The run-level Benjamini-Hochberg step: its family is every series tested, and it gates raising a
level, never keeping one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from perfmon_spark.alerts.fdr import bh_adjusted, control_fdr
from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.vocabulary import Level


def episode(i: int, level: str, status: str = "OPEN") -> Episode:
    return Episode.of(
        {
            "monitor": "m",
            "rule": "r",
            "model_version": "v1",
            "slice_key": "country",
            "slice_value": f"c{i}",
            "window": "7 days",
            "opened_window_start": 0,
            "metric": "roc_auc",
            "level": level,
            "status": status,
            "action": Level(level).action,
            "last_window_start": 0,
            "evidence": "{}",
        }
    )


def family(p_alarms: list[float], quiet: int, seed: int = 0):
    """The family's p-values as the alerting stage hands them over: the alarms' series (c0, c1,
    ...) and ``quiet`` more with uniform p-values."""
    p = {episode(i, "MINOR").series: pi for i, pi in enumerate(p_alarms)}
    rng = np.random.default_rng(seed)
    p.update({episode(1000 + i, "MINOR").series: float(u) for i, u in enumerate(rng.uniform(size=quiet))})
    return p


def fdr(e: Episode) -> dict:
    return json.loads(e.evidence)["fdr"]


def test_adjusted_values_equal_scipy():
    p = np.random.default_rng(3).uniform(size=50) ** 2
    assert bh_adjusted(list(p)) == pytest.approx(false_discovery_control(p, method="bh"))
    assert bh_adjusted([]) == []


def test_the_quiet_series_are_in_the_family():
    """Three SUSTAINED episodes at p = 0.004: alone they pass (q = 0.004); among 200 series
    tested, the 197 quiet ones included, q = 0.004 x 200 / 3 = 0.27 holds them at MINOR."""
    alarms = [episode(i, "SUSTAINED") for i in range(3)]
    alone = control_fdr(alarms, [], family([0.004] * 3, quiet=0), 0.05)
    assert [e.level for e in alone] == [Level.SUSTAINED] * 3
    assert fdr(alone[0]) == {"q": pytest.approx(0.004), "rate": 0.05, "tested": 3}
    among = control_fdr(alarms, [], family([0.004] * 3, quiet=197), 0.05)
    assert [(e.level, e.action) for e in among] == [(Level.MINOR, Level.MINOR.action)] * 3
    q = false_discovery_control(np.array(list(family([0.004] * 3, quiet=197).values())), method="bh")[0]
    assert fdr(among[0]) == {"q": pytest.approx(q), "rate": 0.05, "tested": 200, "held_back_from": "SUSTAINED"}
    # a real drop among them still passes: p 1e-6 x 200 = 2e-4
    (real,) = control_fdr([episode(0, "SUSTAINED")], [], family([1e-6], quiet=199), 0.05)
    assert real.level is Level.SUSTAINED


def test_no_episode_is_demoted_by_other_series_p_values():
    """A level an earlier run granted stays, whatever the family, with the record of the step
    that granted it; only a raise is gated."""
    (granted,) = control_fdr([episode(0, "SUSTAINED")], [], family([1e-6], quiet=0), 0.05)
    crowded = family([0.004, 0.004], quiet=198)  # q = 0.4 for both alarms
    stored = [granted, episode(1, "SUSTAINED")]
    kept, escalating = control_fdr([episode(0, "SUSTAINED"), episode(1, "CRITICAL")], stored, crowded, 0.05)
    assert kept.level is Level.SUSTAINED and fdr(kept) == fdr(granted) == {"q": 1e-6, "rate": 0.05, "tested": 1}
    assert escalating.level is Level.SUSTAINED and fdr(escalating)["held_back_from"] == "CRITICAL"
    # the stored CRITICAL of a series that eased stays as the rules found it (SUSTAINED), not lower
    (eased,) = control_fdr([episode(0, "SUSTAINED")], [episode(0, "CRITICAL")], crowded, 0.05)
    assert eased.level is Level.SUSTAINED
    # held back in one run, raised in the next where the series' p carries it
    (held,) = control_fdr([episode(2, "SUSTAINED")], [], family([1, 1, 0.004], quiet=197), 0.05)
    (raised,) = control_fdr([episode(2, "SUSTAINED")], [held], family([1, 1, 1e-6], quiet=197), 0.05)
    assert (held.level, raised.level) == (Level.MINOR, Level.SUSTAINED)


def test_what_the_step_leaves_alone():
    episodes = [episode(0, "MINOR"), episode(1, "SUSTAINED", status="RESOLVED"), episode(2, "SUSTAINED")]
    p = family([0.5, 0.5], quiet=100)  # c2's rule makes no test (confidence: null): not in the family
    assert control_fdr(episodes, [], p, 0.05) == episodes
    assert control_fdr(episodes, [], family([0.5, 0.5, 0.5], quiet=100), None) == episodes


def test_a_run_that_raises_nothing_changes_nothing_however_crowded_the_family():
    stored = [episode(0, "SUSTAINED"), episode(1, "CRITICAL")]
    found = [episode(0, "SUSTAINED"), episode(1, "SUSTAINED"), episode(2, "MINOR")]
    crowded = family([0.5, 0.5, 0.5], quiet=1000)
    assert [e.level for e in control_fdr(found, stored, crowded, 0.05)] == [
        Level.SUSTAINED,
        Level.SUSTAINED,
        Level.MINOR,
    ]
