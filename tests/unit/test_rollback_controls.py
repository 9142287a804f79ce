"""The controls of ``perfmon rollback`` without Spark: when a rollback is due, the order in which
the controls refuse it, and that the evidence is read in the latest window of the longest window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from perfmon_spark.rollback_controls import RollbackCase, judge
from perfmon_spark.vocabulary import RollbackControl

NOW = datetime(2026, 6, 1, 12)
CRITICAL = {
    "status": "CRITICAL",
    "action": "BLOCK_OR_ROLLBACK",
    "rollback_target": "v1",
    "comparison": "{}",
    "as_of": 0,
    "run_id": "r1",
}


def row(metric="accuracy", window="7 days", start=10, verdict="BETTER"):
    return {
        "metric": metric,
        "window": window,
        "window_start": start,
        "verdict": verdict,
        "difference": 0.1,
        "ci_lower": 0.05,
        "ci_upper": 0.15,
        "n_labeled_champion": 400,
        "n_labeled_challenger": 380,
    }


def case(**changes) -> RollbackCase:
    base = {
        "champion": "v2",
        "status": CRITICAL,
        "comparison": [row(), row(metric="roc_auc", verdict="NOT_WORSE")],
        "longest_window": "7 days",
        "metrics": ("accuracy", "roc_auc"),
        "last_applied": None,
        "holder": None,
        "now": NOW,
        "cooldown": timedelta(days=7),
    }
    return RollbackCase(**(base | changes))


def test_a_critical_champion_with_a_better_target_goes_ahead():
    found = judge(case())
    assert (found.due, found.to_version, found.refused_by, found.goes_ahead) == (True, "v1", None, True)
    assert "accuracy: BETTER (+0.1000 [+0.0500, +0.1500], 400 / 380 labels)" in found.why
    assert found.evidence["comparison"]["roc_auc"]["verdict"] == "NOT_WORSE"


@pytest.mark.parametrize(
    "status, why",
    [
        (None, "no model_status row for the champion 'v2'"),
        ({"status": "DEGRADED", "action": "ALERT"}, "DEGRADED (ALERT)"),
    ],
)
def test_nothing_is_due_unless_the_champion_is_critical(status, why):
    found = judge(case(status=status))
    assert not found.due and not found.goes_ahead and why in found.why


LAST = {"at": NOW - timedelta(days=2), "from_version": "v3", "to_version": "v2"}


@pytest.mark.parametrize(
    "changes, control, said",
    [
        ({"status": CRITICAL | {"rollback_target": None}}, RollbackControl.NO_TARGET, "names no healthy version"),
        (
            {"comparison": [row(), row(metric="roc_auc", verdict="INCONCLUSIVE")]},
            RollbackControl.EVIDENCE,
            "roc_auc: INCONCLUSIVE",
        ),
        ({"comparison": [row()]}, RollbackControl.EVIDENCE, "roc_auc: no 7 days window with both"),
        ({"comparison": [row(verdict="WORSE"), row(metric="roc_auc")]}, RollbackControl.EVIDENCE, "accuracy: WORSE"),
        ({"last_applied": LAST}, RollbackControl.COOLDOWN, "next allowed after 2026-06-06 12:00"),
        ({"holder": "monitor 'm' is held by run r9"}, RollbackControl.IN_FLIGHT, "held by run r9"),
        # the first control that refuses is the one named
        ({"last_applied": LAST, "holder": "held"}, RollbackControl.COOLDOWN, "v3 -> v2"),
        ({"comparison": [], "last_applied": LAST}, RollbackControl.EVIDENCE, "accuracy: no 7 days window"),
    ],
)
def test_each_control_refuses_a_due_rollback_with_its_reason(changes, control, said):
    found = judge(case(**changes))
    assert found.due and not found.goes_ahead and found.refused_by is control
    assert said in found.why and found.why.startswith("the champion v2 is CRITICAL (BLOCK_OR_ROLLBACK); refused by")


def test_a_cooldown_over_lets_it_go_and_the_evidence_is_the_latest_window_of_the_longest():
    assert judge(case(last_applied=LAST | {"at": NOW - timedelta(days=7, seconds=1)})).goes_ahead
    older_better = [row(start=5), row(start=10, verdict="INCONCLUSIVE"), row(metric="roc_auc")]
    assert judge(case(comparison=older_better)).refused_by is RollbackControl.EVIDENCE
    shorter_better = [row(window="1 day", start=12), row(start=10), row(metric="roc_auc")]
    found = judge(case(comparison=shorter_better))
    assert found.goes_ahead and found.evidence["comparison"]["accuracy"]["window"] == "7 days"
