"""The alerting stage of a run (after perf_metrics is written): rules -> rule_windows, perf_alerts
and alert_events (with notifications) -> retrain_decisions and model_status.

Everything here reads the small output tables (``perf_stats``, ``perf_metrics``) and moves only
per-series, per-episode, per-version or per-decision rows to the driver. Write order:
rule_windows, alert_events (insert by event id), deliveries, perf_alerts, retrain_decisions,
model_status; the ``runs`` row, written by the caller after this, moves the watermark, so a run
killed anywhere here is simply re-run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.alerts.evaluate import EPISODE, RULE_WINDOW, episodes, rule_histories, rule_windows
from perfmon_spark.alerts.fdr import control_fdr
from perfmon_spark.alerts.lifecycle import LOG, SERIES, Episode, events_between
from perfmon_spark.alerts.notify import deliver, describe
from perfmon_spark.alerts.rules import rule_plans
from perfmon_spark.config import MonitorConfig
from perfmon_spark.decisions import VersionFacts, inactive_statuses, model_statuses, retrain_decisions
from perfmon_spark.io.caching import cached, released
from perfmon_spark.io.catalog import (
    ALERT_EVENTS,
    DELIVERY_COLUMNS,
    MODEL_STATUS,
    PERF_ALERTS,
    PERF_METRICS,
    PERF_STATS,
    RETRAIN_DECISIONS,
    RULE_WINDOWS,
    SERVING_GATE,
    C,
    OutputTable,
)
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows, epoch, rows_to_frame, unchanged
from perfmon_spark.job.drift_performance import write_drift_performance
from perfmon_spark.metrics.significance import bh_adjusted
from perfmon_spark.vocabulary import OVERALL, Decision, Delivery, Level, Trigger

_OUTSTANDING = tuple(d for d in Delivery if d.outstanding)


@dataclass(frozen=True)
class AlertingResult:
    open_alerts: int
    events: int
    undelivered: int
    retrain: tuple[str, ...]  # versions with a RETRAIN decision this run

    @property
    def summary(self) -> str:
        """The alerting part of the ``runs`` message."""
        return (
            f"alerts: {self.open_alerts} open, {self.events} events, {self.undelivered} undelivered; "
            f"retrain: {', '.join(self.retrain) or 'none'}"
        )


def run_alerting(
    spark: SparkSession, cfg: MonitorConfig, as_of: datetime, run_id: str, stamp: Callable[[DataFrame], DataFrame]
) -> AlertingResult:
    """Evaluate every rule and write the alerting tables for this run (``stamp`` adds a frame's
    monitor, as_of and run_id columns)."""
    lake = Lake(spark, cfg)
    stats = lake.read(PERF_STATS)
    metrics = lake.read(PERF_METRICS)
    plans = rule_plans(cfg)
    histories = cached(rule_histories(cfg, metrics, stats, as_of, plans)) if cfg.alerts else None
    try:
        return _alerting(lake, as_of, run_id, stamp, stats, metrics, plans, histories)
    finally:
        if histories is not None:
            released(histories)


def _alerting(lake: Lake, as_of, run_id, stamp, stats, metrics, plans, histories) -> AlertingResult:
    spark, cfg = lake.spark, lake.cfg
    now = epoch(as_of)
    found = None if histories is None else episodes(histories, plans)
    new = [] if found is None else [Episode.of({C.monitor: cfg.name, **r}) for r in collect_rows(found, EPISODE)]
    alerts = lake.read_if_exists(PERF_ALERTS)
    old_rows = collect_rows(alerts, PERF_ALERTS.schema) if alerts is not None else []
    old = [Episode.of(r) for r in old_rows]
    family = {} if histories is None else _write_rule_windows(lake, histories, plans, stamp)
    new = control_fdr(new, old, family, cfg.alerts_fdr)
    events = events_between(old, new, run_id, now)
    for event in events:
        if event[C.delivery] is not Delivery.NONE:  # an episode within history is not news
            LOG.warning(describe({**event, C.monitor: cfg.name}))
    if events or not lake.exists(ALERT_EVENTS):
        lake.merge(rows_to_frame(spark, events, ALERT_EVENTS.schema), ALERT_EVENTS)
    undelivered = _deliver_outstanding(lake)

    updated = {e.key: e.updated_run_id for e in old}
    new = [replace(e, updated_run_id=updated.get(e.key, run_id)) for e in new]
    rows = [e.row() for e in new]
    _write_rows(lake, rows, old_rows if alerts is not None else None, PERF_ALERTS, lake.owned())

    open_eps = [e for e in new if e.is_open]
    drift = ([], [])
    if histories is not None and cfg.drift.columns:
        drift = write_drift_performance(spark, cfg, histories, plans, metrics, stats, as_of, stamp)
    facts, last_seen = _version_facts(lake, stats, now)
    retrain = _write_decisions(lake, facts, open_eps, _latest_kpis(cfg, metrics), now, run_id, drift)
    _write_statuses(lake, [f.version for f in facts], last_seen, open_eps, metrics, now, run_id)
    return AlertingResult(open_alerts=len(open_eps), events=len(events), undelivered=undelivered, retrain=retrain)


def _write_rule_windows(lake: Lake, histories: DataFrame, plans, stamp) -> dict[tuple, float]:
    """Write every window each rule evaluated into ``rule_windows``, and return the run's
    false-discovery family: one p-value per series tested, that of its newest window.

    The newest windows get the family's adjusted p (q); an older window keeps the q of the run
    that had it as its series' newest (read back from the table), so the row says what that run
    decided on."""
    key = list(RULE_WINDOWS.key[1:])
    windows = rule_windows(histories, plans)
    newest = windows.withColumn("_newest", F.max(C.window_start).over(Window.partitionBy(*SERIES)))
    latest = newest.filter(F.col(C.window_start) == F.col("_newest"))
    rows = collect_rows(latest, RULE_WINDOWS.select(*SERIES, C.window_start, C.series_p_value))
    tested = [r for r in rows if r[C.series_p_value] is not None]
    for r, q in zip(tested, bh_adjusted([r[C.series_p_value] for r in tested])):
        r[C.q_value] = q
    q_now = rows_to_frame(lake.spark, tested, RULE_WINDOWS.select(*SERIES, C.window_start, C.q_value))
    q = F.col(f"_now.{C.q_value}")
    windows = windows.alias("_w").join(q_now.alias("_now"), key, "left")
    before = lake.read_if_exists(RULE_WINDOWS)
    if before is not None:
        windows = windows.join(before.select(*key, C.q_value).alias("_before"), key, "left")
        q = F.coalesce(q, F.col(f"_before.{C.q_value}"))
    windows = stamp(
        windows.select(*[F.col(f"_w.{c}") if c not in key else F.col(c) for c, _ in RULE_WINDOW], q.alias(C.q_value))
    )
    lake.merge(windows.select(*RULE_WINDOWS.names), RULE_WINDOWS, owned=lake.owned())
    return {tuple(r[k] for k in SERIES): r[C.series_p_value] for r in tested}


def _deliver_outstanding(lake: Lake) -> int:
    """Deliver this run's events and retry earlier undelivered ones; returns those still undelivered."""
    table = lake.read(ALERT_EVENTS).filter(F.col(C.delivery).isin(*_OUTSTANDING))
    outstanding = collect_rows(table, ALERT_EVENTS.schema)
    if not outstanding:
        return 0
    states = deliver(outstanding, lake.cfg.notifications)
    for row in outstanding:
        d = states[row[C.event_id]]
        row.update(
            {
                C.delivery: d.delivery,
                C.delivery_attempts: d.attempts,
                C.delivered_to: list(d.delivered_to),
                C.delivery_error: d.error,
            }
        )
    lake.merge(rows_to_frame(lake.spark, outstanding, ALERT_EVENTS.schema), ALERT_EVENTS, compare=DELIVERY_COLUMNS)
    return sum(1 for r in outstanding if r[C.delivery] in _OUTSTANDING)


