"""Export to time-series stores (``perfmon export --to prometheus``): the latest value of every
metric, the thresholds its alert rules compared the latest window with, and the level of every
open alert, as Prometheus gauges pushed to a Pushgateway.

This module owns the mapping from output-table rows (``perf_metrics``, ``rule_windows``,
``perf_alerts``) to gauges
and the push itself. ``registry_of`` and ``push`` take the rows as plain dicts and need no Spark;
``export_prometheus`` reads them: per series, the latest window with a value, and the open alerts. A gauge's labels are the key of the table it comes from, less the
window's start (the time axis, which Prometheus keeps itself); metric names such as
``recall[fraud]`` or ``ndcg@10`` are label values, never part of a Prometheus metric name, so one
series name serves every metric and a dashboard selects with ``{metric="..."}``.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import get_args
from urllib.parse import unquote, urlsplit, urlunsplit

from perfmon_spark.config import Duration, Invalid, LabelCount, MonitorConfig, SliceWord
from perfmon_spark.errors import ConfigError, InputError, MissingDependencyError, PerfmonError
from perfmon_spark.io.catalog import PERF_ALERTS, PERF_METRICS, RULE_WINDOWS, C, threshold_column
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows
from perfmon_spark.vocabulary import OVERALL, AlertStatus, Level

try:
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler
except ImportError as e:  # the `prometheus` extra: only this module needs it
    raise MissingDependencyError("prometheus-client", "prometheus", "perfmon export") from e

PUSHGATEWAY_ENV = "PERFMON_PUSHGATEWAY_URL"
"""The environment variable holding the Pushgateway's URL when the command line gives none."""

PUSH_TIMEOUT_SECONDS = 30.0
JOB = "perfmon"  # the Pushgateway group's job label; the monitor is the other grouping key

DEFAULT_MAX_SERIES = 10_000
"""An export refuses to push more series than this unless ``--max-series`` says otherwise: a
Pushgateway holds every series in memory and Prometheus scrapes them all on each scrape, so a
monitor with many slices should pick what dashboards need rather than push everything."""

# One series per key of the table, less the window's start (the series' time axis).
_METRIC_LABELS = tuple(c for c in PERF_METRICS.key if c != C.window_start)
_ALERT_LABELS = (*(c for c in PERF_ALERTS.key if c != C.opened_window_start), C.metric)
_METRIC_SERIES = tuple(c for c in _METRIC_LABELS if c != C.monitor)
_ALERT_SERIES = tuple(c for c in _ALERT_LABELS if c != C.monitor)

# (gauge, perf_metrics column, help): a row sets each gauge whose column is not null.
_METRIC_GAUGES = (
    ("perfmon_metric_value", C.value, "Latest value of the metric (perf_metrics.value); absent where undefined."),
    ("perfmon_metric_ci_lower", C.ci_lower, "Lower end of the value's interval; absent where none is computed."),
    ("perfmon_metric_ci_upper", C.ci_upper, "Upper end of the value's interval; absent where none is computed."),
    (
        "perfmon_metric_std_error",
        C.std_error,
        "Standard error of the value, as the alert tests use it; absent where none.",
    ),
    ("perfmon_metric_labeled", C.n_labeled, "Predictions with a usable label in the window the value is from."),
    ("perfmon_metric_window_start_seconds", C.window_start, "Start of the window the value is from, Unix seconds."),
)
# A rule's thresholds at the latest window it evaluated (rule_windows), one series per level.
_THRESHOLD_LABELS = (*(c for c in RULE_WINDOWS.key if c != C.window_start), C.metric, C.level)
_THRESHOLD_SERIES = tuple(c for c in _THRESHOLD_LABELS if c not in (C.monitor, C.level))
_THRESHOLD_GAUGE = "perfmon_rule_threshold"
_THRESHOLD_HELP = "Where an alert level began at the latest window the rule evaluated (rule_windows)."
_ALERT_GAUGE = "perfmon_alert_level"
_ALERT_HELP = "Level of the open alert episode: " + ", ".join(f"{level.rank} {level}" for level in Level) + "."


