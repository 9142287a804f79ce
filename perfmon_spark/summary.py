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
    written_by,
)
from perfmon_spark.io.tables import read_table, table_exists
from perfmon_spark.job import RunResult
from perfmon_spark.vocabulary import OVERALL, AlertStatus, DriftClass, Level


def _version_table(by_version: dict[str, dict]) -> list[str]:
    """One column per version, one line per metric: the latest window of each version side by side."""
    versions = list(by_version)
    first = {v: next(iter(rows.values())) for v, rows in by_version.items()}
    header = {
        "window": {v: f"{r['window_start']:%m-%d}..{r['window_end']:%m-%d}" for v, r in first.items()},
        "labeled": {v: f"{r['n_labeled']}/{r['n_predictions']}" for v, r in first.items()},
        "mature": {v: str(r["is_mature"]) for v, r in first.items()},
    }
    metrics = sorted({m for rows in by_version.values() for m in rows})
    cells = {
        m: {
            v: f"{_fmt(r['value'])} [{_fmt(r['ci_lower'])}, {_fmt(r['ci_upper'])}]"
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
    metrics = read_table(spark, cfg.output.table(PERF_METRICS.name)).filter(F.col("monitor") == cfg.name)
    quarantine = read_table(spark, cfg.output.table(QUARANTINE.name)).filter(F.col("monitor") == cfg.name)
    window = cfg.windows.rolling[0].text if cfg.windows.rolling else cfg.windows.granularity.text
    last = (
        metrics.filter((F.col("window") == window) & (F.col("slice_key") == OVERALL))
        .groupBy("model_version")
        .agg(F.max("window_end").alias("window_end"))
    )
    latest = (
        metrics.filter((F.col("window") == window) & (F.col("slice_key") == OVERALL))
        .join(last, ["model_version", "window_end"])
        .orderBy("model_version", "metric")
        .collect()
    )
    reasons = quarantine.groupBy("source", "reason").count().orderBy("source", "reason").collect()
    lines = [
        f"config: {config_path}",
        f"run {result.run_id} {result.status} as of {result.as_of:%Y-%m-%d %H:%M}Z",
        f"read: {result.rows_read_predictions} predictions (Delta v{result.predictions_version}), "
        f"{result.rows_read_labels} label events (Delta v{result.labels_version})",
        f"quarantined: {result.rows_quarantined} rows"
        + (" (" + ", ".join(f"{r['source']}/{r['reason']}: {r['count']}" for r in reasons) + ")" if reasons else "")
        + f"; orphan labels: {result.orphan_labels}; late labels ignored: {result.late_labels_ignored}",
        f"written: {result.buckets_recomputed} bucket states, {result.metric_rows_written} metric rows",
        f"tables: {cfg.output.location.text}/{{{', '.join(t.name for t in written_by(cfg.decides, bool(cfg.drift.columns)))}}}",
        "",
        f"latest {window} window per model version (overall slice), value [CI]:",
    ]
    by_version: dict[str, dict] = {}
    for row in latest:
        by_version.setdefault(row["model_version"], {})[row["metric"]] = row
    lines += _version_table(by_version)
    worst = (
        metrics.filter(
            (F.col("window") == window)
            & (F.col("metric") == cfg.metrics[-1])
            & (F.col("slice_key") != OVERALL)
            & (F.col("n_labeled") >= 100)
            & F.col("value").isNotNull()
        )
        .orderBy(F.desc("value") if _larger_is_better(cfg) is False else F.asc("value"))
        .limit(3)
        .collect()
    )
    if worst:
        lines.append("")
        lines.append(f"weakest slices by {cfg.metrics[-1]} ({window} windows with >= 100 labels):")
        for row in worst:
            lines.append(
                f"  {row['model_version']} {row['slice_key']}={row['slice_value']} ending {row['window_end']:%m-%d}: "
                f"{_fmt(row['value'])} [{_fmt(row['ci_lower'])}, {_fmt(row['ci_upper'])}] n_labeled={row['n_labeled']}"
            )
    if cfg.decides:
        lines += [""] + _alerting_lines(spark, cfg)
    if cfg.decides and cfg.drift.columns and (drift := _drift_lines(spark, cfg)):
        lines += [""] + drift
    return "\n".join(lines)


def _drift_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    """Per version and rule metric, the class of its latest classified window (overall slice), the
    window's most drifted feature, and the feature whose drift ranks best with the drop (descriptive:
    its p takes the windows as independent; the decisions read the test that does not)."""
    if not table_exists(spark, cfg.output.table(DRIFT_CORRELATION.name)):
        return []
    mine = (F.col("monitor") == cfg.name) & (F.col("slice_key") == OVERALL)
    performance = read_table(spark, cfg.output.table(DRIFT_PERFORMANCE.name)).filter(
        mine & (F.col("class") != str(DriftClass.UNKNOWN))
    )
    latest = performance.groupBy("model_version", "metric", "window").agg(F.max("window_start").alias("window_start"))
    rows = performance.join(latest, ["model_version", "metric", "window", "window_start"]).orderBy(
        "model_version", "metric", "window"
    )
    correlations = read_table(spark, cfg.output.table(DRIFT_CORRELATION.name)).filter(mine)
    best = {
        (r["model_version"], r["metric"]): r
        for r in correlations.filter(F.col("spearman_rho").isNotNull())
        .orderBy("model_version", "metric", F.desc("spearman_rho"), "feature")
        .collect()[::-1]
    }
    lines = ["drift vs performance (overall slice, latest classified window):"]
    for r in rows.collect():
        top = (
            f"top drift {r['top_feature']} (PSI {_fmt(r['top_feature_psi'])})"
            if r["top_feature"]
            else "no drift measure"
        )
        c = best.get((r["model_version"], r["metric"]))
        ranked = (
            f"; ranks most with the drop (descriptive): {c['feature']} (rho {_fmt(c['spearman_rho'])}, "
            f"naive p {_fmt(c['p_value'])}, {c['windows_used']} windows)"
            if c is not None
            else ""
        )
        lines.append(
            f"  {r['model_version']:>3}  {r['metric']} ({r['window']}, {r['window_start']:%m-%d}): "
            f"{r['class']}; {top}{ranked}"
        )
    return lines


def _alerting_lines(spark: SparkSession, cfg: MonitorConfig) -> list[str]:
    mine = F.col("monitor") == cfg.name
    lines = open_alert_lines(read_table(spark, cfg.output.table(PERF_ALERTS.name)).filter(mine))
    status = read_table(spark, cfg.output.table(MODEL_STATUS.name)).filter(mine).orderBy("model_version").collect()
    decisions = read_table(spark, cfg.output.table(RETRAIN_DECISIONS.name)).filter(mine)
    newest = decisions.agg(F.max("as_of")).first()[0]
    latest = {r["model_version"]: r for r in decisions.filter(F.col("as_of") == F.lit(newest)).collect()}
    lines.append("model status (and retrain decision):")
    for r in status:
        target = f", roll back to {r['rollback_target']}" if r["rollback_target"] else ""
        d = latest.get(r["model_version"])
        decision = f"; {d['decision']}" + (f" ({d['reasons'][0]})" if d and d["reasons"] else "") if d else ""
        lines.append(f"  {r['model_version']:>3}  {r['status']:<8} action {r['action']}{target}{decision}")
    return lines


def open_alert_lines(alerts: DataFrame, top: int = 5) -> list[str]:
    """The count of open alerts per level, then the ``top`` most serious (SUSTAINED or worse,
    worst level first)."""
    alerts = alerts.filter(F.col("status") == AlertStatus.OPEN)
    counts = {r["level"]: r["count"] for r in alerts.groupBy("level").count().collect()}
    by_rank = sorted(counts.items(), key=lambda item: Level(item[0]).rank)
    lines = ["open alerts: " + (", ".join(f"{n} {level}" for level, n in by_rank) or "none")]
    serious = (
        alerts.filter(F.col("level") != Level.MINOR)
        .orderBy(_rank(F.col("level")).desc(), "model_version", "slice_key", "slice_value")
        .limit(top)
    )
    for r in serious.collect():
        where = "overall" if r["slice_key"] == OVERALL else f"{r['slice_key']}={r['slice_value']}"
        lines.append(
            f"  {r['level']:<9} {r['rule']} v={r['model_version']} {where} ({r['window']}): {r['metric']} {_fmt(r['value'])} "
            f"[{_fmt(r['ci_lower'])}, {_fmt(r['ci_upper'])}] vs baseline {_fmt(r['baseline'])}, threshold {_fmt(r['threshold'])}, "
            f"since {r['opened_window_start']:%m-%d}"
        )
    return lines


def _larger_is_better(cfg: MonitorConfig) -> bool:
    from perfmon_spark.metrics import lookup

    return lookup(cfg.problem_type, cfg.metrics[-1]).larger_is_better
