"""The alert lifecycle: episodes become ``perf_alerts`` rows, and every change between what the
table held and what this run found becomes an ``alert_events`` row.

Events, by comparing the stored row of a key with the new one: RAISED (a new key, then RESOLVED too
if it already recovered), ESCALATED / DEESCALATED (level up / down), RESOLVED, REOPENED (a resolved
episode open again, e.g. after late labels revised its recovery windows) and RETRACTED (a stored
episode that no longer exists, e.g. late labels moved the window where it opened).

Write order makes a killed run harmless: events are inserted first under ids derived from the
transition (a re-run recomputes the same ids and inserts nothing twice), then delivered, then
``perf_alerts`` is merged; until that merge the next run sees the same transitions again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping

from perfmon_spark.io.catalog import PERF_ALERTS
from perfmon_spark.vocabulary import AlertEvent, AlertStatus, Delivery, Level

LOG = logging.getLogger("perfmon_spark.alerts")

KEY = PERF_ALERTS.key


def key_of(row: Mapping) -> tuple:
    return tuple(row[k] for k in KEY)


def transitions(old: Mapping | None, new: Mapping | None) -> list[tuple[str, str]]:
    """(event, level) pairs that turn the stored episode ``old`` into ``new`` (either may be None)."""
    if new is None:
        return [] if old is None else [(AlertEvent.RETRACTED, old["level"])]
    if old is None:
        raised = [(AlertEvent.RAISED, new["level"])]
        return raised + [(AlertEvent.RESOLVED, new["level"])] if new["status"] == AlertStatus.RESOLVED else raised
    out = []
    if old["status"] == AlertStatus.RESOLVED and new["status"] == AlertStatus.OPEN:
        out.append((AlertEvent.REOPENED, new["level"]))
    if Level(new["level"]).rank > Level(old["level"]).rank:
        out.append((AlertEvent.ESCALATED, new["level"]))
    elif Level(new["level"]).rank < Level(old["level"]).rank:
        out.append((AlertEvent.DEESCALATED, new["level"]))
    if old["status"] == AlertStatus.OPEN and new["status"] == AlertStatus.RESOLVED:
        out.append((AlertEvent.RESOLVED, new["level"]))
    return out


def events_between(old_rows: list[Mapping], new_rows: list[Mapping], run_id: str, as_of: int) -> list[dict]:
    """alert_events rows (delivery PENDING) for every transition from the stored episodes to the
    new ones. ``as_of`` and timestamps are epoch seconds."""
    old = {key_of(r): r for r in old_rows}
    new = {key_of(r): r for r in new_rows}
    events = []
    for key in sorted(set(old) | set(new), key=repr):
        before, after = old.get(key), new.get(key)
        current = after if after is not None else before
        for event, level in transitions(before, after):
            identity = json.dumps(
                [key, event, level, before and before.get("updated_run_id"), current["last_window_start"]], default=str
            )
            details = {
                c: current.get(c)
                for c in ("metric", "status", "value", "ci_lower", "ci_upper", "baseline", "threshold", "action")
            }
            details["previous_level"] = before["level"] if before is not None else None
            details["last_window_start"] = current["last_window_start"]
            events.append(
                {
                    "event_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
                    **dict(zip(KEY, key)),
                    "event": event,
                    "level": level,
                    "run_id": run_id,
                    "as_of": as_of,
                    "details": json.dumps(details, sort_keys=True, default=str),
                    "delivery": Delivery.PENDING,
                    "delivery_attempts": 0,
                    "delivered_to": [],
                    "delivery_error": None,
                }
            )
    return events
