"""Drift against performance without Spark: the decay test per window, the classes, the Spearman
figures against scipy, the test of drift moving with the drop on trending series, and the
drift_and_decay retrain trigger."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from perfmon_spark.alerts.decay import comovement_p, decayed, drift_class, spearman_p, spearman_rho
from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.config import parse_config
from perfmon_spark.decisions import VersionFacts, retrain_decisions
from perfmon_spark.errors import ConfigError
from perfmon_spark.metrics.intervals import t_two_sided
from perfmon_spark.vocabulary import DriftClass, Level
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


def auc_episode(version: str, level: str, confirmed: bool = True, slice_value: str = "*") -> Episode:
    """An open episode of the ``auc`` rule (roc_auc, 7 days); ``confirmed``: its level was beyond
    in two windows that share no bucket."""
    return Episode.of(
        {
            "monitor": "m",
            "rule": "auc",
            "model_version": version,
            "slice_key": "*" if slice_value == "*" else "country",
            "slice_value": slice_value,
            "window": "7 days",
            "opened_window_start": 1000,
            "metric": "roc_auc",
            "level": level,
            "status": "OPEN",
            "action": Level(level).action,
            "value": 0.8,
            "ci_lower": 0.78,
            "ci_upper": 0.82,
            "baseline": 0.95,
            "threshold": 0.9,
            "last_window_start": 1000 + 7 * 86400,
            "resolved_window_start": None,
            "evidence": json.dumps({"confirmed": [level] if confirmed else []}),
        }
    )


def test_drift_and_decay_needs_a_sustained_episode_and_lists_only_tested_correlations():
    data = with_changes(
        alerts=[
            {
                "name": "auc",
                "metric": "roc_auc",
                "window": "7 days",
                "minor": {"ratio": 0.97},
                "sustained": {"ratio": 0.93, "consecutive": 2},
            }
        ]
    )
    data["drift"] = {"features": ["device_risk", "amount"], "categorical": ["channel"]}
    data["retrain"] = {"triggers": ["drift_and_decay"]}
    cfg = parse_config(data)
    drift = _rows("v3", [DriftClass.DRIFT_AND_DECAY] * 2) + _rows("v2", [DriftClass.DRIFT_AND_DECAY, DriftClass.STABLE])
    correlations = [  # descriptive rho > 0 for two features; the test of the changes passes for one
        {
            "model_version": "v3",
            "metric": "roc_auc",
            "feature": f,
            "spearman_rho": rho,
            "p_value": 0.01,
            "p_comovement": p,
            "windows_used": 12,
        }
        for f, rho, p in (("amount", 0.7, 0.04), ("device_risk", 0.8, 0.001), ("channel", -0.4, 0.5))
    ]
    facts = [VersionFacts("v2", 5000), VersionFacts("v3", 5000)]

    def decide(episodes):
        decisions = retrain_decisions(cfg, 10**8, facts, episodes, None, [], drift, correlations)
        return {d.model_version: d for d in decisions}

    # the two drifted windows that decayed by the lowest level's test are not enough on their own
    assert decide([])["v3"].decision == "NO_ACTION"
    for weak in (auc_episode("v3", "MINOR"), auc_episode("v3", "SUSTAINED", confirmed=False)):
        assert decide([weak])["v3"].decision == "NO_ACTION"
    assert decide([auc_episode("v3", "SUSTAINED", slice_value="BR")])["v3"].decision == "NO_ACTION"
    out = decide([auc_episode("v2", "SUSTAINED"), auc_episode("v3", "CRITICAL")])
    assert out["v2"].decision == "NO_ACTION"  # its latest windows are not both DRIFT_AND_DECAY
    assert out["v3"].decision == "RETRAIN" and "device_risk" in out["v3"].reasons[0]
    evidence = json.loads(out["v3"].evidence)["triggers"][0]
    assert evidence["features"] == ["device_risk"] and len(evidence["windows"]) == 2
    assert evidence["episode"]["level"] == "CRITICAL"
    # BH over the three tested features at drift.fdr 0.05: q = 0.003, 0.06, 0.5
    assert [c["feature"] for c in evidence["correlated"]] == ["device_risk"]
    assert evidence["correlated"][0]["q"] == pytest.approx(0.003)


def ar1(rng: np.random.Generator, windows: int, phi: float) -> np.ndarray:
    x = np.empty(windows)
    x[0] = rng.normal() / np.sqrt(1 - phi * phi)
    for t in range(1, windows):
        x[t] = phi * x[t - 1] + rng.normal()
    return x


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_comovement_allows_for_trends_that_fool_the_spearman_p(phi):
    """Unrelated AR(1) series over 10 windows: trending ones (phi 0.9) make the t-approximation's
    p fall below 0.05 far more often than 5%; the test of the changes stays at about 5%
    (one-sided), also on white noise, whose changes are autocorrelated (phi 0)."""
    rng = np.random.default_rng(8)
    runs = [(ar1(rng, 10, phi), ar1(rng, 10, phi)) for _ in range(600)]
    naive = np.mean([spearman_p(spearman_rho(x, y), 10) < 0.05 for x, y in runs])
    honest = np.mean([comovement_p(x, y) <= 0.05 for x, y in runs])
    assert honest < 0.06 and (phi == 0 or naive > 0.12)


def test_comovement_p_is_students_t_on_the_effective_number_of_changes():
    rng = np.random.default_rng(10)
    for windows in (4, 10, 20, 31):
        drop, psi = ar1(rng, windows, 0.5), ar1(rng, windows, 0.5) + 0.5 * np.arange(windows)
        rx, ry = (stats.rankdata(np.diff(v)) for v in (drop, psi))
        n, rho = len(rx), stats.spearmanr(np.diff(drop), np.diff(psi))[0]
        acf = [(_acf(rx, j), _acf(ry, j)) for j in range(1, max(n // 5, 1) + 1)]
        n_eff = n / (1 + 2 * sum((n - j) / n * a * b for j, (a, b) in enumerate(acf, start=1)))
        df = int(np.floor(min(max(n_eff, 3), n))) - 2
        expected = stats.t.sf(rho * np.sqrt(df / (1 - rho * rho)), df)
        assert comovement_p(drop, psi) == pytest.approx(expected, rel=1e-9, abs=1e-12), windows
    psi = ar1(rng, 20, 0.8)
    assert comovement_p(psi + rng.normal(0, 0.3, 20), psi) < 0.01  # a drop that follows the drift is found
    assert comovement_p([1.0, 2.0, 3.0], [0.1, 0.3, 0.2]) is None  # 3 windows: too few
    assert comovement_p([1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.2, 0.5]) is None  # constant changes


def _acf(r: np.ndarray, lag: int) -> float:
    centred = r - r.mean()
    return float(centred[lag:] @ centred[:-lag] / (centred @ centred))


def test_spearman_rho_equals_scipys_and_is_none_for_a_constant_series():
    rng = np.random.default_rng(9)
    x, y = rng.integers(0, 4, 12), rng.normal(size=12)
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert spearman_rho(np.ones(5), y[:5]) is None


def test_drift_and_decay_needs_drift_features():
    data = with_changes(retrain={"triggers": ["drift_and_decay"]})
    with pytest.raises(ConfigError, match=r"retrain.triggers\[0\]: .drift_and_decay. needs drift.features"):
        parse_config(data)