@dataclass(frozen=True)
class Selection:
    """What ``perfmon export`` pushes: the series of some metrics, windows and slices, at most
    ``max_series`` of them. An empty tuple selects every value. Built by ``selection``, which
    checks the names against the config."""

    metrics: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    overall_only: bool = False
    max_series: int = DEFAULT_MAX_SERIES

    def conditions(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(column, allowed values) pairs a row must meet, the same for ``perf_metrics`` and
        ``perf_alerts`` rows (both have ``metric``, ``window`` and ``slice_key``): what the export
        filters on in Spark, before it collects anything."""
        given = ((C.metric, self.metrics), (C.window, self.windows), (C.slice_key, (OVERALL,) * self.overall_only))
        return tuple((column, values) for column, values in given if values)

    def admits(self, row: Mapping) -> bool:
        """Whether ``row`` is selected (the conditions, in Python)."""
        return all(row[column] in values for column, values in self.conditions())

    def check_size(self, metric_series: int, alert_series: int) -> None:
        """Raises ConfigError (exit 2) when the selection holds more than ``max_series`` series."""
        if metric_series + alert_series > self.max_series:
            raise ConfigError(
                f"--max-series: the selection has {metric_series + alert_series:,} series ({metric_series:,} metric "
                f"series, {alert_series:,} open alerts), more than {self.max_series:,}; narrow it with --metrics, "
                "--windows or --slices overall, or raise --max-series"
            )


def _names(values: Sequence[str]) -> tuple[str, ...]:
    """``["a,b", "c"]`` -> ``("a", "b", "c")``: options given comma-separated, repeated, or both."""
    return tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))


def selection(
    cfg: MonitorConfig,
    metrics: Sequence[str] = (),
    windows: Sequence[str] = (),
    slices: str = "all",
    max_series: int | None = None,
) -> Selection:
    """The ``Selection`` of the export options, checked against ``cfg``.

    Args:
        cfg: the monitor.
        metrics: metric or KPI names, each possibly a comma-separated list; empty: all.
        windows: windows as the config writes them (``7 days``; ``1 week`` is the same window),
            each possibly a comma-separated list; empty: all.
        slices: ``all``, or ``overall`` for the overall slice only.
        max_series: the most series pushed (default ``DEFAULT_MAX_SERIES``).

    Raises:
        ConfigError: a metric, window or slices value the monitor does not compute, or
            ``max_series`` < 1; the line names the option and lists what is allowed.
    """
    chosen = _names(metrics)
    for name in chosen:
        if name not in cfg.metric_names:
            raise ConfigError(f"--metrics: {name!r} is not computed; computed: {', '.join(cfg.metric_names)}")
    computed = (*cfg.window_lengths, *cfg.windows.label_counts)
    allowed = ", ".join(w.text for w in computed)
    texts = []
    for text in _names(windows):
        try:
            window = LabelCount.parse(text) if LabelCount.matches(text) else Duration.parse(text)
        except Invalid as e:
            raise ConfigError(f"--windows: {e}; computed: {allowed}") from None
        match = next((w for w in computed if w == window), None)
        if match is None:
            raise ConfigError(f"--windows: {text!r} is not computed; computed: {allowed}")
        texts.append(match.text)
    if slices not in get_args(SliceWord):
        raise ConfigError(f"--slices: unknown value {slices!r}; allowed: {', '.join(get_args(SliceWord))}")
    max_series = DEFAULT_MAX_SERIES if max_series is None else max_series
    if max_series < 1:
        raise ConfigError(f"--max-series: {max_series!r} must be >= 1")
    return Selection(chosen, tuple(dict.fromkeys(texts)), slices == "overall", max_series)


def _epoch(value: datetime | int) -> float:
    """Unix seconds of a timestamp (``io.rows.collect_rows`` gives them already as seconds); a
    naive one is UTC, as Spark returns them in a UTC session."""
    if isinstance(value, int | float):
        return float(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def registry_of(
    monitor: str, metrics: list[dict], alerts: list[dict], thresholds: Sequence[Mapping] = ()
) -> CollectorRegistry:
    """The gauges of one monitor, in a registry of their own (never the process-wide default).

    Each ``perf_metrics`` row sets, for its version, slice, window and metric, the value, the ends
    of its interval, ``n_labeled`` and the start of its window. A null (an undefined metric, an
    interval without a sound method) sets no sample: Prometheus has no null, and NaN would read as a
    number to alerting rules; the labeled count stays beside it, so a reader sees why the value is
    missing. Given several windows of one series, the row with the latest ``window_start`` wins.

    Each ``rule_windows`` row of ``thresholds`` sets ``perfmon_rule_threshold`` for each level its
    rule has (label ``level``): the thresholds the alert tests used at that window, read as stored
    rather than recomputed with today's config; given several windows of one series, the latest
    wins.

    Each OPEN ``perf_alerts`` row sets ``perfmon_alert_level`` to its level's rank
    (``Level.rank``: 1 MINOR, 2 SUSTAINED, 3 CRITICAL), a number so that alerting rules compare
    severities (``>= 2``) rather than names; resolved episodes set nothing (a push then removes
    the series), and two open episodes of one series keep the higher level.

    Args:
        monitor: the config's ``name``, the ``monitor`` label of every sample.
        metrics: ``perf_metrics`` rows (``model_version``, ``slice_key``, ``slice_value``,
            ``window``, ``window_start``, ``metric``, ``value``, ``ci_lower``, ``ci_upper``,
            ``n_labeled``), normally the latest window of each series.
        alerts: ``perf_alerts`` rows (``rule``, ``model_version``, ``slice_key``, ``slice_value``,
            ``window``, ``metric``, ``level``, ``status``).
        thresholds: ``rule_windows`` rows (the series' columns, ``window_start`` and the
            ``<level>_threshold`` columns), normally the latest window of each series.

    Returns:
        A registry holding the six ``perfmon_metric_*`` gauges, ``perfmon_rule_threshold`` and
        ``perfmon_alert_level``, even
        where they have no sample: a push of it then replaces every series the monitor had.

    Raises:
        ValueError: an alert row whose level is not a ``Level``.
    """
    registry = CollectorRegistry()
    latest: dict[tuple[str, ...], dict] = {}
    for row in metrics:
        series = tuple(str(row[c]) for c in _METRIC_SERIES)
        if series not in latest or _epoch(row[C.window_start]) > _epoch(latest[series][C.window_start]):
            latest[series] = row
    for name, column, doc in _METRIC_GAUGES:
        gauge = Gauge(name, doc, _METRIC_LABELS, registry=registry)
        for series, row in latest.items():
            if row[column] is not None:
                value = _epoch(row[column]) if column == C.window_start else float(row[column])
                gauge.labels(monitor, *series).set(value)

    newest: dict[tuple[str, ...], Mapping] = {}
    for row in thresholds:
        series = tuple(str(row[c]) for c in _THRESHOLD_SERIES)
        if series not in newest or _epoch(row[C.window_start]) > _epoch(newest[series][C.window_start]):
            newest[series] = row
    gauge = Gauge(_THRESHOLD_GAUGE, _THRESHOLD_HELP, _THRESHOLD_LABELS, registry=registry)
    for series, row in newest.items():
        for level in Level:
            if row.get(threshold_column(level)) is not None:
                gauge.labels(monitor, *series, level).set(float(row[threshold_column(level)]))

    levels: dict[tuple[str, ...], Level] = {}
    for row in alerts:
        if row[C.status] != AlertStatus.OPEN:
            continue
        series, level = tuple(str(row[c]) for c in _ALERT_SERIES), Level(row[C.level])
        if series not in levels or level.rank > levels[series].rank:
            levels[series] = level
    gauge = Gauge(_ALERT_GAUGE, _ALERT_HELP, _ALERT_LABELS, registry=registry)
    for series, level in levels.items():
        gauge.labels(monitor, *series).set(level.rank)
    return registry


def _without_credentials(url: str) -> str:
    """The URL without user and password: what is requested and what an error message shows."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _handler(url: str):
    """HTTP basic auth where the URL carries ``user:password@``, the plain handler otherwise."""
    parts = urlsplit(url)
    if parts.username is None:
        return default_handler
    return partial(basic_auth_handler, username=unquote(parts.username), password=unquote(parts.password or ""))


def push(
    registry: CollectorRegistry,
    url: str | None,
    job: str,
    *,
    monitor: str,
    env: Mapping[str, str] = os.environ,
    timeout: float = PUSH_TIMEOUT_SECONDS,
) -> None:
    """Replace the monitor's group on the Pushgateway with ``registry``.

    The group is ``job`` and ``monitor`` (the grouping key), so monitors pushing to one gateway
    never touch each other's series. The push is a PUT, which replaces everything the group held:
    a series absent from this export (an alert that has resolved, a version no longer
    monitored) disappears, where a POST would keep its last value forever and an alert would stay
    firing after it resolved. The gateway never expires what it holds: the
    ``perfmon_metric_window_start_seconds`` gauge, and the gateway's own ``push_time_seconds``,
    tell how fresh a value is.

    Args:
        registry: from ``registry_of`` for the same ``monitor``.
        url: the Pushgateway (``http://host:9091``, or ``http://user:password@host:9091`` for
            basic auth); None reads ``PUSHGATEWAY_ENV`` from ``env``.
        job: the ``job`` label of the group.
        monitor: the ``monitor`` label of the group; the gateway overwrites the samples' own
            ``monitor`` label with it, so it must be the one given to ``registry_of``.
        env: where to read ``PUSHGATEWAY_ENV`` (the process environment).
        timeout: seconds to wait for the gateway.

    Raises:
        ConfigError: no URL given and ``PUSHGATEWAY_ENV`` unset or empty.
        PerfmonError: the gateway cannot be reached or refuses the push (one line naming the
            URL, without any user or password in it).
    """
    url = url or env.get(PUSHGATEWAY_ENV)
    if not url:
        raise ConfigError(f"no Pushgateway URL: set the environment variable {PUSHGATEWAY_ENV}")
    shown = _without_credentials(url)
    try:
        push_to_gateway(
            shown, job=job, registry=registry, grouping_key={"monitor": monitor}, timeout=timeout, handler=_handler(url)
        )
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace").strip().splitlines()
        reason = f"HTTP {e.code}" + (f": {body[0]}" if body else "")
        raise PerfmonError(f"push to the Pushgateway at {shown} failed: {reason}") from e
    except OSError as e:  # URLError (refused, unknown host), a timeout
        reason = (str(getattr(e, "reason", None) or e).splitlines() or [type(e).__name__])[0]
        raise PerfmonError(f"cannot reach the Pushgateway at {shown}: {reason}") from e


def export_prometheus(
    spark, cfg: MonitorConfig, url: str | None = None, chosen: Selection = Selection()
) -> tuple[int, int]:
    """Push ``cfg``'s latest metric values and open alerts, those ``chosen`` selects, to the
    Pushgateway (``push``). The selection is applied in Spark and at most ``max_series`` + 1 rows
    are collected; nothing is pushed when there are more.

    Returns:
        The metric series and the open alerts pushed.

    Raises:
        InputError: the monitor has no ``perf_metrics`` table yet.
        ConfigError: the selection holds more than ``chosen.max_series`` series.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    def selected(df):
        for column, values in chosen.conditions():
            df = df.filter(F.col(column).isin(list(values)))
        return df

    lake = Lake(spark, cfg)
    if not lake.exists(PERF_METRICS):
        raise InputError(f"perf_metrics table {lake.ref(PERF_METRICS).text!r} does not exist: run 'perfmon run' first")
    metrics = selected(lake.read(PERF_METRICS)).filter(F.col(C.value).isNotNull())
    newest = Window.partitionBy(*_METRIC_SERIES).orderBy(F.desc(C.window_start))
    latest = metrics.withColumn("_newest", F.row_number().over(newest)).filter(F.col("_newest") == 1)
    alerts = lake.read_if_exists(PERF_ALERTS)
    open_alerts = selected(alerts).filter(F.col(C.status) == AlertStatus.OPEN) if alerts is not None else None
    rows = collect_rows(latest.limit(chosen.max_series + 1), PERF_METRICS.schema)
    alerts = [] if open_alerts is None else collect_rows(open_alerts.limit(chosen.max_series + 1), PERF_ALERTS.schema)
    if len(rows) + len(alerts) > chosen.max_series:  # counted only to say by how much
        chosen.check_size(latest.count(), 0 if open_alerts is None else open_alerts.count())
    push(registry_of(cfg.name, rows, alerts, _thresholds(lake, selected)), url, JOB, monitor=cfg.name)
    return len(rows), len(alerts)


def _thresholds(lake: Lake, selected) -> list[dict]:
    """The latest ``rule_windows`` row of each selected rule series (none without the table).
    A rule watches one metric in one window length, so there are no more of them than metric
    series pushed times the rules on a metric, which the selection already bounds."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    windows = lake.read_if_exists(RULE_WINDOWS)
    if windows is None:
        return []
    newest = Window.partitionBy(*_THRESHOLD_SERIES).orderBy(F.desc(C.window_start))
    latest = selected(windows).withColumn("_newest", F.row_number().over(newest)).filter(F.col("_newest") == 1)
    return collect_rows(latest, RULE_WINDOWS.schema)
