"""Retraining decisions and model status from open episodes (no Spark)."""

from __future__ import annotations

import json

import pytest

from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.config import parse_config
from perfmon_spark.decisions import VersionFacts, model_statuses, retrain_decisions, status_of
from perfmon_spark.vocabulary import Level
from tests.helpers import with_changes

DAY = 86400
NOW = 100 * DAY


def config(**retrain):
    data = with_changes(alerts=[{"name": "acc", "metric": "accuracy", "window": "7 days", "sustained": {"ratio": 0.9}}])
    data["retrain"] = {"triggers": ["sustained", "critical"], **retrain}
    return parse_config(data)


def episode(version="v1", level="SUSTAINED", slice_value="*", value=0.7, ci=(0.68, 0.72), confirmed=True):
    """An open episode; ``confirmed``: its level was beyond in two windows that share no bucket."""
    return Episode.of(
        {
            "monitor": "m",
            "action": Level(level).action,
            "evidence": json.dumps({"confirmed": [level] if confirmed else []}),
            "resolved_window_start": None,
            "rule": "acc",
            "metric": "accuracy",
            "window": "7 days",
            "model_version": version,
            "slice_key": "*" if slice_value == "*" else "country",
            "slice_value": slice_value,
            "level": level,
            "status": "OPEN",
            "value": value,
            "ci_lower": ci[0],
            "ci_upper": ci[1],
            "baseline": 0.9,
            "threshold": 0.81,
            "opened_window_start": NOW - 5 * DAY,
            "last_window_start": NOW - 7 * DAY,
        }
    )


def decide(cfg, facts, episodes, last_monitor=None):
    return {d.model_version: d.row() for d in retrain_decisions(cfg, NOW, facts, episodes, last_monitor)}


def test_no_trigger_no_action_and_minor_never_retrains():
    out = decide(config(), [VersionFacts("v1", 1000)], [episode(level="MINOR")])
    assert out["v1"]["decision"] == "NO_ACTION" and out["v1"]["reasons"] == []


def test_sustained_triggers_retrain_with_reasons_and_evidence():
    out = decide(config(), [VersionFacts("v1", 1000), VersionFacts("v2", 50)], [episode()])
    assert out["v1"]["decision"] == "RETRAIN" and out["v2"]["decision"] == "NO_ACTION"
    assert out["v1"]["reasons"] == ["sustained: rule acc (accuracy, 7 days, overall) at SUSTAINED"]
    evidence = json.loads(out["v1"]["evidence"])
    assert evidence["triggers"][0]["value"] == 0.7 and evidence["triggers"][0]["threshold"] == 0.81
    assert out["v1"]["new_labels_since_last"] == 1000


def test_trigger_list_is_respected():
    cfg = config(triggers=["critical"])
    assert decide(cfg, [VersionFacts("v1", 1000)], [episode()])["v1"]["decision"] == "NO_ACTION"
    assert decide(cfg, [VersionFacts("v1", 1000)], [episode(level="CRITICAL")])["v1"]["decision"] == "RETRAIN"


def test_cooldown_since_the_last_retrain():
    cfg = config(cooldown="14 days")
    recent = VersionFacts("v1", 1000, last_retrain_as_of=NOW - 13 * DAY, labels_at_last_retrain=100)
    out = decide(cfg, [recent], [episode()])["v1"]
    assert out["decision"] == "COOLDOWN" and any(r.startswith("cooldown:") for r in out["reasons"])
    old = VersionFacts("v1", 1000, last_retrain_as_of=NOW - 15 * DAY, labels_at_last_retrain=100)
    assert decide(cfg, [old], [episode()])["v1"]["decision"] == "RETRAIN"


def test_min_new_labels_counts_labels_since_the_last_retrain():
    cfg = config(min_new_labels=5000, cooldown="1 day")
    facts = VersionFacts("v1", 9000, last_retrain_as_of=NOW - 30 * DAY, labels_at_last_retrain=5000)
    out = decide(cfg, [facts], [episode()])["v1"]
    assert out["decision"] == "COOLDOWN" and out["new_labels_since_last"] == 4000
    assert "min_new_labels: 4000 new labels since the last RETRAIN, need 5000" in out["reasons"]
    assert decide(cfg, [VersionFacts("v1", 5000)], [episode()])["v1"]["decision"] == "RETRAIN"


