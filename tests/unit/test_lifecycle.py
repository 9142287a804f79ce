"""Alert events from episodes (``alerts.lifecycle``): what is news, and what a line shows."""

from __future__ import annotations

import json
from dataclasses import replace

from perfmon_spark.alerts.lifecycle import Episode, events_between
from perfmon_spark.alerts.notify import describe
from perfmon_spark.vocabulary import Action, AlertEvent, AlertStatus, Delivery, Level

DAY = 86_400
OPENED, RESOLVED_AT = 1_767_225_600, 1_767_225_600 + 9 * DAY


def episode(status=AlertStatus.OPEN, **changes) -> Episode:
    """A MINOR roc_auc episode opened by a window at 0.70 (threshold 0.7304) whose last window
    recovered to 0.7642."""
    trigger = {"window_start": "2026-01-01T00:00:00", "value": 0.70, "threshold": 0.7304, "level": "MINOR"}
    base = Episode(
        monitor="fraud",
        rule="auc_drop",
        model_version="v3",
        slice_key="country",
        slice_value="BR",
        window="7 days",
        opened_window_start=OPENED,
        metric="roc_auc",
        level=Level.MINOR,
        status=status,
        action=Action.LOG,
        value=0.7642,
        ci_lower=0.74,
        ci_upper=0.78,
        baseline=0.7688,
        threshold=0.7304,
        last_window_start=RESOLVED_AT,
        resolved_window_start=RESOLVED_AT if status is AlertStatus.RESOLVED else None,
        evidence=json.dumps({"trigger": trigger}),
    )
    return replace(base, **changes)


def line(event: dict) -> str:
    return describe({**event, "monitor": "fraud"})


def test_an_episode_opened_and_resolved_within_history_is_written_but_not_announced():
    events = events_between([], [episode(AlertStatus.RESOLVED)], "r1", RESOLVED_AT + DAY)
    assert [e["event"] for e in events] == [AlertEvent.RAISED, AlertEvent.RESOLVED]
    assert {e["delivery"] for e in events} == {Delivery.NONE}


def test_an_open_episode_and_a_change_of_a_stored_one_are_announced():
    raised = events_between([], [episode()], "r1", RESOLVED_AT)
    assert [(e["event"], e["delivery"]) for e in raised] == [(AlertEvent.RAISED, Delivery.PENDING)]
    stored = replace(episode(), updated_run_id="r1")
    resolved = events_between([stored], [episode(AlertStatus.RESOLVED)], "r2", RESOLVED_AT + DAY)
    assert [(e["event"], e["delivery"]) for e in resolved] == [(AlertEvent.RESOLVED, Delivery.PENDING)]


def test_a_line_shows_the_window_that_triggered_the_event_with_its_value_and_threshold():
    raised = line(events_between([], [episode()], "r1", RESOLVED_AT)[0])
    assert "RAISED MINOR alert auc_drop on model v3, country=BR, the 7 days window from 2026-01-01" in raised
    assert "roc_auc 0.7 vs threshold 0.7304" in raised  # the value that crossed, not the recovered 0.7642
    stored = replace(episode(), updated_run_id="r1")
    resolved = line(events_between([stored], [episode(AlertStatus.RESOLVED)], "r2", RESOLVED_AT + DAY)[0])
    assert (
        "RESOLVED MINOR" in resolved
        and "window from 2026-01-10T00:00:00Z: roc_auc 0.7642 vs threshold 0.7304" in resolved
    )


def test_an_episode_stored_before_its_evidence_named_the_trigger_shows_its_last_window():
    old = episode(evidence="{}", value=0.71)
    text = line(events_between([], [old], "r1", RESOLVED_AT)[0])
    assert "window from 2026-01-10T00:00:00Z: roc_auc 0.71 vs threshold 0.7304" in text
