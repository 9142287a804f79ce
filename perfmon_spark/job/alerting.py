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
from perfmon_spark.io.catalog import (
    ALERT_EVENTS,
    DELIVERY_COLUMNS,
    MODEL_STATUS,
    PERF_ALERTS,
    PERF_METRICS,
    PERF_STATS,
    RETRAIN_DECISIONS,
    RULE_WINDOWS,
)
from perfmon_spark.io.rows import collect_rows, epoch, rows_to_frame, unchanged
from perfmon_spark.io.tables import merge_into, read_table, table_exists
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
    mine = F.col("monitor") == cfg.name
    stats = read_table(spark, cfg.output.table(PERF_STATS.name)).filter(mine)
    metrics = read_table(spark, cfg.output.table(PERF_METRICS.name)).filter(mine)
    plans = rule_plans(cfg)
    histories = rule_histories(cfg, metrics, stats, as_of, plans).persist() if cfg.alerts else None
    try:
        return _alerting(spark, cfg, as_of, run_id, stamp, stats, metrics, plans, histories)
    finally:
        if histories is not None:
            histories.unpersist()


def _alerting(spark, cfg, as_of, run_id, stamp, stats, metrics, plans, histories) -> AlertingResult:
    now = epoch(as_of)
    found = None if histories is None else episodes(histories, plans)
    new = [] if found is None else [Episode.of({"monitor": cfg.name, **r}) for r in collect_rows(found, EPISODE)]
    alerts_ref = cfg.output.table(PERF_ALERTS.name)
    alerts_exist = table_exists(spark, alerts_ref)
    old_rows = (
        collect_rows(read_table(spark, alerts_ref).filter(F.col("monitor") == cfg.name), PERF_ALERTS.schema)
        if alerts_exist
        else []
    )
    old = [Episode.of(r) for r in old_rows]
    family = {} if histories is None else _write_rule_windows(spark, cfg, histories, plans, stamp)
    new = control_fdr(new, old, family, cfg.alerts_fdr)
    events = events_between(old, new, run_id, now)
    for event in events:
        if event["delivery"] is not Delivery.NONE:  # an episode within history is not news
            LOG.warning(describe({**event, "monitor": cfg.name}))
    events_ref = cfg.output.table(ALERT_EVENTS.name)
    if events or not table_exists(spark, events_ref):
        merge_into(rows_to_frame(spark, events, ALERT_EVENTS.schema), events_ref, ALERT_EVENTS)
    undelivered = _deliver_outstanding(spark, cfg, events_ref)

    updated = {e.key: e.updated_run_id for e in old}
    new = [replace(e, updated_run_id=updated.get(e.key, run_id)) for e in new]
    rows = [e.row() for e in new]
    _write_rows(spark, rows, old_rows if alerts_exist else None, alerts_ref, PERF_ALERTS, f"t.monitor = '{cfg.name}'")

    open_eps = [e for e in new if e.is_open]
    drift = ([], [])
    if histories is not None and cfg.drift.columns:
        drift = write_drift_performance(spark, cfg, histories, plans, metrics, stats, as_of, stamp)
    facts, last_seen = _version_facts(spark, cfg, stats, now)
    retrain = _write_decisions(spark, cfg, facts, open_eps, _latest_kpis(cfg, metrics), now, run_id, drift)
    _write_statuses(spark, cfg, [f.version for f in facts], last_seen, open_eps, metrics, now, run_id)
    return AlertingResult(open_alerts=len(open_eps), events=len(events), undelivered=undelivered, retrain=retrain)


