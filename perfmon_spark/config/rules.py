"""The rules that read more than one section (a metric needs a score column, an alert rule's
window must be computed, ranking takes no id): checked once every section is valid, by
``MonitorConfig``'s last validator, as ``(key path, message)`` pairs in the keys' order.

They are imperative, not declared on a field, because each one reads the problem type, the metric
registry or another section; the first broken one is the error. What a problem type needs, and the
keys of the shared sections only it may set, are its module's (``problems``): ``Problem.rules`` and
``Problem.foreign``; a top-level section only one type reads is a field of that type's config class
(``model``), so the schema refuses it in the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from perfmon_spark.config.types import label_text
from perfmon_spark.metrics import lookup, metric_names
from perfmon_spark.metrics.registry import split_k
from perfmon_spark.problems import PROBLEMS, problem
from perfmon_spark.vocabulary import CROSS_SEP, OVERALL, Trigger

if TYPE_CHECKING:  # the rules read a validated config; the model runs them, so imports them
    from perfmon_spark.config.model import MonitorConfig

_NEEDS = {  # what a metric's ``needs`` asks of predictions: (missing?, the message's words)
    "score": (lambda p: p.score is None, "predictions.score"),
    "probabilities": (lambda p: p.probabilities is None, "predictions.probabilities (a map or array column)"),
    "probability": (
        lambda p: p.score is None or p.score_type != "probability",
        "probability scores (predictions.score with score_type: probability)",
    ),
}
_DUPLICATES = {
    "metrics": "metric",
    "segments.columns": "entries of column",
    "segments.cross": "entries of crossed segment",
}
_DUPLICATES |= {"kpis": "KPI name", "alerts": "rule name", "notifications": "sink name"}
_DUPLICATES |= {"drift.features": "feature", "drift.categorical": "feature"}
_DUPLICATES |= {"versions.challengers": "challenger", "versions.metrics": "metric"}


def broken_rules(cfg: MonitorConfig) -> Iterator[tuple[str, str]]:
    """(key path, message) of every rule across sections that ``cfg`` breaks, in the keys' order."""
    kind, p, labels = cfg.problem_type, cfg.predictions, cfg.labels
    own = problem(kind)
    for other in PROBLEMS.values():  # keys another type owns, then what this type needs
        if other is not own:
            yield from other.foreign(cfg)
    yield from own.rules(cfg)
    if not labels.negative and "negative" not in labels.model_fields_set:
        yield (
            "labels.negative",
            f"required when labels.positive is {labels.positive!r} (give the label value, or list of values, of the negative class; any other value goes to quarantine as bad_label)",
        )
    if not labels.negative or any(label_text(v) == label_text(labels.positive) for v in labels.negative):
        yield "labels.negative", f"{list(labels.negative)!r} must name at least one value other than labels.positive"
    names = {key: tuple(item.name for item in getattr(cfg, key)) for key in ("kpis", "alerts", "notifications")}
    names |= {"metrics": cfg.metrics, "segments.columns": cfg.segments.columns, "segments.cross": cfg.segments.cross}
    names |= {"drift.features": cfg.drift.features, "drift.categorical": cfg.drift.categorical}
    names |= {"versions.challengers": cfg.versions.challengers, "versions.metrics": cfg.versions.metrics}
    for path, items in names.items():
        if (dup := next((n for i, n in enumerate(items) if n in items[:i]), None)) is not None:
            yield path, f"duplicate {_DUPLICATES[path]} {dup!r}"
    known = f"known for {kind}: {', '.join(metric_names(kind))}"
    if not cfg.metrics:
        yield "metrics", f"list at least one metric; {known}"
    for i, name in enumerate(cfg.metrics):
        if (metric := lookup(kind, name)) is None:
            yield f"metrics[{i}]", f"unknown metric {name!r}; {known}"
        elif metric.per_k and split_k(name)[1] not in cfg.cut_offs:
            yield f"metrics[{i}]", f"{name!r}: k = {split_k(name)[1]} is not in ranking.k {list(cfg.cut_offs)}"
        elif metric.needs in _NEEDS and _NEEDS[metric.needs][0](p):
            yield f"metrics[{i}]", f"{name!r} needs {_NEEDS[metric.needs][1]}"
    computed = sorted(w.text for w in cfg.window_lengths)
    for path, item in [
        *((f"kpis[{i}]", k) for i, k in enumerate(cfg.kpis)),
        *((f"alerts[{i}]", r) for i, r in enumerate(cfg.alerts)),
    ]:
        if item.window not in computed:
            yield f"{path}.window", f"{item.window!r} is not computed; computed windows: {', '.join(computed)}"
    for i, kpi in enumerate(cfg.kpis):
        if lookup(kind, kpi.name) is not None:
            yield f"kpis[{i}].name", f"{kpi.name!r} is a metric name; give the KPI its own name"
    slices, b = sorted(CROSS_SEP.join(key) for key in cfg.slice_keys), cfg.baseline
    for i, rule in enumerate(cfg.alerts):
        metric = lookup(kind, rule.metric)
        if rule.metric not in cfg.metric_names:
            yield (
                f"alerts[{i}].metric",
                f"{rule.metric!r} is not computed; computed metrics and KPIs: {', '.join(cfg.metric_names)}",
            )
        elif metric is not None and metric.larger_is_better is None and rule.absolute is None:
            yield (
                f"alerts[{i}].metric",
                f"{rule.metric!r} has no better direction: give its levels as max or min, not ratio",
            )
        for j, key in enumerate(() if isinstance(rule.slices, str) else rule.slices):
            if key not in slices and key != OVERALL:
                yield (
                    f"alerts[{i}].slices[{j}]",
                    f"{key!r} is not a configured segment; configured: {', '.join(slices) or 'none'}",
                )
        if rule.confidence is not None and metric is not None and metric.interval is None:
            yield (
                f"alerts[{i}].confidence",
                f"{rule.metric!r} has no confidence interval; set confidence: null to compare point values",
            )
        if b.source == "values" and rule.absolute is None and rule.metric not in dict(b.values):
            yield (
                f"alerts[{i}].metric",
                f"no baseline for {rule.metric!r} in baseline.values; given: {', '.join(dict(b.values)) or 'none'}",
            )
    g = cfg.windows.granularity
    used = {
        "window": {"window": b.window},
        "rolling": {"rolling.length": b.rolling.length, "rolling.lag": b.rolling.lag},
    }
    for key, d in used.get(b.source, {}).items():
        if d.seconds % g.seconds:
            yield f"baseline.{key}", f"{d.text!r} must be a multiple of the granularity {g.text!r}"
    if (d := cfg.estimation.backtest_period).seconds % g.seconds:
        yield "estimation.backtest_period", f"{d.text!r} must be a multiple of the granularity {g.text!r}"
    yield from _version_rules(cfg)
    for i, column in enumerate(cfg.drift.categorical):
        if column in cfg.drift.features:
            yield f"drift.categorical[{i}]", f"{column!r} is also in drift.features; give a column in one list"
    for j, trigger in enumerate(cfg.retrain.triggers):
        if trigger == Trigger.DRIFT_AND_DECAY and not cfg.drift.columns:
            yield f"retrain.triggers[{j}]", "'drift_and_decay' needs drift.features or drift.categorical"
        if trigger == Trigger.KPI and not any(k.max is not None or k.min is not None for k in cfg.kpis):
            yield f"retrain.triggers[{j}]", "'kpi' needs a KPI with a max or min in kpis"


