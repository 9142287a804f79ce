"""Export to Prometheus against a real Pushgateway (Debian's ``prometheus-pushgateway``, started
here on loopback): what is pushed is read back from the gateway's /metrics with the official
parser, a push replaces the monitor's group (a resolved alert disappears), and the errors are one
line."""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from perfmon_spark.cli import build_parser
from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConfigError, PerfmonError
from perfmon_spark.export import DEFAULT_MAX_SERIES, PUSHGATEWAY_ENV, Selection, push, registry_of, selection
from perfmon_spark.vocabulary import Level
from tests.helpers import free_ports, perfmon_without_java, read_back, with_changes

JOB = "perfmon"
T0 = datetime(2026, 1, 5)  # naive UTC, as Spark returns timestamps
T0_EPOCH = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
DAY = timedelta(days=1)


def metric_row(version, metric, value, slice_key="*", slice_value="*", window="7 days", start=T0, **extra):
    return {
        "model_version": version,
        "slice_key": slice_key,
        "slice_value": slice_value,
        "window": window,
        "window_start": start,
        "metric": metric,
        "value": value,
        "ci_lower": None if value is None else value - 0.0625,
        "ci_upper": None if value is None else value + 0.0625,
        "std_error": None if value is None else 0.03125,
        "n_labeled": 640,
        "is_mature": True,
        "as_of": T0 + 8 * DAY,
        **extra,
    }


def alert_row(level, status="OPEN", rule="recall_drop", version="v2", slice_key="country", slice_value="BR"):
    return {
        "rule": rule,
        "model_version": version,
        "slice_key": slice_key,
        "slice_value": slice_value,
        "window": "7 days",
        "metric": "recall[fraud]",
        "level": level,
        "status": status,
    }


METRICS = [
    metric_row("v1", "recall[fraud]", 0.75),
    metric_row("v2", "recall[fraud]", 0.5, slice_key="country", slice_value="BR"),
    metric_row("v2", "ndcg@10", None, n_labeled=0),
]


def threshold_row(start, minor, critical):
    """A ``rule_windows`` row of the recall rule on v2 in BR: its MINOR and CRITICAL thresholds
    (the rule has no SUSTAINED level)."""
    return {
        **{k: v for k, v in alert_row("MINOR").items() if k not in ("level", "status")},
        "window_start": start,
        "minor_threshold": minor,
        "sustained_threshold": None,
        "critical_threshold": critical,
    }


def series(name, monitor, job=JOB, **labels):
    """A read-back key: the gateway adds ``job`` and an empty ``instance`` to every sample."""
    return (name, tuple(sorted({"monitor": monitor, "job": job, "instance": "", **labels}.items())))


def metric_labels(version, metric, slice_key="*", slice_value="*", window="7 days"):
    return {
        "model_version": version,
        "slice_key": slice_key,
        "slice_value": slice_value,
        "window": window,
        "metric": metric,
    }


def test_push_reads_back_values_and_labels(gateway):
    thresholds = [threshold_row(T0, 0.6, 0.55), threshold_row(T0 - DAY, 0.7, 0.65)]  # the latest wins
    push(
        registry_of(
            "fraud", METRICS, [alert_row("CRITICAL"), alert_row("MINOR", status="RESOLVED", rule="old")], thresholds
        ),
        gateway,
        JOB,
        monitor="fraud",
    )
    v1 = metric_labels("v1", "recall[fraud]")
    v2 = metric_labels("v2", "recall[fraud]", "country", "BR")
    ndcg = metric_labels("v2", "ndcg@10")
    alert = {"rule": "recall_drop", **metric_labels("v2", "recall[fraud]", "country", "BR")}
    assert read_back(gateway, "fraud") == {
        series("perfmon_metric_value", "fraud", **v1): 0.75,
        series("perfmon_metric_ci_lower", "fraud", **v1): 0.6875,
        series("perfmon_metric_ci_upper", "fraud", **v1): 0.8125,
        series("perfmon_metric_std_error", "fraud", **v1): 0.03125,
        series("perfmon_metric_labeled", "fraud", **v1): 640.0,
        series("perfmon_metric_window_start_seconds", "fraud", **v1): T0_EPOCH,
        series("perfmon_metric_value", "fraud", **v2): 0.5,
        series("perfmon_metric_ci_lower", "fraud", **v2): 0.4375,
        series("perfmon_metric_ci_upper", "fraud", **v2): 0.5625,
        series("perfmon_metric_std_error", "fraud", **v2): 0.03125,
        series("perfmon_metric_labeled", "fraud", **v2): 640.0,
        series("perfmon_metric_window_start_seconds", "fraud", **v2): T0_EPOCH,
        # undefined: no value and no interval, but the count that explains it and its window
        series("perfmon_metric_labeled", "fraud", **ndcg): 0.0,
        series("perfmon_metric_window_start_seconds", "fraud", **ndcg): T0_EPOCH,
        series("perfmon_alert_level", "fraud", **alert): 3.0,
        series("perfmon_rule_threshold", "fraud", level="MINOR", **alert): 0.6,
        series("perfmon_rule_threshold", "fraud", level="CRITICAL", **alert): 0.55,
    }


