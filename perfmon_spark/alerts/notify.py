"""Notification delivery: every alert event is logged; webhook sinks (generic JSON or
Slack-compatible) get the events of the levels they ask for.

Delivery never fails the job and never loses an event: each sink gets ``1 + retries`` attempts
with a timeout and a short doubling pause; what is still undelivered stays FAILED in
``alert_events`` and is retried by the next run, only towards the sinks that have not had it yet.
A sink that fails an event outright is not tried again in the same run (its later events stay
PENDING), so a dead endpoint costs one event's attempts per run, not one per event. URLs come from
environment variables and are never printed or stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from perfmon_spark.config import NotificationSink
from perfmon_spark.vocabulary import OVERALL, Delivery

LOG = logging.getLogger("perfmon_spark.alerts")
FIRST_PAUSE_SECONDS = 0.2
_TIMESTAMPS = ("opened_window_start", "as_of")


@dataclass(frozen=True)
class DeliveryState:
    """The delivery state of one event after this run's attempts."""

    delivery: Delivery  # NONE (no sink wants it) / PENDING / DELIVERED / FAILED
    attempts: int
    delivered_to: tuple[str, ...]
    error: str | None = None


def _iso(value) -> str:
    """Epoch seconds (as alert rows carry timestamps) or datetimes, as ISO-8601 UTC."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat() if hasattr(value, "isoformat") else value


def describe(event: Mapping) -> str:
    """One human line for logs and chat messages."""
    where = "overall" if event["slice_key"] == OVERALL else f"{event['slice_key']}={event['slice_value']}"
    details = json.loads(event["details"]) if event.get("details") else {}
    window = details.get("window") or {}
    value, threshold = window.get("value", details.get("value")), window.get("threshold", details.get("threshold"))
    numbers = ""
    if value is not None and threshold is not None:
        numbers = f": {details.get('metric')} {value:.4g} vs threshold {threshold:.4g}"
    start = window.get("window_start", event["opened_window_start"])
    return (
        f"[{event['monitor']}] {event['event']} {event['level']} alert {event['rule']} on model {event['model_version']}, "
        f"{where}, the {event['window']} window from {_iso(start)}{numbers} "
        f"(episode open since {_iso(event['opened_window_start'])})"
    )


def payload(sink: NotificationSink, event: Mapping) -> bytes:
    if sink.type == "slack":
        return json.dumps({"text": describe(event)}).encode()
    body = {k: _iso(v) if k in _TIMESTAMPS else v for k, v in event.items() if not k.startswith("deliver")}
    body["details"] = json.loads(event["details"]) if event.get("details") else None
    return json.dumps(body, sort_keys=True, default=str).encode()


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not a 2xx response", response.headers, None)


def deliver(
    events: list[Mapping],
    sinks: tuple[NotificationSink, ...],
    env: Mapping[str, str] = os.environ,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, DeliveryState]:
    """Send each event to the sinks that want its level and have not had it yet.

    Args:
        events: alert_events rows (``event_id``, key columns, ``event``, ``level``, ``details``,
            ``delivery_attempts``, ``delivered_to``).

    Returns:
        event_id -> its new delivery state.
    """
    dead: set[str] = set()
    out: dict[str, DeliveryState] = {}
    for event in events:
        done = set(event.get("delivered_to") or ())
        wanted = [s for s in sinks if event["level"] in s.levels]
        attempts, error = int(event.get("delivery_attempts") or 0), None
        failed = event.get("delivery") == Delivery.FAILED
        for sink in wanted:
            if sink.name in done or sink.name in dead:
                continue
            ok, tries, reason = _send(sink, event, env, sleep)
            attempts += tries
            if ok:
                done.add(sink.name)
            else:
                dead.add(sink.name)
                failed, error = True, reason
                LOG.warning(
                    "delivery of alert event %s to %s failed after %d attempts: %s",
                    event["event_id"],
                    sink.name,
                    tries,
                    reason,
                )
        if not wanted:
            state = Delivery.NONE
        elif all(s.name in done for s in wanted):
            state = Delivery.DELIVERED
        else:
            state = Delivery.FAILED if failed else Delivery.PENDING
        out[event["event_id"]] = DeliveryState(state, attempts, tuple(sorted(done)), error)
    return out


def _send(sink: NotificationSink, event: Mapping, env: Mapping[str, str], sleep) -> tuple[bool, int, str | None]:
    url = env.get(sink.url_env)
    if not url:
        return False, 0, f"environment variable {sink.url_env} is not set"
    body = payload(sink, event)
    error = None
    for attempt in range(sink.retries + 1):
        if attempt:
            sleep(FIRST_PAUSE_SECONDS * 2 ** (attempt - 1))
        try:
            _post(url, body, sink.timeout_seconds)
            return True, attempt + 1, None
        except Exception as e:  # noqa: BLE001 (a delivery never fails the job)
            # the message may embed the URL: keep only the kind and the status
            error = f"{type(e).__name__} {getattr(e, 'code', '') or ''}".strip()
    return False, sink.retries + 1, error