def _version_facts(lake: Lake, stats: DataFrame, now: int) -> tuple[list[VersionFacts], dict[str, date]]:
    """Active versions (a prediction within ``cfg.inactive_after`` before as_of) with label
    totals and their last RETRAIN decision before this as_of; and for every version, the start
    date of its last bucket with a prediction."""
    overall = (
        stats.filter((F.col(C.slice_key) == OVERALL) & (F.col(C.n_predictions) > 0))
        .groupBy(C.model_version)
        .agg(
            F.sum(C.n_labeled).alias(C.labels_total),
            F.max(F.unix_timestamp(C.bucket_end)).alias("last_end"),
            F.max(F.to_date(C.bucket_start)).alias("last_date"),
        )
        .collect()
    )
    last_seen = {r[C.model_version]: r["last_date"] for r in overall}
    active = [r for r in overall if r["last_end"] > now - lake.cfg.inactive_after.seconds]
    last = {}
    decisions = lake.read_if_exists(RETRAIN_DECISIONS)
    if decisions is not None:
        earlier = decisions.filter((F.col(C.decision) == Decision.RETRAIN) & (F.unix_timestamp(C.as_of) < now))
        for r in collect_rows(earlier, RETRAIN_DECISIONS.schema):
            if r[C.model_version] not in last or r[C.as_of] > last[r[C.model_version]][C.as_of]:
                last[r[C.model_version]] = r
    return [
        VersionFacts(
            version=r[C.model_version],
            labels_total=int(r[C.labels_total]),
            last_retrain_as_of=last[r[C.model_version]][C.as_of] if r[C.model_version] in last else None,
            labels_at_last_retrain=int(last[r[C.model_version]][C.labels_total]) if r[C.model_version] in last else 0,
        )
        for r in sorted(active, key=lambda r: r[C.model_version])
    ], last_seen


