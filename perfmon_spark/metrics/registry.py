"""The metric registry: one declaration per metric, read by config validation, the window
finaliser, the metric tables of docs/reference.md and the tests, so that none of them can drift apart.

A metric is a pure function of a merged state (a mapping of field name to numpy arrays, one
element per window), vectorised over windows; undefined values are NaN here and become null in
the output tables. So is its interval method, which gives the bounds and the value's standard
error together (``intervals.Interval``): the standard error the tests read comes from the method
that made the interval, not from its width, which an asymmetric or clipped interval does not
give back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from perfmon_spark.metrics.intervals import Interval
from perfmon_spark.vocabulary import ProblemType

State = Mapping[str, object]
Finaliser = Callable[[State], np.ndarray]
IntervalMethod = Callable[[State, float], Interval]

PROBLEM_TYPES = tuple(ProblemType)


@dataclass(frozen=True)
class Metric:
    """One metric of one problem type.

    Attributes:
        name: the name users write in ``metrics:`` and find in ``perf_metrics.metric``.
        problem_type: binary, multiclass or regression.
        larger_is_better: the direction alert rules use; None for rates with no better side.
        fields: the state fields the finaliser reads.
        finalise: state -> values (NaN where undefined).
        interval: (state, z) -> ``Interval(lower, upper, std_error)``, or None where no sound
            method exists (then ``perf_metrics`` has no interval and no standard error).
        interval_method: the method's name, for docs/reference.md (and `perfmon validate`).
        needs: "" or "score" (a score column) or "probability" (scores in [0, 1]).
        definition: one line for docs/reference.md, including when it is undefined.
        per_class: True for ``recall[c]``-style families; the name is then a template.
        labeled: False for proxies, which read every prediction and no label: a rule on one gates
            on predictions and ignores maturity.
        per_k: True for ``ndcg@k``-style families (ranking cut-offs): the finaliser and interval
            take k, and ``fields`` are templates with ``{k}``.
    """

    name: str
    problem_type: str
    larger_is_better: bool | None
    fields: tuple[str, ...]
    finalise: Finaliser
    interval: IntervalMethod | None
    interval_method: str
    definition: str
    needs: str = ""
    per_class: bool = False
    labeled: bool = True
    per_k: bool = False

    def fields_at(self, k: int | None) -> tuple[str, ...]:
        """The state fields read, with a cut-off filled in."""
        return tuple(f.format(k=k) for f in self.fields) if self.per_k else self.fields

    @property
    def written(self) -> str:
        """The name as a user writes it: ``recall[c]``, ``ndcg@k`` or the name."""
        return f"{self.name}[c]" if self.per_class else f"{self.name}@k" if self.per_k else self.name


_REGISTRY: dict[tuple[str, str], Metric] = {}
REGISTRY: Mapping[tuple[str, str], Metric] = MappingProxyType(_REGISTRY)

_PER_CLASS = re.compile(r"^(?P<family>[a-z_]+)\[(?P<cls>[^\]]+)\]$")
_PER_K = re.compile(r"^(?P<family>[a-z_]+)@(?P<k>[1-9][0-9]*)$")


def register_metric(metric: Metric) -> Metric:
    """Add a metric; registering a (problem type, name) twice is a programming error."""
    key = (metric.problem_type, metric.name)
    if key in _REGISTRY:
        raise ValueError(f"metric {metric.name!r} registered twice for {metric.problem_type}")
    _REGISTRY[key] = metric
    return metric


def metrics_for(problem_type: str) -> list[Metric]:
    """All metrics of a problem type, in registration order."""
    return [m for (p, _), m in _REGISTRY.items() if p == problem_type]


def markdown_table(problem_type: str) -> str:
    """The metric table of a problem type in docs/reference.md, generated so that it cannot drift."""
    direction = {True: "higher", False: "lower", None: "neither"}
    lines = ["| metric | definition (undefined cases are null) | better | interval |", "| --- | --- | --- | --- |"]
    for m in metrics_for(problem_type):
        lines.append(f"| `{m.written}` | {m.definition} | {direction[m.larger_is_better]} | {m.interval_method} |")
    return "\n".join(lines)


def metric_names(problem_type: str) -> list[str]:
    """Names as a user writes them (families as ``recall[c]`` and ``ndcg@k``)."""
    return [m.written for m in metrics_for(problem_type)]


def split_per_class(name: str) -> tuple[str, str | None]:
    """``"recall[fraud]"`` -> ``("recall", "fraud")``; other names -> ``(name, None)``."""
    match = _PER_CLASS.match(name)
    if match is None:
        return name, None
    return match["family"], match["cls"]


def split_k(name: str) -> tuple[str, int | None]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; other names -> ``(name, None)``."""
    match = _PER_K.match(name)
    return (name, None) if match is None else (match["family"], int(match["k"]))


def bind(problem_type: str, name: str) -> tuple[Finaliser, IntervalMethod | None]:
    """(finalise, interval) of a configured name, with the class of ``recall[c]`` or the cut-off
    of ``ndcg@k`` bound in."""
    metric = lookup(problem_type, name)
    if metric is None:
        raise KeyError(f"no metric {name!r} for {problem_type}")
    if metric.per_class:
        _, cls = split_per_class(name)
    elif metric.per_k:
        _, cls = split_k(name)
    else:
        return metric.finalise, metric.interval
    interval = metric.interval
    return (
        lambda s: metric.finalise(s, cls),
        None if interval is None else (lambda s, z: interval(s, z, cls)),
    )


def lookup(problem_type: str, name: str) -> Metric | None:
    """The registered metric for a configured name, or None if there is none."""
    family, cls = split_per_class(name)
    if cls is None:
        family, k = split_k(name)
        metric = _REGISTRY.get((problem_type, family))
        return None if metric is None or metric.per_class or metric.per_k != (k is not None) else metric
    metric = _REGISTRY.get((problem_type, family))
    if metric is None or not metric.per_class:
        return None
    return metric
