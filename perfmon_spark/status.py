"""``perfmon status``: the monitor at a glance in a terminal, read from its output tables only:
the latest run, every model version's status with its latest retrain decision, and the open
alerts, worst first. Plain aligned text: it reads the same in a terminal, a CI log and an email."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.decide import latest_decisions
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import MODEL_STATUS, PERF_ALERTS, RETRAIN_DECISIONS, RUNS
from perfmon_spark.io.tables import read_table, table_exists
from perfmon_spark.vocabulary import OVERALL, AlertStatus, Level

MAX_ALERTS = 20  # open alerts listed; the rest are counted


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """``header`` and ``rows`` as left-aligned columns, two spaces apart."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    return [indent + "  ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in (header, *rows)]


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _first(reasons: Sequence[str]) -> str:
    """The first reason, and how many more (``perfmon decide`` prints them all)."""
    if not reasons:
        return "-"
    return reasons[0] + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "")


def _where(slice_key: str, slice_value: str) -> str:
    return "overall" if slice_key == OVERALL else f"{slice_key}={slice_value}"


def status_report(spark: SparkSession, cfg: MonitorConfig) -> str:
    """The text ``perfmon status`` prints.

    Raises:
        InputError: the monitor has no ``runs`` row yet (it has never run).
    """
    mine = F.col("monitor") == cfg.name
    runs_ref = cfg.output.table(RUNS.name)
    runs = read_table(spark, runs_ref).filter(mine) if table_exists(spark, runs_ref) else None
    last = runs.orderBy(F.desc("started_at")).first() if runs is not None else None
    if last is None:
        raise InputError(f"runs table {runs_ref.text!r}: monitor {cfg.name!r} has not run yet: run 'perfmon run' first")
    seconds = (last["finished_at"] - last["started_at"]).total_seconds()
    lines = [
        f"monitor {cfg.name} ({cfg.problem_type}), tables in {cfg.output.location.text}",
        f"last run {last['run_id']}: {last['status']}, {last['mode']}, as of {last['as_of']:%Y-%m-%d %H:%M}Z, "
        f"{seconds:.0f} s ({last['message']})",
    ]
    if not cfg.decides:
        return "\n".join([*lines, "", "no alert rules or retrain triggers configured: no model status or alerts"])
    return "\n".join([*lines, "", *_status_lines(spark, cfg), "", *_alert_lines(spark, cfg)])


def _status_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """One line per model version: status, action, rollback target and the latest decision."""
    status = read_table(spark, cfg.output.table(MODEL_STATUS.name)).filter(F.col("monitor") == cfg.name)
    decided = (
        {d["model_version"]: d for d in latest_decisions(spark, cfg)}
        if table_exists(spark, cfg.output.table(RETRAIN_DECISIONS.name))
        else {}
    )
    rows = []
    for r in status.orderBy("model_version").collect():
        d = decided.get(r["model_version"], {})
        rows.append(
            (
                r["model_version"],
                r["status"],
                r["action"],
                r["rollback_target"] or "-",
                f"{r['last_prediction_date']:%Y-%m-%d}" if r["last_prediction_date"] else "-",
                d.get("decision", "-"),
                _first(d.get("reasons") or []),
            )
        )
    header = ("version", "status", "action", "roll back to", "last prediction", "decision", "reasons")
    return ["model versions:", *aligned(header, rows)]


def _alert_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """Open alerts, the worst level first (``Level.rank``), then by version and slice."""
    alerts = read_table(spark, cfg.output.table(PERF_ALERTS.name)).filter(
        (F.col("monitor") == cfg.name) & (F.col("status") == AlertStatus.OPEN)
    )
    found = sorted(
        alerts.collect(),
        key=lambda r: (-Level(r["level"]).rank, r["model_version"], r["slice_key"], r["slice_value"], r["rule"]),
    )
    if not found:
        return ["open alerts: none"]
    counts = {level: sum(r["level"] == level for r in found) for level in Level}
    title = "open alerts: " + ", ".join(f"{n} {level}" for level, n in reversed(counts.items()) if n)
    rows = [
        (
            r["level"],
            r["rule"],
            r["model_version"],
            _where(r["slice_key"], r["slice_value"]),
            r["window"],
            r["metric"],
            f"{_num(r['value'])} [{_num(r['ci_lower'])}, {_num(r['ci_upper'])}]",
            _num(r["baseline"]),
            _num(r["threshold"]),
            f"{r['opened_window_start']:%Y-%m-%d}",
        )
        for r in found[:MAX_ALERTS]
    ]
    header = ("level", "rule", "version", "slice", "window", "metric", "value [CI]", "baseline", "threshold", "since")
    more = (
        [f"  ... and {len(found) - MAX_ALERTS} more (perf_alerts WHERE status = 'OPEN')"]
        if len(found) > MAX_ALERTS
        else []
    )
    return [title, *aligned(header, rows), *more]