def _write_rule_windows(spark, cfg, histories: DataFrame, plans, stamp) -> dict[tuple, float]:
    """Write every window each rule evaluated into ``rule_windows``, and return the run's
    false-discovery family: one p-value per series tested, that of its newest window.

    The newest windows get the family's adjusted p (q); an older window keeps the q of the run
    that had it as its series' newest (read back from the table), so the row says what that run
    decided on."""
    key = list(RULE_WINDOWS.key[1:])
    windows = rule_windows(histories, plans)
    newest = windows.withColumn("_newest", F.max("window_start").over(Window.partitionBy(*SERIES)))
    latest = newest.filter(F.col("window_start") == F.col("_newest"))
    rows = collect_rows(
        latest, (*((c, "string") for c in SERIES), ("window_start", "timestamp"), ("series_p_value", "double"))
    )
    tested = [r for r in rows if r["series_p_value"] is not None]
    for r, q in zip(tested, bh_adjusted([r["series_p_value"] for r in tested])):
        r["q_value"] = q
    q_now = rows_to_frame(
        spark, tested, (*((c, "string") for c in SERIES), ("window_start", "timestamp"), ("q_value", "double"))
    )
    q = F.col("_now.q_value")
    ref = cfg.output.table(RULE_WINDOWS.name)
    windows = windows.alias("_w").join(q_now.alias("_now"), key, "left")
    if table_exists(spark, ref):
        before = read_table(spark, ref).filter(F.col("monitor") == cfg.name).select(*key, "q_value")
        windows = windows.join(before.alias("_before"), key, "left")
        q = F.coalesce(q, F.col("_before.q_value"))
    windows = stamp(
        windows.select(*[F.col(f"_w.{c}") if c not in key else F.col(c) for c, _ in RULE_WINDOW], q.alias("q_value"))
    )
    merge_into(windows.select(*RULE_WINDOWS.names), ref, RULE_WINDOWS, owned=f"t.monitor = '{cfg.name}'")
    return {tuple(r[k] for k in SERIES): r["series_p_value"] for r in tested}


def _deliver_outstanding(spark: SparkSession, cfg: MonitorConfig, ref) -> int:
    """Deliver this run's events and retry earlier undelivered ones; returns those still undelivered."""
    table = read_table(spark, ref).filter((F.col("monitor") == cfg.name) & F.col("delivery").isin(*_OUTSTANDING))
    outstanding = collect_rows(table, ALERT_EVENTS.schema)
    if not outstanding:
        return 0
    states = deliver(outstanding, cfg.notifications)
    for row in outstanding:
        d = states[row["event_id"]]
        row.update(
            delivery=d.delivery, delivery_attempts=d.attempts, delivered_to=list(d.delivered_to), delivery_error=d.error
        )
    merge_into(rows_to_frame(spark, outstanding, ALERT_EVENTS.schema), ref, ALERT_EVENTS, compare=DELIVERY_COLUMNS)
    return sum(1 for r in outstanding if r["delivery"] in _OUTSTANDING)


