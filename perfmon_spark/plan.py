"""The human-readable plan that ``perfmon validate`` prints."""

from __future__ import annotations

from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import written_by
from perfmon_spark.metrics import lookup
from perfmon_spark.problems import problem


def _levels(rule) -> str:
    parts = []
    for lv in rule.levels:
        rep = (
            ""
            if lv.within == 1
            else (f" in {lv.of} consecutive" if lv.of == lv.within else f" in {lv.of} of {lv.within}")
        )
        if lv.limit is not None:
            parts.append(f"{lv.level} {'above' if rule.absolute == 'max' else 'below'} {lv.limit:g}{rep}")
        else:
            parts.append(f"{lv.level} worse than baseline x{lv.ratio:g}{rep}")
    return ", ".join(parts)


def _alerting(cfg: MonitorConfig) -> list[str]:
    b = cfg.baseline
    source = {
        "values": "fixed values " + ", ".join(f"{m}={v:g}" for m, v in b.values),
        "table": f"table {b.table.text if b.table else ''}",
        "window": f"each version's first {b.window.text}",
        "rolling": f"trailing {b.rolling_length.text}, lagged {b.rolling_lag.text}",
    }[b.source]
    lines = [
        f"kpi: {k.name} = sum({k.numerator}) / sum({k.denominator})"
        + (f", max {k.max:g}" if k.max is not None else "")
        + (f", min {k.min:g}" if k.min is not None else "")
        for k in cfg.kpis
    ]
    if cfg.alerts:
        lines.append(f"baseline: {source}")
    for r in cfg.alerts:
        maturity = r.maturity.mode if r.maturity.mode != "min_coverage" else f"coverage >= {r.maturity.min_coverage:g}"
        lines.append(
            f"rule {r.name}: {r.metric} over {r.window} windows, slices {r.slices if isinstance(r.slices, str) else ', '.join(r.slices)}; "
            f"{_levels(r)}; min_labeled {r.min_labeled}, "
            + (f"interval at {r.confidence:g} wholly beyond" if r.confidence else "point values")
            + f", windows: {maturity}, resolve after {r.resolve_after}"
        )
    for n in cfg.notifications:
        lines.append(f"notify {n.name}: {n.type} to ${n.url_env} for {', '.join(n.levels)}, {n.retries} retries")
    if cfg.decides:
        rc = cfg.retrain
        lines.append(
            f"retrain on {', '.join(rc.triggers)}; cooldown {rc.cooldown.text}, min_new_labels {rc.min_new_labels}"
            + (f", at most one per {rc.max_one_per.text}" if rc.max_one_per else "")
        )
    return lines


def _drift(cfg: MonitorConfig) -> list[str]:
    d = cfg.drift
    if not d.columns:
        return []
    return [
        f"drift: numeric {', '.join(d.features) or 'none'} ({d.bins} bins), categorical "
        f"{', '.join(d.categorical) or 'none'} (top {d.max_categories}); drifted above PSI {d.psi_threshold:g}; "
        f"correlation over the last {d.correlation_windows} {cfg.windows.granularity.text} windows"
    ]


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
    if problem(cfg.problem_type).per_request:
        rows = f"request={p.request}, item={p.item}, order by {f'rank={p.rank}' if p.rank else f'score={p.score}'}"
        read = (
            f"predictions: {p.table.text} [{rows}, timestamp={p.timestamp}, model_version={p.model_version}]",
            f"labels: {lab.table.text} [request={lab.request}, item={lab.item}, relevance={lab.label}, "
            f"timestamp={lab.timestamp}], max_delay {lab.max_delay.text}; cut-offs k={list(cfg.ranking.k)}, "
            f"requests without a relevant item: {cfg.ranking.no_relevant}",
        )
    else:
        read = (
            f"predictions: {p.table.text} [id={p.id}, timestamp={p.timestamp}, model_version={p.model_version}, "
            f"score={p.score} ({p.score_type}), decision={decision}]",
            f"labels: {lab.table.text} [id={lab.id}, label={lab.label} (positive={lab.positive!r}), "
            f"timestamp={lab.timestamp}], max_delay {lab.max_delay.text}, join by {lab.join.mode}",
        )
    lines = [
        f"monitor {cfg.name} ({cfg.problem_type}), config hash {cfg.source_hash}",
        read[0] + (f" where {p.filter}" if p.filter else ""),
        read[1],
        f"slices: {', '.join(slices)}; at most {cfg.segments.max_values} values per column (rest: __other__)",
        f"windows: {cfg.windows.granularity.text} buckets (tumbling)"
        + (f", rolling {', '.join(w.text for w in cfg.windows.rolling)}" if cfg.windows.rolling else ""),
        f"confidence level: {cfg.confidence_level:g}; auc mode: {cfg.auc.mode}",
        "metrics: " + "; ".join(metrics),
        *_alerting(cfg),
        *_drift(cfg),
        "writes: " + ", ".join(out.table(t.name).text for t in written_by(cfg)),
    ]
    return "\n".join(lines)
