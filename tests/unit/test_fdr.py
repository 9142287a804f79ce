"""The run-level Benjamini-Hochberg step over SUSTAINED-or-worse episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from perfmon_spark.alerts.fdr import bh_adjusted, control_fdr
from perfmon_spark.alerts.lifecycle import Episode


def episode(i: int, level: str, p: float, status: str = "OPEN") -> Episode:
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
            "action": "ALERT",
            "last_window_start": 0,
            "evidence": json.dumps({"p_value": p}),
        }
    )


def test_adjusted_values_equal_scipy():
    p = np.random.default_rng(3).uniform(size=50) ** 2
    assert bh_adjusted(list(p)) == pytest.approx(false_discovery_control(p, method="bh"))
    assert bh_adjusted([]) == []


def test_chance_episodes_across_many_slices_are_kept_as_minor():
    rng = np.random.default_rng(0)
    p = list(rng.uniform(0.001, 0.02, size=20)) + [1e-9]  # 20 borderline slices and one real drop
    episodes = [episode(i, "SUSTAINED", pi) for i, pi in enumerate(p)] + [episode(99, "MINOR", 0.5)]
    out = control_fdr(episodes, 0.05)
    q = false_discovery_control(np.array(p), method="bh")
    for e, qi in zip(out[:-1], q):
        fdr = json.loads(e.evidence)["fdr"]
        assert fdr["q"] == pytest.approx(qi) and fdr["candidates"] == 21
        assert e.level == ("SUSTAINED" if qi <= 0.05 else "MINOR")
        assert (e.action == "LOG") == (qi > 0.05)
    assert out[-2].level == "SUSTAINED"  # the real drop survives
    assert out[-1] == episodes[-1]  # MINOR episodes are not tested
    assert control_fdr(episodes, None) == episodes
