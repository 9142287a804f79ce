"""Ranking metrics: per-request values averaged over requests (``states.build`` computes each
request's values in Spark; the state holds their sums and sums of squares per cut-off k).

A request's list is ordered by ``predictions.rank`` if configured, else by score descending; ties
go to the smaller item id. An item is relevant when its resolved relevance is > 0; an item with no
feedback event (as of as_of, within max_delay) has relevance 0. Requests with no relevant item are
left out of the averages (``ranking.no_relevant: skip``) or count as 0 (``zero``), and are counted
in ``n_no_relevant`` either way. Every mean gets a normal interval from its sums.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics.common import field, mean_of, ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType


def at_k(metric: str, k: int | str) -> tuple[str, str]:
    """The two state fields of a ranking metric at a cut-off: its sum over requests and its sum
    of squares (``sum_ndcg_at_10``, ``sum_ndcg_at_10_sq``)."""
    return f"sum_{metric}_at_{k}", f"sum_{metric}_at_{k}_sq"


_AT_K = {
    "ndcg": (
        "DCG@k / ideal DCG@k, linear gains rel / log2(position + 1), the ideal order over the request's items "
        "(scikit-learn's ndcg_score without ties)"
    ),
    "precision": "relevant items in the top k / k (k even when the list is shorter)",
    "recall": "relevant items in the top k / relevant items in the list",
    "map": "sum of precision@i at each relevant position i <= k / min(k, relevant items in the list)",
    "hit_rate": "1 if the top k hold a relevant item, else 0",
}
_SKIPPED = "; requests without a relevant item per ranking.no_relevant; null without scored requests"


RANKING_AT_K = tuple(_AT_K)  # the @k families, in the order the state lists their fields


def _per_k(metric: str):
    def bound(k):
        total, squares = at_k(metric, k)
        return mean_of(total, "n_scored", squares)

    return (lambda s, k: bound(k)[0](s)), (lambda s, z, k: bound(k)[1](s, z))


for _name, _definition in _AT_K.items():
    _finalise, _interval = _per_k(_name)
    register_metric(
        Metric(
            name=_name,
            problem_type=ProblemType.RANKING,
            larger_is_better=True,
            fields=(*at_k(_name, "{k}"), "n_scored"),
            finalise=_finalise,
            interval=_interval,
            interval_method="normal (CLT over requests)",
            definition=_definition + _SKIPPED,
            per_k=True,
        )
    )

_mrr, _mrr_ci = mean_of("sum_mrr", "n_scored")
register_metric(
    Metric(
        name="mrr",
        problem_type=ProblemType.RANKING,
        larger_is_better=True,
        fields=("sum_mrr", "sum_mrr_sq", "n_scored"),
        finalise=_mrr,
        interval=_mrr_ci,
        interval_method="normal (CLT over requests)",
        definition="1 / position of the first relevant item" + _SKIPPED,
    )
)
_length, _length_ci = mean_of("sum_list_length", "n_predictions")
register_metric(
    Metric(
        name="list_length_mean",
        problem_type=ProblemType.RANKING,
        larger_is_better=None,
        fields=("sum_list_length", "sum_list_length_sq", "n_predictions"),
        finalise=_length,
        interval=_length_ci,
        interval_method="normal (CLT over requests)",
        definition="items per request, over every request (labeled or not)",
        labeled=False,
    )
)
register_metric(
    Metric(
        name="top_score_mean",
        problem_type=ProblemType.RANKING,
        larger_is_better=None,
        fields=("sum_top_score", "sum_top_score_sq", "n_top_score"),
        finalise=lambda s: ratio(field(s, "sum_top_score"), field(s, "n_top_score")),
        interval=mean_of("sum_top_score", "n_top_score")[1],
        interval_method="normal (CLT over requests)",
        definition="the top item's score, over every request with a score (labeled or not)",
        needs="score",
        labeled=False,
    )
)

# Computed in Spark, not here: its state is a pair of HyperLogLog sketches, which only Spark's
# ``hll_union_agg`` merges (``windows.spark.with_coverage``); the window pass leaves it null for that step.
SKETCHED = ("catalog_coverage",)
register_metric(
    Metric(
        name="catalog_coverage",
        problem_type=ProblemType.RANKING,
        larger_is_better=None,
        fields=("items_sketch", "top_items_sketch_at_{k}"),
        finalise=lambda s, k: np.full(len(field(s, "n_predictions")), np.nan),
        interval=None,
        interval_method="none (a ratio of two HyperLogLog estimates, each within about 1.6% at one standard error)",
        definition=(
            "distinct items in any request's top k / distinct items shown, over the window's requests "
            "(labeled or not); exact up to a few hundred items, estimated beyond; null for label-count windows"
        ),
        labeled=False,
        per_k=True,
    )
)
