"""The alert lifecycle: episodes become ``perf_alerts`` rows, and every change between what the
table held and what this run found becomes an ``alert_events`` row.

Events, by comparing the stored row of a key with the new one: RAISED (a new key, then RESOLVED too
if it already recovered), ESCALATED / DEESCALATED (level up / down), RESOLVED, REOPENED (a resolved
episode open again, e.g. after late labels revised its recovery windows) and RETRACTED (a stored
episode that no longer exists, e.g. late labels moved the window where it opened).

An episode the table did not hold and that is already RESOLVED opened and closed within the
history the run read (a first run over months, or a run after a gap): its events are written with
delivery NONE and not announced, so that only episodes open at as_of, or changed from what was
announced, reach people. Each event's details name the window that triggered it (``window``):
the one that set the episode's level, or for RESOLVED the one that resolved it, with its value
and threshold.

Write order makes a killed run harmless: events are inserted first under ids derived from the
transition (a re-run recomputes the same ids and inserts nothing twice), then delivered, then
``perf_alerts`` is merged; until that merge the next run sees the same transitions again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from perfmon_spark.io.catalog import PERF_ALERTS
from perfmon_spark.vocabulary import Action, AlertEvent, AlertStatus, Delivery, Level

LOG = logging.getLogger("perfmon_spark.alerts")

KEY = PERF_ALERTS.key
SERIES = ("rule", "model_version", "slice_key", "slice_value", "window")  # a rule's history; episodes within it
_DETAILS = ("metric", "status", "value", "ci_lower", "ci_upper", "baseline", "threshold", "action")


@dataclass(frozen=True)
class Episode:
    """One alert episode: a ``perf_alerts`` row, timestamps as epoch seconds (``io.rows``)."""

    monitor: str
    rule: str
    model_version: str
    slice_key: str
    slice_value: str
    window: str
    opened_window_start: int
    metric: str
    level: Level
    status: AlertStatus
    action: Action
    value: float | None
    ci_lower: float | None
    ci_upper: float | None
    baseline: float | None
    threshold: float | None
    last_window_start: int
    resolved_window_start: int | None
    evidence: str
    updated_run_id: str | None = None

    @classmethod
    def of(cls, row: Mapping) -> Episode:
        """An episode from a collected row (``updated_run_id`` may be missing: a new episode)."""
        values = {f.name: row.get(f.name) for f in fields(cls)}
        values.update(level=Level(row["level"]), status=AlertStatus(row["status"]), action=Action(row["action"]))
        return cls(**values)

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, k) for k in KEY)

    @property
    def series(self) -> tuple:
        """The rule history the episode belongs to (``SERIES``)."""
        return tuple(getattr(self, k) for k in SERIES)

    @property
    def is_open(self) -> bool:
        return self.status is AlertStatus.OPEN

    def row(self) -> dict:
        return asdict(self)


def transitions(old: Episode | None, new: Episode | None) -> list[tuple[AlertEvent, Level]]:
    """(event, level) pairs that turn the stored episode ``old`` into ``new`` (either may be None)."""
    if new is None:
        return [] if old is None else [(AlertEvent.RETRACTED, old.level)]
    if old is None:
        raised = [(AlertEvent.RAISED, new.level)]
        return raised + [(AlertEvent.RESOLVED, new.level)] if new.status is AlertStatus.RESOLVED else raised
    out = []
    if old.status is AlertStatus.RESOLVED and new.is_open:
        out.append((AlertEvent.REOPENED, new.level))
    if new.level.rank > old.level.rank:
        out.append((AlertEvent.ESCALATED, new.level))
    elif new.level.rank < old.level.rank:
        out.append((AlertEvent.DEESCALATED, new.level))
    if old.is_open and new.status is AlertStatus.RESOLVED:
        out.append((AlertEvent.RESOLVED, new.level))
    return out


def _triggering_window(episode: Episode, event: AlertEvent) -> dict:
    """The window an event is about, with its value and threshold: the resolving one for RESOLVED
    (epoch seconds, as the episode's), else the one that set the level (the episode's evidence;
    its last window for an episode stored before the evidence named it)."""
    if event is AlertEvent.RESOLVED or "trigger" not in (evidence := json.loads(episode.evidence or "{}")):
        start = episode.resolved_window_start if event is AlertEvent.RESOLVED else episode.last_window_start
        return {"window_start": start, "value": episode.value, "threshold": episode.threshold}
    trigger = evidence["trigger"]
    return {k: trigger[k] for k in ("window_start", "value", "threshold")}


def events_between(old_episodes: list[Episode], new_episodes: list[Episode], run_id: str, as_of: int) -> list[dict]:
    """alert_events rows (delivery PENDING) for every transition from the stored episodes to the
    new ones. ``as_of`` and timestamps are epoch seconds."""
    old = {e.key: e for e in old_episodes}
    new = {e.key: e for e in new_episodes}
    events = []
    for key in sorted(set(old) | set(new), key=repr):
        before, after = old.get(key), new.get(key)
        current = after if after is not None else before
        for event, level in transitions(before, after):
            identity = json.dumps(
                [key, event, level, before and before.updated_run_id, current.last_window_start], default=str
            )
            details = {c: getattr(current, c) for c in _DETAILS}
            details["previous_level"] = before.level if before is not None else None
            details["last_window_start"] = current.last_window_start
            details["window"] = _triggering_window(current, event)
            history = before is None and after is not None and not after.is_open
            events.append(
                {
                    "event_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
                    **dict(zip(KEY, key)),
                    "event": event,
                    "level": level,
                    "run_id": run_id,
                    "as_of": as_of,
                    "details": json.dumps(details, sort_keys=True, default=str),
                    "delivery": Delivery.NONE if history else Delivery.PENDING,
                    "delivery_attempts": 0,
                    "delivered_to": [],
                    "delivery_error": None,
                }
            )
    return events
