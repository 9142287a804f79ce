"""``perfmon status``: the monitor at a glance in a terminal, read from its output tables only:
the latest run, every model version's status with its latest retrain decision, and the open
alerts, worst first. Plain aligned text: it reads the same in a terminal, a CI log and an email."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.decide import latest_decisions
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import MODEL_STATUS, PERF_ALERTS, RETRAIN_DECISIONS, RUNS, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.job.versions import latest_comparisons
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
    lake = Lake(spark, cfg)
    runs = lake.read_if_exists(RUNS)
    last = runs.orderBy(F.desc(C.started_at)).first() if runs is not None else None
    if last is None:
        raise InputError(
            f"runs table {lake.ref(RUNS).text!r}: monitor {cfg.name!r} has not run yet: run 'perfmon run' first"
        )
    seconds = (last[C.finished_at] - last[C.started_at]).total_seconds()
    lines = [
        f"monitor {cfg.name} ({cfg.problem_type}), tables in {cfg.output.location.text}",
        f"last run {last[C.run_id]}: {last[C.status]}, {last[C.mode]}, as of {last[C.as_of]:%Y-%m-%d %H:%M}Z, "
        f"{seconds:.0f} s ({last[C.message]})",
    ]
    aliases = last.asDict().get(C.registry_versions)  # None in a runs table older than the column
    if aliases:
        lines.append("registry: " + ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())))
    compared = _comparison_lines(lake)
    if not cfg.decides:
        return "\n".join(
            [*lines, *compared, "", "no alert rules or retrain triggers configured: no model status or alerts"]
        )
    return "\n".join([*lines, "", *_status_lines(spark, cfg), *compared, "", *_alert_lines(spark, cfg)])


def _comparison_lines(lake: Lake) -> list[str]:
    """Each challenger against the champion in its latest window of each length (a blank line
    first; nothing without ``versions``)."""
    rows = [
        (
            r[C.challenger],
            r[C.champion],
            r[C.metric],
            r[C.window],
            f"{datetime.fromtimestamp(r[C.window_start], timezone.utc):%Y-%m-%d}",
            f"{_signed(r[C.difference])} [{_signed(r[C.ci_lower])}, {_signed(r[C.ci_upper])}]",
            _signed(r[C.unadjusted_difference]),
            f"{r[C.n_labeled_challenger]} / {r[C.n_labeled_champion]}",
            r[C.verdict],
        )
        for r in latest_comparisons(lake)
    ]
    if not rows:
        return []
    header = ("challenger", "champion", "metric", "window", "from", "difference [CI]", "overall", "labels", "verdict")
    return [
        "",
        "versions (challenger - champion on the champion's mix; overall: each on its own):",
        *aligned(header, rows),
    ]


def _signed(value) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _status_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """One line per model version: status, action, rollback target and the latest decision."""
    lake = Lake(spark, cfg)
    status = lake.read(MODEL_STATUS)
    decided = {d[C.model_version]: d for d in latest_decisions(spark, cfg)} if lake.exists(RETRAIN_DECISIONS) else {}
    rows = []
    for r in status.orderBy(C.model_version).collect():
        d = decided.get(r[C.model_version], {})
        rows.append(
            (
                r[C.model_version],
                r[C.status],
                r[C.action],
                r[C.rollback_target] or "-",
                f"{r[C.last_prediction_date]:%Y-%m-%d}" if r[C.last_prediction_date] else "-",
                d.get(C.decision, "-"),
                _first(d.get(C.reasons) or []),
            )
        )
    header = ("version", "status", "action", "roll back to", "last prediction", "decision", "reasons")
    return ["model versions:", *aligned(header, rows)]


def _alert_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """Open alerts, the worst level first (``Level.rank``), then by version and slice."""
    alerts = Lake(spark, cfg).read(PERF_ALERTS).filter(F.col(C.status) == AlertStatus.OPEN)
    found = sorted(
        alerts.collect(),
        key=lambda r: (-Level(r[C.level]).rank, r[C.model_version], r[C.slice_key], r[C.slice_value], r[C.rule]),
    )
    if not found:
        return ["open alerts: none"]
    counts = {level: sum(r[C.level] == level for r in found) for level in Level}
    title = "open alerts: " + ", ".join(f"{n} {level}" for level, n in reversed(counts.items()) if n)
    rows = [
        (
            r[C.level],
            r[C.rule],
            r[C.model_version],
            _where(r[C.slice_key], r[C.slice_value]),
            r[C.window],
            r[C.metric],
            f"{_num(r[C.value])} [{_num(r[C.ci_lower])}, {_num(r[C.ci_upper])}]",
            _num(r[C.baseline]),
            _num(r[C.threshold]),
            f"{r[C.opened_window_start]:%Y-%m-%d}",
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
