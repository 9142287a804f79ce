"""Multiclass metrics over the multiclass state: a sparse confusion matrix per window plus counts.

Averages follow scikit-learn with ``zero_division=np.nan`` over the classes that occur in the
window's labels or predictions (of labeled rows): an undefined per-class value is left out of the
macro and weighted averages, and an average with nothing defined is null.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics import confusion, intervals
from perfmon_spark.metrics.common import field, mean_of, ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType


def _nanaverage(values: np.ndarray, weights: np.ndarray | None) -> float:
    keep = ~np.isnan(values)
    if not keep.any():
        return np.nan
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


def _per_class_value(kind: str, tp, predicted, support) -> np.ndarray:
    if kind == "precision":
        return ratio(tp, predicted)
    if kind == "recall":
        return ratio(tp, support)
    return ratio(2 * tp, predicted + support)


def _average(kind: str, weighted: bool):
    def finalise(s) -> np.ndarray:
        out = []
        for cm in s["cm"]:
            _, tp, predicted, support = confusion.per_class(*cm)
            out.append(_nanaverage(_per_class_value(kind, tp, predicted, support), support if weighted else None))
        return np.array(out, dtype=float)

    return finalise


def _macro_interval(kind: str):
    """A normal interval for the unweighted mean of per-class precision or recall, clipped to
    [0, 1]: the classes' proportions are independent binomials, so its variance is
    sum p(1 - p) / n over K^2."""

    def interval(s, z):
        centre, se = [], []
        for cm in s["cm"]:
            _, tp, predicted, support = confusion.per_class(*cm)
            trials = predicted if kind == "precision" else support
            keep = trials > 0
            if not keep.any():
                centre.append(np.nan)
                se.append(np.nan)
                continue
            p, n = tp[keep] / trials[keep], trials[keep]
            centre.append(p.mean())
            se.append(np.sqrt((p * (1 - p) / n).sum()) / keep.sum())
        return intervals.symmetric(centre, se, z, 0.0, 1.0)

    return interval


def _weighted_recall_interval(s, z):
    """Support-weighted recall is the accuracy: a Wilson interval on correct / labeled."""
    correct, labeled = [], []
    for cm in s["cm"]:
        _, tp, _, support = confusion.per_class(*cm)
        correct.append(tp.sum())
        labeled.append(support.sum())
    return intervals.wilson(np.array(correct, dtype=float), np.array(labeled, dtype=float), z)


def _delta_interval(kind: str, weighted: bool):
    """A normal interval by the delta method over the confusion matrix, clipped to [0, 1]: its
    cells are one multinomial sample, so an average's variance is g' (diag(p) - p p') g / n for
    the gradient g of the average with respect to the cell shares p (taken numerically)."""

    def value(labels, preds, counts) -> float:
        _, tp, predicted, support = confusion.per_class(labels, preds, counts)
        return _nanaverage(_per_class_value(kind, tp, predicted, support), support if weighted else None)

    def interval(s, z):
        centres, se = [], []
        for labels, preds, counts in s["cm"]:
            counts = np.asarray(counts, dtype=float)
            n = counts.sum()
            centre = value(labels, preds, counts) if n else np.nan
            if n < 2 or np.isnan(centre):
                centres.append(np.nan)
                se.append(np.nan)
                continue
            step = 1e-6 * n
            grad = np.empty(len(counts))
            for i in range(len(counts)):
                bump = np.zeros(len(counts))
                bump[i] = step
                grad[i] = (value(labels, preds, counts + bump) - value(labels, preds, counts - bump)) / (2e-6)
            p = counts / n
            var = max(float(p @ (grad * grad) - (p @ grad) ** 2), 0.0) / n
            centres.append(centre)
            se.append(np.sqrt(var))
        return intervals.symmetric(centres, se, z, 0.0, 1.0)

    return interval


_DELTA = "delta method over the confusion matrix (multinomial)"
_AVERAGE_INTERVALS = {
    ("precision", False): (_macro_interval("precision"), "normal: independent binomial variances over classes"),
    ("recall", False): (_macro_interval("recall"), "normal: independent binomial variances over classes"),
    ("recall", True): (_weighted_recall_interval, "Wilson score (it equals the accuracy)"),
    ("precision", True): (_delta_interval("precision", True), _DELTA),
    ("f1", False): (_delta_interval("f1", False), _DELTA),
    ("f1", True): (_delta_interval("f1", True), _DELTA),
}

for _kind in ("precision", "recall", "f1"):
    for _weighted in (False, True):
        _average_interval, _method = _AVERAGE_INTERVALS[(_kind, _weighted)]
        register_metric(
            Metric(
                name=f"{'weighted' if _weighted else 'macro'}_{_kind}",
                problem_type=ProblemType.MULTICLASS,
                larger_is_better=True,
                fields=("cm",),
                finalise=_average(_kind, _weighted),
                interval=_average_interval,
                interval_method=_method,
                definition=(
                    f"{'support-weighted' if _weighted else 'unweighted'} mean of per-class {_kind} over the classes "
                    "present; undefined classes left out; null if none is defined"
                ),
            )
        )


def _class_counts(s, cls: str, kind: str):
    """(successes, trials) of class ``cls`` per window for precision or recall."""
    hits, trials = [], []
    for labels, preds, counts in s["cm"]:
        labels, preds = np.asarray(labels, dtype=object).astype(str), np.asarray(preds, dtype=object).astype(str)
        counts = np.asarray(counts, dtype=float)
        hits.append(counts[(labels == cls) & (preds == cls)].sum())
        trials.append(counts[(preds if kind == "precision" else labels) == cls].sum())
    return np.array(hits), np.array(trials)


def _one_class(kind: str):
    def finalise(s, cls: str) -> np.ndarray:
        return ratio(*_class_counts(s, cls, kind))

    def interval(s, z, cls: str):
        return intervals.wilson(*_class_counts(s, cls, kind), z)

    return finalise, interval


for _kind, _definition in (
    ("recall", "recall of class c: correct among labels c; null if no label is c"),
    ("precision", "precision of class c: correct among predictions c; null if nothing is predicted c"),
):
    _finalise, _interval = _one_class(_kind)
    register_metric(
        Metric(
            name=_kind,
            problem_type=ProblemType.MULTICLASS,
            larger_is_better=True,
            fields=("cm",),
            finalise=_finalise,
            interval=_interval,
            interval_method="Wilson score",
            definition=_definition,
            per_class=True,
        )
    )

register_metric(
    Metric(
        name="accuracy",
        problem_type=ProblemType.MULTICLASS,
        larger_is_better=True,
        fields=("n_correct", "n_labeled"),
        finalise=lambda s: ratio(field(s, "n_correct"), field(s, "n_labeled")),
        interval=lambda s, z: intervals.wilson(field(s, "n_correct"), field(s, "n_labeled"), z),
        interval_method="Wilson score",
        definition="correct / labeled; null without labels",
    )
)

_ll, _ll_interval = mean_of("sum_log_loss", "n_labeled")
register_metric(
    Metric(
        name="log_loss",
        problem_type=ProblemType.MULTICLASS,
        larger_is_better=False,
        fields=("sum_log_loss", "sum_log_loss_sq", "n_labeled"),
        finalise=_ll,
        interval=_ll_interval,
        interval_method="normal (CLT on the per-row loss)",
        definition="mean -ln p(true class), p clipped to [eps, 1 - eps]; needs predictions.probabilities",
        needs="probabilities",
    )
)