def _latest_kpis(cfg: MonitorConfig, metrics: DataFrame) -> list[dict]:
    """Per version and KPI with a limit, its latest mature window (of the KPI's window length, in
    the overall slice) and the one a window length before it: two windows that share no bucket,
    which the kpi trigger needs both beyond the limit."""
    limited = [k for k in cfg.kpis if k.max is not None or k.min is not None]
    if Trigger.KPI not in cfg.retrain.triggers or not limited:
        return []
    wanted = F.lit(False)
    for k in limited:
        wanted = wanted | ((F.col(C.metric) == k.name) & (F.col(C.window) == k.window))
    rows = metrics.filter(wanted & (F.col(C.slice_key) == OVERALL) & F.col(C.is_mature))
    rows = rows.withColumn("_latest", F.max(C.window_start).over(Window.partitionBy(C.model_version, C.metric)))
    length = F.unix_timestamp(C.window_end) - F.unix_timestamp(C.window_start)
    earlier = F.unix_timestamp("_latest") - length
    rows = rows.filter((F.col(C.window_start) == F.col("_latest")) | (F.unix_timestamp(C.window_start) == earlier))
    return collect_rows(
        rows,
        PERF_METRICS.select(
            C.model_version, C.metric, C.window, C.window_start, C.value, C.ci_lower, C.ci_upper, C.n_labeled
        ),
    )