def comparable(metric) -> bool:
    """Whether ``version_comparison`` can compare a registry metric: it reads labels (the variance
    is per label), has an interval and a better direction."""
    return metric is not None and metric.labeled and metric.interval is not None and metric.larger_is_better is not None


def _version_rules(cfg: MonitorConfig) -> Iterator[tuple[str, str]]:
    """``versions``: challengers need a champion and differ from it, a stratum column that is a
    segment column, and metrics that are computed, with an interval and a better direction."""
    v = cfg.versions
    if v.registry is not None and v.champion is not None:
        yield "versions.champion", "give the champion here or through versions.registry.champion_alias, not both"
    if v.challengers and not v.enabled:
        yield "versions.champion", "required when versions.challengers is given (or versions.registry)"
    for i, version in enumerate(v.challengers):
        if version == v.champion:
            yield f"versions.challengers[{i}]", f"{version!r} is the champion; list the versions compared with it"
    if not v.enabled:
        return
    if not v.challengers and (v.registry is None or v.registry.challenger_alias is None):
        yield "versions.challengers", "list at least one version to compare with the champion (or a challenger_alias)"
    if v.stratify_by is not None and v.stratify_by not in cfg.segments.columns:
        yield (
            "versions.stratify_by",
            f"{v.stratify_by!r} is not a segment column; segment columns: {', '.join(cfg.segments.columns) or 'none'}",
        )
    if not cfg.compared_metrics:
        yield "versions.metrics", "list the metrics to compare (no alert rule's metric has an interval and a direction)"
    for i, name in enumerate(v.metrics):
        metric = lookup(cfg.problem_type, name)
        if name not in cfg.metrics:
            yield f"versions.metrics[{i}]", f"{name!r} is not computed; computed metrics: {', '.join(cfg.metrics)}"
        elif not comparable(metric):
            yield (
                f"versions.metrics[{i}]",
                f"{name!r} cannot be compared: a metric needs labels, an interval and a better direction",
            )
