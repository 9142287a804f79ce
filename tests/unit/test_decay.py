"""Drift against performance without Spark: the decay test per window, the classes, the Spearman
p-value against scipy, and the drift_and_decay retrain trigger."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from perfmon_spark.alerts.decay import decayed, drift_class, spearman_p
from perfmon_spark.config import parse_config
from perfmon_spark.decisions import VersionFacts, retrain_decisions
from perfmon_spark.errors import ConfigError
from perfmon_spark.metrics.intervals import t_two_sided
from perfmon_spark.vocabulary import DriftClass
from tests.helpers import with_changes
from tests.unit.test_alert_rules import MINOR, SUSTAINED3, history, plan


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10, 29])
def test_t_tail_equals_scipy(df):
    for t in (0.0, 0.3, 1.0, 2.2, 5.0, 40.0):
        assert t_two_sided(t, df) == pytest.approx(2 * stats.t.sf(t, df), abs=1e-12)


def test_spearman_p_equals_scipys_with_ties():
    rng = np.random.default_rng(3)
    for n in (3, 5, 10, 20):
        x, y = rng.integers(0, 4, n), rng.normal(size=n) + rng.integers(0, 4, n)
        rho, p = stats.spearmanr(x, y)
        assert spearman_p(float(rho), n) == pytest.approx(p, abs=1e-10)
    assert spearman_p(None, 10) is None and spearman_p(0.5, 2) is None and spearman_p(1.0, 5) == 0.0


def test_classes_cross_decay_and_drift():
    expected = {
        (True, True): DriftClass.DRIFT_AND_DECAY,
        (True, False): DriftClass.DECAY_WITHOUT_DRIFT,
        (False, True): DriftClass.DRIFT_WITHOUT_DECAY,
        (False, False): DriftClass.STABLE,
    }
    for decay in (True, False, None):
        for drift in (True, False, None):
            assert drift_class(decay, drift) == expected.get((decay, drift), DriftClass.UNKNOWN)


def test_decay_is_the_lowest_level_on_its_own_window_with_intervals():
    # baseline 0.9, minor at 0.95 x 0.9 = 0.855: a window decays only when its whole interval
    # (and the test of the drop past the threshold) says so; immature or small windows are unknown
    h = history([0.80, 0.84, 0.80, 0.80, 0.89], half=[0.01, 0.03, 0.01, 0.01, 0.01], n=[1000, 1000, 10, 1000, 1000])
    h.loc[3, "is_mature"] = False
    p = plan([MINOR, SUSTAINED3], confidence=0.95)
    assert decayed(h, p) == [True, False, None, None, False]
    point = plan([MINOR], confidence=None)  # confidence null: point values, as the rules
    assert decayed(h.assign(ci_lower=None, ci_upper=None), point) == [True, True, None, None, False]


def _rows(version, classes, feature="device_risk"):
    return [
        {
            "model_version": version,
            "metric": "roc_auc",
            "window": "7 days",
            "window_start": 1000 + i * 7 * 86400,
            "value": 0.8,
            "baseline": 0.95,
            "top_feature": feature,
            "top_feature_psi": 0.6,
            "score_psi": 0.01,
            "class": str(c),
        }
        for i, c in enumerate(classes)
    ]


def test_drift_and_decay_fires_on_two_windows_and_names_the_features():
    data = with_changes(alerts=[{"name": "auc", "metric": "roc_auc", "window": "7 days", "minor": {"ratio": 0.97}}])
    data["drift"] = {"features": ["device_risk", "amount"]}
    data["retrain"] = {"triggers": ["drift_and_decay"]}
    cfg = parse_config(data)
    drift = _rows("v3", [DriftClass.DRIFT_AND_DECAY] * 2) + _rows("v2", [DriftClass.DRIFT_AND_DECAY, DriftClass.STABLE])
    correlations = [
        {
            "model_version": "v3",
            "metric": "roc_auc",
            "feature": f,
            "spearman_rho": rho,
            "p_value": 0.01,
            "windows_used": 12,
        }
        for f, rho in (("amount", 0.1), ("device_risk", 0.8), ("channel", -0.4))
    ]
    facts = [VersionFacts("v2", 5000), VersionFacts("v3", 5000)]
    out = {d.model_version: d for d in retrain_decisions(cfg, 10**8, facts, [], None, [], drift, correlations)}
    assert out["v2"].decision == "NO_ACTION"
    assert out["v3"].decision == "RETRAIN" and "device_risk" in out["v3"].reasons[0]
    evidence = json.loads(out["v3"].evidence)["triggers"][0]
    assert [c["feature"] for c in evidence["correlated"]] == ["device_risk", "amount"]
    assert evidence["features"] == ["device_risk"] and len(evidence["windows"]) == 2


def test_drift_and_decay_needs_drift_features():
    data = with_changes(retrain={"triggers": ["drift_and_decay"]})
    with pytest.raises(ConfigError, match=r"retrain.triggers\[0\]: .drift_and_decay. needs drift.features"):
        parse_config(data)
