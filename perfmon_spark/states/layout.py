"""State fields per problem type: the columns of ``perf_stats`` besides its key.

Every scalar field is a count or a sum, merged by addition. The score summary (``hist_keys``,
``hist_pos``, ``hist_neg``) merges by union of keys with counts added (``states.histogram``).
"""

from __future__ import annotations

COMMON = ("n_predictions", "n_labeled")

SCALARS = {
    "binary": COMMON
    + ("n_decided_positive", "tp", "fp", "tn", "fn", "sum_log_loss", "sum_log_loss_sq", "sum_brier", "sum_brier_sq"),
}

HISTOGRAM = ("hist_keys", "hist_pos", "hist_neg")

FIELD_DOCS = {
    "n_predictions": "predictions in the bucket (valid rows, after de-duplication)",
    "n_labeled": "of those, with a usable label as of as_of",
    "n_decided_positive": "predictions whose decision is positive (labeled or not)",
    "tp": "labeled, label positive, decision positive",
    "fp": "labeled, label negative, decision positive",
    "tn": "labeled, label negative, decision negative",
    "fn": "labeled, label positive, decision negative",
    "sum_log_loss": "sum over labeled rows of -(y ln p + (1 - y) ln(1 - p)), p clipped to [eps, 1 - eps]",
    "sum_log_loss_sq": "sum of squares of the same per-row loss (for its interval)",
    "sum_brier": "sum over labeled rows of (p - y)^2",
    "sum_brier_sq": "sum of squares of the same (for its interval)",
    "hist_keys": "score summary keys: transformed scores, or grid bin centres once compacted",
    "hist_pos": "positive labels at each key",
    "hist_neg": "negative labels at each key",
}


def has_histogram(problem_type: str) -> bool:
    return problem_type == "binary"
