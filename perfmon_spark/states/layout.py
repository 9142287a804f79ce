"""State fields per problem type: the columns of ``perf_stats`` besides its key, from the
declarations of each type's module (``problems``), with those of KPIs and ranking cut-offs.

Every scalar field is a count or a sum, merged by addition. Sparse fields are aligned arrays of
entries (binary: the score summary of ``states.histogram``; multiclass: the confusion matrix of
``states.confusion``), merged by adding the counts of equal keys.
"""

from __future__ import annotations

from types import MappingProxyType

from perfmon_spark.metrics.kpi import kpi_fields
from perfmon_spark.metrics.ranking import RANKING_AT_K, at_k
from perfmon_spark.problems import COMMON, PROBLEMS, problem

# Bumped whenever a field is added or its meaning changes: a run whose watermark recorded
# another version recomputes every bucket (``job.scope.plan``).
STATE_VERSION = 3

# The fields of each problem type are declared in its module (``problems``): scalars after
# ``COMMON``, the sparse part, what finalisers read from the config.
SCALARS = MappingProxyType({t: COMMON + p.scalars for t, p in PROBLEMS.items()})
SPARSE = MappingProxyType({t: p.sparse for t, p in PROBLEMS.items() if p.sparse is not None})
CONFIG_VALUES = MappingProxyType({t: p.config_values for t, p in PROBLEMS.items() if p.config_values})

FIELD_DOCS = {
    "n_predictions": "predictions in the bucket (valid rows, after de-duplication)",
    "n_labeled": "of those, with a usable label as of as_of",
    "n_decided_positive": "predictions whose decision is positive (labeled or not)",
    "tp": "labeled, label positive, decision positive",
    "fp": "labeled, label negative, decision positive",
    "tn": "labeled, label negative, decision negative",
    "fn": "labeled, label positive, decision negative",
    "sum_log_loss": "sum over labeled rows of -ln p(true class), p clipped to [eps, 1 - eps]",
    "sum_log_loss_sq": "sum of squares of the same per-row loss (for its interval)",
    "sum_brier": "sum over labeled rows of (p - y)^2",
    "sum_brier_sq": "sum of squares of the same (for its interval)",
    "sum_score": "sum of scores over all predictions, labeled or not (score_mean)",
    "sum_score_sq": "sum of squared scores over all predictions (score_std)",
    "hist_keys": "score summary keys: transformed scores (regression: predictions), or grid bin centres once compacted",
    "hist_pos": "positive labels at each key",
    "hist_neg": "negative labels at each key",
    "hist_unl": "unlabeled predictions at each key (the score proxies count every prediction)",
    "hist_n": "predictions at each key, labeled or not",
    "n_correct": "labeled rows whose predicted class is the label",
    "cm_label": "confusion matrix entries: the label (class as string); null for unlabeled predictions",
    "cm_pred": "confusion matrix entries: the predicted class",
    "cm_count": "confusion matrix entries: labeled rows with that (label, prediction)",
    "sum_prediction": "sum of predicted values over all predictions, labeled or not",
    "sum_prediction_sq": "sum of squared predicted values over all predictions",
    "sum_error": "sum of (prediction - label) over labeled rows",
    "sum_abs_error": "sum of |prediction - label|",
    "sum_sq_error": "sum of (prediction - label)^2",
    "sum_quartic_error": "sum of (prediction - label)^4 (for the MSE and RMSE intervals)",
    "sum_ape": "sum of |prediction - label| / |label| over labels != 0",
    "sum_ape_sq": "sum of squares of the same",
    "n_ape": "labeled rows with label != 0",
    "sum_label": "sum of labels",
    "sum_label_sq": "sum of squared labels (with sum_label, the total sum of squares for r2)",
    "n_no_relevant": "ranking: requests with no relevant item (no feedback, or none with relevance > 0)",
    "n_scored": "ranking: requests in the averages (no_relevant: skip leaves the n_no_relevant out)",
    "sum_mrr": "ranking: sum over scored requests of 1 / position of the first relevant item",
    "sum_mrr_sq": "ranking: sum of squares of the same",
    "sum_list_length": "ranking: sum over requests of their items",
    "sum_list_length_sq": "ranking: sum of squares of the same",
    "sum_top_score": "ranking: sum over requests of the top item's score",
    "sum_top_score_sq": "ranking: sum of squares of the same",
    "n_top_score": "ranking: requests whose top item has a score",
    "items_sketch": "ranking: HyperLogLog sketch of the items shown (binary, lgConfigK 12)",
    "top_items_sketch_at_k": "ranking: HyperLogLog sketch of the items shown in a top k",
    **{
        field: f"ranking: sum{' of squares' * sq} over scored requests of {m}@k"
        for m in RANKING_AT_K
        for sq, field in enumerate(at_k(m, "k"))
    },
    "sum_label_cube": "sum of label^3 (for the r2 interval)",
    "sum_label_quartic": "sum of label^4 (for the r2 interval)",
    "sum_sq_error_label": "sum of (prediction - label)^2 * label (for the r2 interval)",
    "sum_sq_error_label_sq": "sum of (prediction - label)^2 * label^2 (for the r2 interval)",
}


def sketch_fields(problem_type: str, ks: tuple[int | str, ...] = ()) -> tuple[str, ...]:
    """Ranking: HyperLogLog sketches (Spark's ``hll_sketch_agg``, merged by ``hll_union_agg``) of
    the items shown, and of those in a top k, for ``catalog_coverage@k``."""
    if not problem(problem_type).per_request:
        return ()
    return ("items_sketch", *(f"top_items_sketch_at_{k}" for k in ks))


def scalar_fields(problem_type: str, kpis: tuple[str, ...] = (), ks: tuple[int | str, ...] = ()) -> tuple[str, ...]:
    """The scalar fields of a problem type (ranking: with those of each cut-off in ``ks``), then
    those of each KPI (``metrics.kpi``)."""
    per_k = tuple(f for k in ks for m in RANKING_AT_K for f in at_k(m, k)) if problem(problem_type).per_request else ()
    return SCALARS[problem_type] + per_k + tuple(f for name in kpis for f in kpi_fields(name))


def state_columns(problem_type: str, kpis: tuple[str, ...] = (), ks: tuple[int | str, ...] = ()) -> tuple[str, ...]:
    """Every state column of ``perf_stats`` for a problem type, scalars first."""
    sparse = SPARSE.get(problem_type)
    return scalar_fields(problem_type, kpis, ks) + (sparse.columns if sparse else ()) + sketch_fields(problem_type, ks)


def markdown_fields(problem_type: str) -> str:
    """The table of a problem type's state fields in docs/reference.md (ranking: at a cut-off k)."""
    lines = ["| field | meaning |", "| --- | --- |"]
    lines += [f"| `{f}` | {FIELD_DOCS[f]} |" for f in state_columns(problem_type, ks=("k",))]
    return "\n".join(lines)
