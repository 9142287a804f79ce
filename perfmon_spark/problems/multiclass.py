"""Multiclass classification: a predicted class per row (and optionally class probabilities)
against a class label; a confusion matrix per state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfmon_spark.metrics import confusion
from perfmon_spark.problems.protocol import Broken, Problem, Sparse, require_score_or_prediction
from perfmon_spark.vocabulary import ProblemType

if TYPE_CHECKING:
    from perfmon_spark.config.model import MonitorConfig


def _rules(cfg: MonitorConfig) -> Broken:
    yield from require_score_or_prediction(cfg, "predictions.prediction")
    if cfg.predictions.prediction is None:
        yield "predictions.prediction", "required for problem_type multiclass (the predicted class)"


class Confusions:
    """Window merges of per-bucket confusion matrices (small: classes squared at most)."""

    scale = None

    def __init__(self, buckets: list[list]):
        self.buckets = buckets

    def window(self, first: int, last: int):
        return confusion.merge([p for i in range(first, last + 1) for p in self.buckets[i]])


def _rolling(parts: list[list], scale: object, exact_limit: float, arity: int) -> Confusions:
    return Confusions(parts)


def _views(merged: list, scale: object) -> dict[str, list]:
    """``cm``: the labeled entries; ``predicted``: classes and predictions of each."""
    return {
        "cm": [confusion.labeled(*cm) for cm in merged],
        "predicted": [confusion.predicted_counts(*cm) for cm in merged],
    }


MULTICLASS = Problem(
    type=ProblemType.MULTICLASS,
    notes=(
        "Labels and predictions are read as strings (integer classes work alike). Averages follow\n"
        "scikit-learn with `zero_division=np.nan` over the classes that occur in the window's labels or\n"
        "predictions: an undefined per-class value is left out, and an average with nothing defined is null.\n"
        "`recall[c]` and `precision[c]` name one class, e.g. `recall[fraud]`. `log_loss` needs\n"
        "`predictions.probabilities`: a `map<string, double>` (class -> probability) or an\n"
        "`array<double>` (class i at index i); rows are renormalised to sum 1.\n\n"
    ),
    label_kinds=("string", "integer"),
    prediction_kinds=("string", "integer"),
    label_noun="class",
    scalars=("n_correct", "sum_log_loss", "sum_log_loss_sq"),
    sparse=Sparse(("cm_label", "cm_pred"), ("cm_count",), "cm_pred", ("cm", "predicted")),
    reference_views=("predicted",),
    rules=_rules,
    views=_views,
    rolling=_rolling,
)
