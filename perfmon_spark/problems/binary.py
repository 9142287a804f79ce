"""Binary classification: a score (or a decision) per row against a label that is positive or
negative; confusion counts at the threshold, and a score summary per label for the AUCs."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from perfmon_spark.metrics import histogram
from perfmon_spark.problems.protocol import Broken, Problem, Sparse, require_score_or_prediction
from perfmon_spark.vocabulary import ProblemType

if TYPE_CHECKING:
    from perfmon_spark.config.model import MonitorConfig

# Binary metrics that condition on a class, and the (positives, negatives) a window needs before a
# rule on them evaluates it, unless the rule sets min_positives / min_negatives: an AUC or a
# recall of one or two positives is noise, whatever the label count.
CLASS_GATES = MappingProxyType(
    {"roc_auc": (10, 10), "pr_auc": (10, 10), "recall": (10, 0), "precision": (10, 0), "f1": (10, 0)}
)


def _foreign(cfg: MonitorConfig) -> Broken:
    """Keys that mean something to binary only, set in a config of another type."""
    kind, labels = cfg.problem_type, cfg.labels
    if labels.join.mode == "entity_horizon":
        yield "labels.join.mode", f"entity_horizon applies to binary only, not {kind}"
    for section, key in (("predictions", "threshold"), ("labels", "positive"), ("labels", "negative")):
        if key in getattr(cfg, section).model_fields_set:
            yield f"{section}.{key}", f"applies to binary only, not {kind}"


def _expected_labels(cfg: MonitorConfig) -> str:
    return f"labels.positive is {cfg.labels.positive!r} and labels.negative {list(cfg.labels.negative)!r}"


def _summary_scale(cfg: MonitorConfig) -> str | None:
    if cfg.auc.mode == "sketch" and cfg.predictions.score:
        return histogram.scale_of(cfg.predictions.score_type)
    return None


def _views(merged: list, scale: str) -> dict[str, list]:
    """``hist``: the labeled score summary, on summary keys; ``labeled_scores``: the same on score
    values; ``scores``: score values and predictions at each, labeled or not."""
    hist = [histogram.labeled(*h) for h in merged]
    return {
        "hist": hist,
        "scores": [(histogram.inverse(h[0], scale), h[1] + h[2] + h[3]) for h in merged],
        "labeled_scores": [(histogram.inverse(k, scale), pos, neg) for k, pos, neg in hist],
    }


def _rolling(parts: list[list], scale: str, exact_limit: float, arity: int) -> histogram.RollingSummaries:
    return histogram.RollingSummaries(parts, scale, exact_limit, arity)


BINARY = Problem(
    type=ProblemType.BINARY,
    notes="",
    label_kinds=("number", "boolean", "string"),
    prediction_kinds=("number", "boolean"),
    label_noun="class",
    scalars=(
        "n_decided_positive",
        "tp",
        "fp",
        "tn",
        "fn",
        "sum_log_loss",
        "sum_log_loss_sq",
        "sum_brier",
        "sum_brier_sq",
        "sum_score",
        "sum_score_sq",
    ),
    sparse=Sparse(
        ("hist_keys",), ("hist_pos", "hist_neg", "hist_unl"), "hist_keys", ("hist", "scores", "labeled_scores")
    ),
    config_values=("threshold", "z"),
    reference_views=("scores", "labeled_scores"),
    class_gates=CLASS_GATES,
    rules=require_score_or_prediction,
    foreign=_foreign,
    expected_labels=_expected_labels,
    summary_scale=_summary_scale,
    views=_views,
    rolling=_rolling,
)