def test_a_push_replaces_the_group_so_a_resolved_alert_disappears(gateway):
    push(registry_of("churn", METRICS, [alert_row("SUSTAINED")]), gateway, JOB, monitor="churn")
    alert = series(
        "perfmon_alert_level", "churn", rule="recall_drop", **metric_labels("v2", "recall[fraud]", "country", "BR")
    )
    assert read_back(gateway, "churn")[alert] == 2.0
    fraud_before = read_back(gateway, "fraud")

    push(registry_of("churn", METRICS[:1], [alert_row("SUSTAINED", status="RESOLVED")]), gateway, JOB, monitor="churn")

    after = read_back(gateway, "churn")
    assert alert not in after
    assert {name for name, _ in after} == {
        "perfmon_metric_value",
        "perfmon_metric_ci_lower",
        "perfmon_metric_ci_upper",
        "perfmon_metric_std_error",
        "perfmon_metric_labeled",
        "perfmon_metric_window_start_seconds",
    }
    assert all(dict(labels)["model_version"] == "v1" for _, labels in after)
    assert read_back(gateway, "fraud") == fraud_before  # another monitor's group is untouched


def test_url_from_the_environment(gateway):
    push(registry_of("env", METRICS[:1], []), None, JOB, monitor="env", env={PUSHGATEWAY_ENV: gateway})
    assert (
        read_back(gateway, "env")[series("perfmon_metric_value", "env", **metric_labels("v1", "recall[fraud]"))] == 0.75
    )


@pytest.mark.parametrize("env", [{}, {PUSHGATEWAY_ENV: ""}])
def test_missing_url_is_a_config_error_naming_the_variable(env):
    with pytest.raises(ConfigError) as e:
        push(registry_of("fraud", METRICS, []), None, JOB, monitor="fraud", env=env)
    assert PUSHGATEWAY_ENV in str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_unreachable_gateway_is_one_line_naming_the_url():
    url = f"http://127.0.0.1:{free_ports()[0]}"  # nothing listens there
    with pytest.raises(PerfmonError) as e:
        push(registry_of("fraud", METRICS, []), url, JOB, monitor="fraud", timeout=5)
    message = str(e.value)
    assert message.startswith("error: cannot reach the Pushgateway at " + url)
    assert "\n" not in message


def test_refused_push_is_one_line_naming_the_url_without_credentials(gateway):
    url = gateway.replace("http://", "http://user:secret@") + "/no/such/prefix"
    with pytest.raises(PerfmonError) as e:
        push(registry_of("fraud", METRICS, []), url, JOB, monitor="fraud")
    message = str(e.value)
    assert message == f"error: push to the Pushgateway at {gateway}/no/such/prefix failed: HTTP 404: 404 page not found"
    assert "secret" not in message


@pytest.mark.parametrize(("level", "rank"), [("MINOR", 1), ("SUSTAINED", 2), ("CRITICAL", 3)])
def test_alert_level_is_the_rank(level, rank):
    registry = registry_of("fraud", [], [alert_row(level)])
    labels = {"monitor": "fraud", "rule": "recall_drop", **metric_labels("v2", "recall[fraud]", "country", "BR")}
    assert registry.get_sample_value("perfmon_alert_level", labels) == rank == Level(level).rank


def test_open_episodes_of_one_series_keep_the_higher_level():
    registry = registry_of("fraud", [], [alert_row("CRITICAL"), alert_row("MINOR")])
    samples = [s for f in registry.collect() if f.name == "perfmon_alert_level" for s in f.samples]
    assert [s.value for s in samples] == [3.0]


def test_the_latest_window_of_a_series_wins():
    rows = [metric_row("v1", "recall[fraud]", 0.5, start=T0 + DAY), metric_row("v1", "recall[fraud]", 0.75)]
    registry = registry_of("fraud", rows, [])
    labels = {"monitor": "fraud", **metric_labels("v1", "recall[fraud]")}
    assert registry.get_sample_value("perfmon_metric_value", labels) == 0.5
    assert registry.get_sample_value("perfmon_metric_window_start_seconds", labels) == T0_EPOCH + 86400


def test_metric_names_stay_in_the_metric_label():
    registry = registry_of("fraud", METRICS, [alert_row("MINOR")])
    assert {f.name for f in registry.collect()} == {
        "perfmon_metric_value",
        "perfmon_metric_ci_lower",
        "perfmon_metric_ci_upper",
        "perfmon_metric_std_error",
        "perfmon_metric_labeled",
        "perfmon_metric_window_start_seconds",
        "perfmon_rule_threshold",
        "perfmon_alert_level",
    }
    assert {s.labels["metric"] for f in registry.collect() for s in f.samples} == {"recall[fraud]", "ndcg@10"}


