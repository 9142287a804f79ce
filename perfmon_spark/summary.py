"""A readable summary of one run, printed by ``perfmon demo``: what was read and written, and
the latest values per model version read back from the output tables."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import (
    DRIFT_CORRELATION,
    DRIFT_PERFORMANCE,
    MODEL_STATUS,
    PERF_ALERTS,
    PERF_METRICS,
    QUARANTINE,
    RETRAIN_DECISIONS,
    C,
    written_by,
)
from perfmon_spark.io.lake import Lake
from perfmon_spark.job import RunResult
from perfmon_spark.job.versions import latest_comparisons
from perfmon_spark.vocabulary import OVERALL, AlertStatus, DriftClass, Level


def _version_table(by_version: dict[str, dict]) -> list[str]:
    """One column per version, one line per metric: the latest window of each version side by side."""
    versions = list(by_version)
    first = {v: next(iter(rows.values())) for v, rows in by_version.items()}
    header = {
        "window": {v: f"{r[C.window_start]:%m-%d}..{r[C.window_end]:%m-%d}" for v, r in first.items()},
        "labeled": {v: f"{r[C.n_labeled]}/{r[C.n_predictions]}" for v, r in first.items()},
        "mature": {v: str(r[C.is_mature]) for v, r in first.items()},
    }
    metrics = sorted({m for rows in by_version.values() for m in rows})
    cells = {
        m: {
            v: f"{_fmt(r[C.value])} [{_fmt(r[C.ci_lower])}, {_fmt(r[C.ci_upper])}]"
            for v in versions
            if (r := by_version[v].get(m)) is not None
        }
        for m in metrics
    }
    rows = {"version": {v: v for v in versions}, **header, **cells}
    width = max(len(name) for name in rows) + 2
    column = max((len(text) for values in rows.values() for text in values.values()), default=0) + 2
    return [
        "  " + name.ljust(width) + "".join(values.get(v, "").ljust(column) for v in versions).rstrip()
        for name, values in rows.items()
    ]


def _rank(level: Column) -> Column:
    """A level's rank (``Level.rank``) in Spark: CRITICAL sorts above SUSTAINED, not by name."""
    return F.array_position(F.array(*[F.lit(str(lv)) for lv in Level]), level)


def _fmt(value) -> str:
    return "null" if value is None else f"{value:.3f}"


def summarise(spark: SparkSession, cfg: MonitorConfig, result: RunResult, config_path: Path) -> str:
    lake = Lake(spark, cfg)
    metrics = lake.read(PERF_METRICS)
    quarantine = lake.read(QUARANTINE)
    window = cfg.windows.rolling[0].text if cfg.windows.rolling else cfg.windows.granularity.text
    last = (
        metrics.filter((F.col(C.window) == window) & (F.col(C.slice_key) == OVERALL))
        .groupBy(C.model_version)
        .agg(F.max(C.window_end).alias(C.window_end))
    )
    latest = (
        metrics.filter((F.col(C.window) == window) & (F.col(C.slice_key) == OVERALL))
        .join(last, [C.model_version, C.window_end])
        .orderBy(C.model_version, C.metric)
        .collect()
    )
    reasons = quarantine.groupBy(C.source, C.reason).count().orderBy(C.source, C.reason).collect()
    lines = [
        f"config: {config_path}",
        f"run {result.run_id} {result.status} as of {result.as_of:%Y-%m-%d %H:%M}Z",
        f"read: {result.rows_read_predictions} predictions (Delta v{result.predictions_version}), "
        f"{result.rows_read_labels} label events (Delta v{result.labels_version})",
        f"quarantined: {result.rows_quarantined} rows"
        + (" (" + ", ".join(f"{r[C.source]}/{r[C.reason]}: {r['count']}" for r in reasons) + ")" if reasons else "")
        + f"; orphan labels: {result.orphan_labels}; late labels ignored: {result.late_labels_ignored}",
        f"written: {result.buckets_recomputed} bucket states, {result.metric_rows_written} metric rows",
        f"tables: {cfg.output.location.text}/{{{', '.join(t.name for t in written_by(cfg))}}}",
        "",
        f"latest {window} window per model version (overall slice), value [CI]:",
    ]
    by_version: dict[str, dict] = {}
    for row in latest:
        by_version.setdefault(row[C.model_version], {})[row[C.metric]] = row
    lines += _version_table(by_version)
    worst = (
        metrics.filter(
            (F.col(C.window) == window)
            & (F.col(C.metric) == cfg.metrics[-1])
            & (F.col(C.slice_key) != OVERALL)
            & (F.col(C.n_labeled) >= 100)
            & F.col(C.value).isNotNull()
        )
        .orderBy(F.desc(C.value) if _larger_is_better(cfg) is False else F.asc(C.value))
        .limit(3)
        .collect()
    )
    if worst:
        lines.append("")
        lines.append(f"weakest slices by {cfg.metrics[-1]} ({window} windows with >= 100 labels):")
        for row in worst:
            lines.append(
                f"  {row[C.model_version]} {row[C.slice_key]}={row[C.slice_value]} ending {row[C.window_end]:%m-%d}: "
                f"{_fmt(row[C.value])} [{_fmt(row[C.ci_lower])}, {_fmt(row[C.ci_upper])}] n_labeled={row[C.n_labeled]}"
            )
    if cfg.decides:
        lines += [""] + _alerting_lines(spark, cfg)
    if cfg.decides and cfg.drift.columns and (drift := _drift_lines(spark, cfg)):
        lines += [""] + drift
    if comparisons := latest_comparisons(lake):
        lines += ["", "versions (challenger - champion on the champion's mix, latest window; overall: unadjusted):"]
        lines += [
            f"  {r[C.challenger]} vs {r[C.champion]} {r[C.metric]} ({r[C.window]}): {_fmt(r[C.difference])} "
            f"[{_fmt(r[C.ci_lower])}, {_fmt(r[C.ci_upper])}], overall {_fmt(r[C.unadjusted_difference])}, "
            f"{r[C.n_labeled_challenger]}/{r[C.n_labeled_champion]} labels: {r[C.verdict]}"
            for r in comparisons
        ]
    return "\n".join(lines)