def _version_facts(
    spark: SparkSession, cfg: MonitorConfig, stats: DataFrame, now: int
) -> tuple[list[VersionFacts], dict[str, date]]:
    """Active versions (a prediction within ``cfg.inactive_after`` before as_of) with label
    totals and their last RETRAIN decision before this as_of; and for every version, the start
    date of its last bucket with a prediction."""
    overall = (
        stats.filter((F.col("slice_key") == OVERALL) & (F.col("n_predictions") > 0))
        .groupBy("model_version")
        .agg(
            F.sum("n_labeled").alias("labels_total"),
            F.max(F.unix_timestamp("bucket_end")).alias("last_end"),
            F.max(F.to_date("bucket_start")).alias("last_date"),
        )
        .collect()
    )
    last_seen = {r["model_version"]: r["last_date"] for r in overall}
    active = [r for r in overall if r["last_end"] > now - cfg.inactive_after.seconds]
    last = {}
    ref = cfg.output.table(RETRAIN_DECISIONS.name)
    if table_exists(spark, ref):
        earlier = read_table(spark, ref).filter(
            (F.col("monitor") == cfg.name) & (F.col("decision") == Decision.RETRAIN) & (F.unix_timestamp("as_of") < now)
        )
        for r in collect_rows(earlier, RETRAIN_DECISIONS.schema):
            if r["model_version"] not in last or r["as_of"] > last[r["model_version"]]["as_of"]:
                last[r["model_version"]] = r
    return [
        VersionFacts(
            version=r["model_version"],
            labels_total=int(r["labels_total"]),
            last_retrain_as_of=last[r["model_version"]]["as_of"] if r["model_version"] in last else None,
            labels_at_last_retrain=int(last[r["model_version"]]["labels_total"]) if r["model_version"] in last else 0,
        )
        for r in sorted(active, key=lambda r: r["model_version"])
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
        wanted = wanted | ((F.col("metric") == k.name) & (F.col("window") == k.window))
    rows = metrics.filter(wanted & (F.col("slice_key") == OVERALL) & F.col("is_mature"))
    rows = rows.withColumn("_latest", F.max("window_start").over(Window.partitionBy("model_version", "metric")))
    length = F.unix_timestamp("window_end") - F.unix_timestamp("window_start")
    earlier = F.unix_timestamp("_latest") - length
    rows = rows.filter((F.col("window_start") == F.col("_latest")) | (F.unix_timestamp("window_start") == earlier))
    return collect_rows(
        rows,
        (
            ("model_version", "string"),
            ("metric", "string"),
            ("window", "string"),
            ("window_start", "timestamp"),
            ("value", "double"),
            ("ci_lower", "double"),
            ("ci_upper", "double"),
            ("n_labeled", "long"),
        ),
    )


def _write_decisions(spark, cfg, facts, open_eps, kpi_rows, now, run_id, drift) -> tuple[str, ...]:
    ref = cfg.output.table(RETRAIN_DECISIONS.name)
    same_as_of, last_monitor, exists = {}, None, table_exists(spark, ref)
    if exists:
        rows = collect_rows(read_table(spark, ref).filter(F.col("monitor") == cfg.name), RETRAIN_DECISIONS.schema)
        same_as_of = {r["model_version"]: r for r in rows if r["as_of"] == now}
        retrains = (r["as_of"] for r in rows if r["decision"] == Decision.RETRAIN and r["as_of"] < now)
        last_monitor = max(retrains, default=None)
    decisions = retrain_decisions(cfg, now, facts, open_eps, last_monitor, kpi_rows, *drift)
    # a re-run with the same as_of rewrites the same decision rows
    rows = [
        {
            **d.row(),
            "monitor": cfg.name,
            "as_of": now,
            "run_id": same_as_of[d.model_version]["run_id"] if d.model_version in same_as_of else run_id,
        }
        for d in decisions
    ]
    _write_rows(spark, rows, list(same_as_of.values()) if exists else None, ref, RETRAIN_DECISIONS)
    return tuple(d.model_version for d in decisions if d.decision is Decision.RETRAIN)


def _write_statuses(spark, cfg, versions, last_seen, open_eps, metrics: DataFrame, now, run_id) -> None:
    critical = [e for e in open_eps if e.level is Level.CRITICAL]
    candidates = []
    if critical:
        wanted = rows_to_frame(
            spark,
            [
                {
                    **{k: getattr(e, k) for k in ("rule", "metric", "window", "slice_key", "slice_value")},
                    "window_start": e.last_window_start,
                }
                for e in critical
            ],
            (
                ("rule", "string"),
                ("metric", "string"),
                ("window", "string"),
                ("slice_key", "string"),
                ("slice_value", "string"),
                ("window_start", "timestamp"),
            ),
        ).distinct()
        rows = metrics.join(wanted, ["metric", "window", "slice_key", "slice_value", "window_start"])
        candidates = collect_rows(
            rows,
            (
                ("rule", "string"),
                ("window", "string"),
                ("slice_key", "string"),
                ("slice_value", "string"),
                ("window_start", "timestamp"),
                ("model_version", "string"),
                ("value", "double"),
                ("ci_lower", "double"),
                ("ci_upper", "double"),
                ("std_error", "double"),
                ("n_labeled", "long"),
            ),
        )
    statuses = model_statuses(cfg, versions, open_eps, candidates) + inactive_statuses(set(last_seen) - set(versions))
    statuses = [
        {
            **s.row(),
            "monitor": cfg.name,
            "as_of": now,
            "run_id": run_id,
            "last_prediction_date": last_seen[s.model_version],
        }
        for s in statuses
    ]
    ref = cfg.output.table(MODEL_STATUS.name)
    previous, exists = {}, table_exists(spark, ref)
    if exists:
        previous = {
            r["model_version"]: r
            for r in collect_rows(read_table(spark, ref).filter(F.col("monitor") == cfg.name), MODEL_STATUS.schema)
        }
    for s in statuses:  # an unchanged status keeps the run that set it
        p = previous.get(s["model_version"])
        if p is not None and all(p.get(c) == s[c] for c in MODEL_STATUS.compared()):
            s["run_id"] = p["run_id"]
    owned = f"t.monitor = '{cfg.name}'"
    _write_rows(spark, statuses, list(previous.values()) if exists else None, ref, MODEL_STATUS, owned)


def _write_rows(spark, rows: list[dict], previous: list[dict] | None, ref, table, owned: str | None = None) -> None:
    """Write driver-side ``rows`` into ``table``, unless they equal ``previous`` (the rows the write
    owns, as already read; None: the table does not exist yet) on its key and compared columns."""
    if previous is None or not unchanged(rows, previous, (*table.key, *table.compared())):
        merge_into(rows_to_frame(spark, rows, table.schema), ref, table, owned=owned)