def _write_decisions(lake: Lake, facts, open_eps, kpi_rows, now, run_id, drift) -> tuple[str, ...]:
    cfg = lake.cfg
    same_as_of, last_monitor = {}, None
    table = lake.read_if_exists(RETRAIN_DECISIONS)
    if table is not None:
        rows = collect_rows(table, RETRAIN_DECISIONS.schema)
        same_as_of = {r[C.model_version]: r for r in rows if r[C.as_of] == now}
        retrains = (r[C.as_of] for r in rows if r[C.decision] == Decision.RETRAIN and r[C.as_of] < now)
        last_monitor = max(retrains, default=None)
    decisions = retrain_decisions(cfg, now, facts, open_eps, last_monitor, kpi_rows, *drift)
    # a re-run with the same as_of rewrites the same decision rows
    rows = [
        {
            **d.row(),
            C.monitor: cfg.name,
            C.as_of: now,
            C.run_id: same_as_of[d.model_version][C.run_id] if d.model_version in same_as_of else run_id,
        }
        for d in decisions
    ]
    _write_rows(lake, rows, list(same_as_of.values()) if table is not None else None, RETRAIN_DECISIONS)
    return tuple(d.model_version for d in decisions if d.decision is Decision.RETRAIN)


def _write_statuses(lake: Lake, versions, last_seen, open_eps, metrics: DataFrame, now, run_id) -> None:
    cfg = lake.cfg
    critical = [e for e in open_eps if e.level is Level.CRITICAL]
    candidates = []
    if critical:
        where = (C.metric, C.window, C.slice_key, C.slice_value)
        wanted = rows_to_frame(
            lake.spark,
            [
                {
                    **{k: getattr(e, k) for k in (C.rule, *where)},
                    C.window_start: e.last_window_start,
                }
                for e in critical
            ],
            RULE_WINDOWS.select(C.rule, *where, C.window_start),
        ).distinct()
        rows = metrics.join(wanted, [*where, C.window_start])
        candidates = collect_rows(
            rows,
            (
                *RULE_WINDOWS.select(C.rule),
                *PERF_METRICS.select(
                    C.window,
                    C.slice_key,
                    C.slice_value,
                    C.window_start,
                    C.model_version,
                    C.value,
                    C.ci_lower,
                    C.ci_upper,
                    C.std_error,
                    C.n_labeled,
                ),
            ),
        )
    statuses = model_statuses(cfg, versions, open_eps, candidates) + inactive_statuses(set(last_seen) - set(versions))
    stamp = {C.monitor: cfg.name, C.as_of: now, C.run_id: run_id}
    rows = [{**s.row(), **stamp, C.last_prediction_date: last_seen[s.model_version]} for s in statuses]
    # each table compared with itself, so that a run killed between the two writes is repaired by
    # the next whatever its as_of (a MERGE is skipped where nothing changed)
    _write_rows(lake, rows, _keeping_runs(lake, rows, MODEL_STATUS), MODEL_STATUS, lake.owned())
    gates = [{**s.gate(), **stamp} for s in statuses]
    _write_rows(lake, gates, _keeping_runs(lake, gates, SERVING_GATE), SERVING_GATE, lake.owned())


def _keeping_runs(lake: Lake, rows: list[dict], table: OutputTable) -> list[dict] | None:
    """The monitor's rows of a one-row-per-version table (None: the table does not exist yet);
    each of ``rows`` unchanged but for its bookkeeping gets the run that set it."""
    existing = lake.read_if_exists(table)
    if existing is None:
        return None
    previous = {r[C.model_version]: r for r in collect_rows(existing, table.schema)}
    for row in rows:
        p = previous.get(row[C.model_version])
        if p is not None and all(p.get(c) == row[c] for c in table.compared()):
            row[C.run_id] = p[C.run_id]
    return list(previous.values())


def _write_rows(
    lake: Lake, rows: list[dict], previous: list[dict] | None, table: OutputTable, owned: str | None = None
) -> None:
    """Write driver-side ``rows`` into ``table``, unless they equal ``previous`` (the rows the write
    owns, as already read; None: the table does not exist yet) on its key and compared columns."""
    if previous is None or not unchanged(rows, previous, (*table.key, *table.compared())):
        lake.merge(rows_to_frame(lake.spark, rows, table.schema), table, owned=owned)