def test_credentials_in_the_url_are_sent_as_basic_auth():
    """Debian's gateway needs a bcrypt-hashed password file to check them: a loopback server
    that records the PUT shows what a protected gateway would receive."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers["Authorization"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://perf%40mon:s3cret@127.0.0.1:{server.server_port}"
        push(registry_of("fraud", METRICS, []), url, JOB, monitor="fraud")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/metrics/job/perfmon/monitor/fraud", "Basic " + base64.b64encode(b"perf@mon:s3cret").decode())]


# --- what an export selects (``perfmon export --metrics/--windows/--slices/--max-series``) --------


@pytest.fixture(scope="module")
def monitor():
    """A monitor with two slices, three windows, a label-count window and a KPI."""
    return parse_config(
        with_changes(
            segments={"columns": ["country"]},
            windows={"granularity": "1 day", "rolling": ["7 days", "28 days", "500 labels"]},
            kpis=[{"name": "loss_rate", "numerator": "amount", "denominator": "amount"}],
        )
    )


ROWS = [
    metric_row(version, metric, 0.5, slice_key=key, slice_value=value, window=window)
    for version in ("v1", "*")
    for metric in ("roc_auc", "recall", "loss_rate")
    for key, value in (("*", "*"), ("country", "BR"))
    for window in ("1 day", "7 days", "28 days", "500 labels")
]


def test_the_default_selection_is_everything(monitor):
    chosen = selection(monitor)
    assert chosen == Selection() and chosen.conditions() == ()
    assert chosen.max_series == DEFAULT_MAX_SERIES == 10_000
    assert all(chosen.admits(row) for row in ROWS)


def test_a_selection_filters_metrics_windows_and_slices(monitor):
    chosen = selection(monitor, ["roc_auc,loss_rate"], ["1 week", "500 labels"], "overall", 50)
    assert chosen.conditions() == (
        ("metric", ("roc_auc", "loss_rate")),
        ("window", ("7 days", "500 labels")),  # as perf_metrics writes them: 1 week is the 7 days window
        ("slice_key", ("*",)),
    )
    kept = [row for row in ROWS if chosen.admits(row)]
    assert {(r["model_version"], r["metric"], r["window"], r["slice_key"]) for r in kept} == {
        (v, m, w, "*") for v in ("v1", "*") for m in ("roc_auc", "loss_rate") for w in ("7 days", "500 labels")
    }
    assert not chosen.admits(alert_row("MINOR"))  # perf_alerts rows are selected by the same columns
    assert chosen.admits({**alert_row("MINOR"), "metric": "roc_auc", "slice_key": "*"})


def test_repeated_and_comma_separated_names_are_one_list(monitor):
    chosen = selection(monitor, ["recall", " roc_auc , recall"], ["7 days,28 days", "7 days"])
    assert (chosen.metrics, chosen.windows) == (("recall", "roc_auc"), ("7 days", "28 days"))


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"metrics": ["auc"]},
            "--metrics: 'auc' is not computed; computed: accuracy, precision, recall, f1, roc_auc, loss_rate",
        ),
        (
            {"windows": ["14 days"]},
            "--windows: '14 days' is not computed; computed: 1 day, 7 days, 28 days, 500 labels",
        ),
        ({"windows": ["7 dayz"]}, "--windows: invalid duration '7 dayz'; expected 'N unit' with unit in"),
        ({"slices": "country"}, "--slices: unknown value 'country'; allowed: all, overall"),
        ({"max_series": 0}, "--max-series: 0 must be >= 1"),
    ],
)
def test_a_bad_selection_is_a_config_error_naming_the_option(monitor, options, message):
    with pytest.raises(ConfigError) as e:
        selection(monitor, **options)
    assert str(e.value).startswith(f"config error: {message}") and e.value.exit_code == 2


def test_a_selection_of_more_series_than_the_limit_is_refused_in_one_line(monitor):
    chosen = selection(monitor, max_series=100)
    chosen.check_size(90, 10)  # at the limit: pushed
    with pytest.raises(ConfigError) as e:
        chosen.check_size(12_345, 7)
    assert str(e.value) == (
        "config error: --max-series: the selection has 12,352 series (12,345 metric series, 7 open alerts), more "
        "than 100; narrow it with --metrics, --windows or --slices overall, or raise --max-series"
    )
    assert e.value.exit_code == 2


def test_the_command_line_states_the_default_limit():
    [commands] = [a for a in build_parser()._actions if a.dest == "command"]
    action = commands.choices["export"]._option_string_actions["--max-series"]
    assert action.default is None and f"default: {DEFAULT_MAX_SERIES}" in action.help


def test_export_without_the_prometheus_extra_is_one_line(tmp_path):
    printed = perfmon_without_java(
        ("prometheus_client",), ["export", "--config", "conf/demo.yml", "--to", "prometheus"], tmp_path
    )
    assert (printed.returncode, printed.stdout) == (1, "")
    assert printed.stderr == (
        "error: perfmon export needs prometheus-client, which is not installed: pip install 'perfmon-spark[prometheus]'\n"
    )
