"""Webhook delivery against a real HTTP server on loopback: delivery, retry after failures,
nothing lost when a sink is down, URLs never in the recorded error."""

from __future__ import annotations

import json

import pytest

from perfmon_spark.alerts.notify import deliver
from perfmon_spark.config import NotificationSink
from tests.helpers import Server


@pytest.fixture
def server():
    servers = []

    def make(fail=0):
        servers.append(Server(fail))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def sink(kind="webhook", retries=2, levels=("SUSTAINED", "CRITICAL"), name=None):
    return NotificationSink(
        name=name or kind,
        type=kind,
        url_env=f"HOOK_{kind.upper()}",
        levels=levels,
        timeout="2 seconds",
        retries=retries,
    )


def event(i=1, level="SUSTAINED", **extra):
    return {
        "event_id": f"e{i}",
        "monitor": "fraud",
        "rule": "auc_drop",
        "model_version": "v2",
        "slice_key": "country",
        "slice_value": "BR",
        "window": "7 days",
        "opened_window_start": 1767225600,
        "event": "RAISED",
        "level": level,
        "run_id": "r1",
        "as_of": 1767830400,
        "details": json.dumps({"metric": "roc_auc", "value": 0.81, "threshold": 0.837}),
        "delivery": "PENDING",
        "delivery_attempts": 0,
        "delivered_to": [],
        "delivery_error": None,
        **extra,
    }


def no_sleep(_):
    pass


def test_delivers_json_and_slack_payloads(server):
    hook, slack = server(), server()
    env = {"HOOK_WEBHOOK": hook.url, "HOOK_SLACK": slack.url}
    out = deliver([event()], (sink("webhook"), sink("slack")), env, no_sleep)
    assert out["e1"].delivery == "DELIVERED" and out["e1"].attempts == 2
    assert out["e1"].delivered_to == ("slack", "webhook")
    body = hook.bodies[0]
    assert body["rule"] == "auc_drop" and body["level"] == "SUSTAINED" and body["details"]["value"] == 0.81
    assert body["opened_window_start"] == "2026-01-01T00:00:00Z"
    assert "SUSTAINED alert auc_drop on model v2, country=BR" in slack.bodies[0]["text"]


def test_retries_after_failures_within_the_run(server):
    hook = server(fail=2)
    out = deliver([event()], (sink(retries=2),), {"HOOK_WEBHOOK": hook.url}, no_sleep)
    assert out["e1"].delivery == "DELIVERED" and out["e1"].attempts == 3 and len(hook.bodies) == 1


def test_a_dead_sink_leaves_events_failed_then_the_next_run_delivers_each_once(server):
    hook = server(fail=100)
    events = [event(1), event(2)]
    first = deliver(events, (sink(retries=1),), {"HOOK_WEBHOOK": hook.url}, no_sleep)
    assert first["e1"].delivery == "FAILED" and first["e1"].attempts == 2
    assert first["e1"].error == "HTTPError 503" and "secret" not in first["e1"].error
    assert first["e2"].delivery == "PENDING" and first["e2"].attempts == 0  # the dead sink is not hammered
    assert hook.hits == 2
    hook.fail = 0
    again = [
        dict(e, delivery=first[e["event_id"]].delivery, delivery_attempts=first[e["event_id"]].attempts) for e in events
    ]
    second = deliver(again, (sink(retries=1),), {"HOOK_WEBHOOK": hook.url}, no_sleep)
    assert {k: (v.delivery, v.attempts) for k, v in second.items()} == {"e1": ("DELIVERED", 3), "e2": ("DELIVERED", 1)}
    assert sorted(b["event_id"] for b in hook.bodies) == ["e1", "e2"]


def test_only_missing_sinks_are_retried_and_unwanted_levels_are_not_sent(server):
    good, bad = server(), server(fail=100)
    sinks = (sink("webhook", retries=0), sink("slack", retries=0))
    env = {"HOOK_WEBHOOK": good.url, "HOOK_SLACK": bad.url}
    first = deliver([event()], sinks, env, no_sleep)
    assert first["e1"].delivery == "FAILED" and first["e1"].delivered_to == ("webhook",)
    bad.fail = 0
    retry = dict(event(), delivery="FAILED", delivery_attempts=2, delivered_to=["webhook"])
    second = deliver([retry], sinks, env, no_sleep)
    assert second["e1"].delivery == "DELIVERED" and len(good.bodies) == 1 and len(bad.bodies) == 1
    minor = deliver([event(3, level="MINOR")], sinks, env, no_sleep)
    assert minor["e3"].delivery == "NONE" and minor["e3"].attempts == 0


def test_missing_environment_variable_is_a_failed_delivery_not_an_error():
    out = deliver([event()], (sink(),), {}, no_sleep)
    assert out["e1"].delivery == "FAILED" and "HOOK_WEBHOOK is not set" in out["e1"].error
