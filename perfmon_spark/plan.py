"""The human-readable plan that ``perfmon validate`` prints."""

from __future__ import annotations

from perfmon_spark.config import MonitorConfig
from perfmon_spark.metrics import lookup


def describe(cfg: MonitorConfig) -> str:
    """What a run of this config reads, computes and writes."""
    p, lab, out = cfg.predictions, cfg.labels, cfg.output
    decision = f"column {p.prediction}" if p.prediction else f"{p.score} >= {p.threshold:g}"
    slices = ["* (overall)"] + [" & ".join(group) for group in cfg.slice_keys]
    metrics = []
    for name in cfg.metrics:
        m = lookup(cfg.problem_type, name)
        better = {True: "higher is better", False: "lower is better", None: "no better side"}[m.larger_is_better]
        metrics.append(f"{name} ({better}; interval: {m.interval_method})")
    lines = [
        f"monitor {cfg.name} ({cfg.problem_type}), config hash {cfg.source_hash}",
        f"predictions: {p.table.text} [id={p.id}, timestamp={p.timestamp}, model_version={p.model_version}, "
        f"score={p.score} ({p.score_type}), decision={decision}]" + (f" where {p.filter}" if p.filter else ""),
        f"labels: {lab.table.text} [id={lab.id}, label={lab.label} (positive={lab.positive!r}), "
        f"timestamp={lab.timestamp}], max_delay {lab.max_delay.text}, join by {lab.join.mode}",
        f"slices: {', '.join(slices)}; at most {cfg.segments.max_values} values per column (rest: __other__)",
        f"windows: {cfg.windows.granularity.text} buckets (tumbling)"
        + (f", rolling {', '.join(w.text for w in cfg.windows.rolling)}" if cfg.windows.rolling else ""),
        f"confidence level: {cfg.confidence_level:g}; auc mode: {cfg.auc.mode}",
        "metrics: " + "; ".join(metrics),
        "writes: " + ", ".join(out.table(t).text for t in ("perf_metrics", "perf_stats", "quarantine", "runs")),
    ]
    return "\n".join(lines)
