"""Regression: a predicted value per row against a numeric label; error sums, and a summary of the
predicted values (always binned past the exact limit) for the proxies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfmon_spark.metrics import histogram
from perfmon_spark.problems.protocol import Problem, Sparse, require_score_or_prediction
from perfmon_spark.vocabulary import ProblemType

if TYPE_CHECKING:
    from perfmon_spark.config.model import MonitorConfig

SCALE = "unbounded"  # predicted values are not probabilities


def _summary_scale(cfg: MonitorConfig) -> str:
    return SCALE


def _views(merged: list, scale: str) -> dict[str, list]:
    """``scores``: predicted values and predictions at each, labeled or not."""
    return {"scores": [(histogram.inverse(h[0], scale), h[1]) for h in merged]}


def _rolling(parts: list[list], scale: object, exact_limit: float, arity: int) -> histogram.RollingSummaries:
    return histogram.RollingSummaries(parts, SCALE, histogram.EXACT_LIMIT, arity)


REGRESSION = Problem(
    type=ProblemType.REGRESSION,
    notes="The predicted value is `predictions.prediction` (or `predictions.score`); error = prediction - label.\n\n",
    label_kinds=("number",),
    prediction_kinds=("number",),
    label_noun="number",
    scalars=(
        "sum_prediction",
        "sum_prediction_sq",
        "sum_error",
        "sum_abs_error",
        "sum_sq_error",
        "sum_quartic_error",
        "sum_ape",
        "sum_ape_sq",
        "n_ape",
        "sum_label",
        "sum_label_sq",
        "sum_label_cube",
        "sum_label_quartic",
        "sum_sq_error_label",
        "sum_sq_error_label_sq",
    ),
    sparse=Sparse(("hist_keys",), ("hist_n",), "hist_keys", ("scores",)),
    reference_views=("scores",),
    rules=require_score_or_prediction,
    summary_scale=_summary_scale,
    views=_views,
    rolling=_rolling,
)