def _drift_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """Per version and rule metric, the class of its latest classified window (overall slice), the
    window's most drifted feature, and the feature whose drift ranks best with the drop (descriptive:
    its p takes the windows as independent; the decisions read the test that does not)."""
    lake = Lake(spark, cfg)
    if not lake.exists(DRIFT_CORRELATION):
        return []
    overall = F.col(C.slice_key) == OVERALL
    performance = lake.read(DRIFT_PERFORMANCE).filter(overall & (F.col(C.class_) != str(DriftClass.UNKNOWN)))
    latest = performance.groupBy(C.model_version, C.metric, C.window).agg(F.max(C.window_start).alias(C.window_start))
    rows = performance.join(latest, [C.model_version, C.metric, C.window, C.window_start]).orderBy(
        C.model_version, C.metric, C.window
    )
    correlations = lake.read(DRIFT_CORRELATION).filter(overall)
    best = {
        (r[C.model_version], r[C.metric]): r
        for r in correlations.filter(F.col(C.spearman_rho).isNotNull())
        .orderBy(C.model_version, C.metric, F.desc(C.spearman_rho), C.feature)
        .collect()[::-1]
    }
    lines = ["drift vs performance (overall slice, latest classified window):"]
    for r in rows.collect():
        top = (
            f"top drift {r[C.top_feature]} (PSI {_fmt(r[C.top_feature_psi])})"
            if r[C.top_feature]
            else "no drift measure"
        )
        c = best.get((r[C.model_version], r[C.metric]))
        ranked = (
            f"; ranks most with the drop (descriptive): {c[C.feature]} (rho {_fmt(c[C.spearman_rho])}, "
            f"naive p {_fmt(c[C.p_value])}, {c[C.windows_used]} windows)"
            if c is not None
            else ""
        )
        lines.append(
            f"  {r[C.model_version]:>3}  {r[C.metric]} ({r[C.window]}, {r[C.window_start]:%m-%d}): "
            f"{r[C.class_]}; {top}{ranked}"
        )
    return lines


def _alerting_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    lake = Lake(spark, cfg)
    lines = open_alert_lines(lake.read(PERF_ALERTS))
    status = lake.read(MODEL_STATUS).orderBy(C.model_version).collect()
    decisions = lake.read(RETRAIN_DECISIONS)
    newest = decisions.agg(F.max(C.as_of)).first()[0]
    latest = {r[C.model_version]: r for r in decisions.filter(F.col(C.as_of) == F.lit(newest)).collect()}
    lines.append("model status (and retrain decision):")
    for r in status:
        target = f", roll back to {r[C.rollback_target]}" if r[C.rollback_target] else ""
        d = latest.get(r[C.model_version])
        decision = f"; {d[C.decision]}" + (f" ({d[C.reasons][0]})" if d and d[C.reasons] else "") if d else ""
        lines.append(f"  {r[C.model_version]:>3}  {r[C.status]:<8} action {r[C.action]}{target}{decision}")
    return lines


def open_alert_lines(alerts: DataFrame, top: int = 5) -> list[str]:
    """The count of open alerts per level, then the ``top`` most serious (SUSTAINED or worse,
    worst level first)."""
    alerts = alerts.filter(F.col(C.status) == AlertStatus.OPEN)
    counts = {r[C.level]: r["count"] for r in alerts.groupBy(C.level).count().collect()}
    by_rank = sorted(counts.items(), key=lambda item: Level(item[0]).rank)
    lines = ["open alerts: " + (", ".join(f"{n} {level}" for level, n in by_rank) or "none")]
    serious = (
        alerts.filter(F.col(C.level) != Level.MINOR)
        .orderBy(_rank(F.col(C.level)).desc(), C.model_version, C.slice_key, C.slice_value)
        .limit(top)
    )
    for r in serious.collect():
        where = "overall" if r[C.slice_key] == OVERALL else f"{r[C.slice_key]}={r[C.slice_value]}"
        lines.append(
            f"  {r[C.level]:<9} {r[C.rule]} v={r[C.model_version]} {where} ({r[C.window]}): {r[C.metric]} {_fmt(r[C.value])} "
            f"[{_fmt(r[C.ci_lower])}, {_fmt(r[C.ci_upper])}] vs baseline {_fmt(r[C.baseline])}, threshold {_fmt(r[C.threshold])}, "
            f"since {r[C.opened_window_start]:%m-%d}"
        )
    return lines


def _larger_is_better(cfg: MonitorConfig) -> bool:
    from perfmon_spark.metrics import lookup

    return lookup(cfg.problem_type, cfg.metrics[-1]).larger_is_better