def test_at_most_one_retrain_per_period_across_versions_worst_first():
    cfg = config(max_one_per="30 days")
    facts = [VersionFacts("v1", 1000), VersionFacts("v2", 1000)]
    out = decide(cfg, facts, [episode("v1"), episode("v2", level="CRITICAL")])
    assert out["v2"]["decision"] == "RETRAIN" and out["v1"]["decision"] == "COOLDOWN"
    later = decide(cfg, facts, [episode("v1")], last_monitor=NOW - 29 * DAY)
    assert later["v1"]["decision"] == "COOLDOWN"
    assert decide(cfg, facts, [episode("v1")], last_monitor=NOW - 31 * DAY)["v1"]["decision"] == "RETRAIN"


def test_status_levels():
    assert status_of([]) == ("HEALTHY", "NONE")
    assert status_of([episode(level="MINOR")]) == ("DEGRADED", "OBSERVE")
    assert status_of([episode(level="MINOR"), episode(level="SUSTAINED")]) == ("DEGRADED", "ALERT")
    assert status_of([episode(level="CRITICAL")]) == ("CRITICAL", "BLOCK_OR_ROLLBACK")


def test_rollback_target_is_the_best_healthy_other_version_with_a_significance_test():
    cfg = config()
    crit = episode("v3", level="CRITICAL", value=0.60, ci=(0.58, 0.62))

    def cand(v, value, half, n_labeled=1000):
        return {
            "n_labeled": n_labeled,
            "rule": "acc",
            "window": "7 days",
            "slice_key": "*",
            "slice_value": "*",
            "window_start": crit.last_window_start,
            "model_version": v,
            "value": value,
            "ci_lower": value - half,
            "ci_upper": value + half,
        }

    candidates = [
        cand("v1", 0.88, 0.02),
        cand("v2", 0.95, 0.02),
        cand("v3", 0.60, 0.02),
        cand("*", 0.8, 0.01),
        cand("v4", 0.61, 0.05),
        cand("v5", 0.97, 0.02, n_labeled=30),  # the best point, on too few labels (min_labeled 200)
        cand("v6", 0.90, 0.09),  # a better point than v1 but a worse lower bound (0.81 < 0.86)
    ]
    rows = {
        s.model_version: s.row()
        for s in model_statuses(cfg, ["v1", "v2", "v3", "v4", "v5", "v6"], [crit, episode("v2")], candidates)
    }
    assert rows["v3"]["status"] == "CRITICAL" and rows["v3"]["action"] == "BLOCK_OR_ROLLBACK"
    assert rows["v2"]["status"] == "DEGRADED"
    assert rows["v3"]["rollback_target"] == "v1"  # v2 is better but not healthy
    comparison = json.loads(rows["v3"]["comparison"])
    by = {c["model_version"]: c for c in comparison["candidates"]}
    assert set(by) == {"v1", "v2", "v4", "v5", "v6"}
    assert not by["v5"]["enough_labels"] and by["v6"]["bound"] == pytest.approx(0.81)
    assert abs(by["v1"]["difference"] - 0.28) < 1e-12 and by["v1"]["significant"] is True
    assert by["v4"]["significant"] is False  # 0.01 better, well within the noise
    assert rows["v1"]["rollback_target"] is None and rows["v1"]["comparison"] is None
    none = model_statuses(cfg, ["v3"], [crit], [cand("v3", 0.6, 0.02)])[0]
    assert none.row()["rollback_target"] is None and json.loads(none.row()["comparison"])["candidates"] == []

    # serving_gate: only BLOCK_OR_ROLLBACK closes it; the reason names the rule and the target
    gates = {
        s.model_version: s.gate() for s in model_statuses(cfg, ["v1", "v2", "v3"], [crit, episode("v2")], candidates)
    }
    assert gates["v3"]["allowed"] is False and gates["v1"]["allowed"] is gates["v2"]["allowed"] is True
    assert gates["v3"]["reason"] == (
        f"CRITICAL: BLOCK_OR_ROLLBACK: rule {crit.rule} ({crit.metric}, {crit.window}, *, *); roll back to v1"
    )
    assert gates["v2"]["reason"] == "DEGRADED: ALERT" and gates["v1"]["reason"] == "HEALTHY: NONE"
    assert none.gate()["reason"].endswith("; no rollback target")


def test_one_bad_bucket_may_block_but_never_retrains():
    cfg = config()
    once = episode(level="CRITICAL", confirmed=False)
    assert status_of([once]) == ("CRITICAL", "BLOCK_OR_ROLLBACK")
    assert decide(cfg, [VersionFacts("v1", 1000)], [once])["v1"]["decision"] == "NO_ACTION"
    assert decide(cfg, [VersionFacts("v1", 1000)], [episode(level="CRITICAL")])["v1"]["decision"] == "RETRAIN"
