"""The ranking oracle against scikit-learn and against hand-worked lists, before it judges the job."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from tests.oracle_ranking import group_metrics, list_metrics, mean_interval, request_values, resolve_ranking

T0 = datetime(2024, 3, 1, 10, 0)
AS_OF = datetime(2024, 3, 10)
DELAY = timedelta(days=2)


def preds_of(lists: dict[str, list[tuple[str, float]]], ts: datetime = T0, version: str = "v1") -> pd.DataFrame:
    """One request per key, items as (item_id, score)."""
    rows = [
        {"request_id": r, "item_id": i, "prediction_ts": ts, "model_version": version, "score": s}
        for r, items in lists.items()
        for i, s in items
    ]
    return pd.DataFrame(rows)


def labels_of(events: list[tuple[str, str, float, datetime]]) -> pd.DataFrame:
    return pd.DataFrame(events, columns=["request_id", "item_id", "relevance", "label_ts"])


def values(preds: pd.DataFrame, labels: pd.DataFrame, ks: list[int], order: str = "score") -> pd.DataFrame:
    return request_values(resolve_ranking(preds, labels, AS_OF, DELAY, order=order), ks).set_index("request_id")


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_sklearn_on_tie_free_graded_lists(seed):
    rng = np.random.default_rng(seed)
    lists, events, truth = {}, [], {}
    for r in range(20):
        n = int(rng.integers(2, 12))
        scores = rng.permutation(n) + rng.random()  # distinct
        rel = rng.integers(0, 4, n).astype(float)
        rel[rng.integers(n)] = rng.integers(1, 4)  # at least one relevant
        rid = f"r{r}"
        lists[rid] = [(f"i{j}", float(s)) for j, s in enumerate(scores)]
        events += [(rid, f"i{j}", rel[j], T0 + timedelta(hours=1)) for j in range(n)]  # every item judged
        truth[rid] = (rel, scores)
    ks = [1, 3, 5, 20]
    got = values(preds_of(lists), labels_of(events), ks)
    for rid, (rel, scores) in truth.items():
        for k in ks:
            assert got.loc[rid, f"ndcg@{k}"] == pytest.approx(ndcg_score([rel], [scores], k=k), rel=1e-12)
    assert got["labeled"].all()


def test_hand_worked_list_with_k_beyond_its_length():
    # positions 1..4; relevant at 1 and 3
    m = list_metrics(np.array([1.0, 0.0, 1.0, 0.0]), [3, 10])
    assert m["precision@3"] == pytest.approx(2 / 3)
    assert m["recall@3"] == 1.0
    assert m["map@3"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert m["hit_rate@3"] == 1.0
    assert m["precision@10"] == pytest.approx(2 / 10)  # divided by k, not by the list length
    assert m["map@10"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # min(k, n_rel) = 2
    assert m["mrr"] == 1.0
    idcg = 1 + 1 / np.log2(3)
    assert m["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4)) / idcg)
    # relevant at 2 only
    m = list_metrics(np.array([0.0, 2.0, 0.0]), [1, 5])
    assert (m["precision@1"], m["recall@1"], m["map@1"], m["hit_rate@1"], m["ndcg@1"]) == (0, 0, 0, 0, 0)
    assert (m["recall@5"], m["map@5"], m["hit_rate@5"]) == (1.0, pytest.approx(1 / 2), 1.0)
    assert m["mrr"] == pytest.approx(1 / 2)
    assert m["ndcg@5"] == pytest.approx(1 / np.log2(3))


def test_score_ties_broken_by_item_id_and_rank_mode():
    preds = preds_of({"r": [("b", 0.5), ("c", 0.9), ("a", 0.5)]})
    labels = labels_of([("r", "a", 1.0, T0)])
    resolved = resolve_ranking(preds, labels, AS_OF, DELAY)
    assert list(resolved["item_id"]) == ["c", "a", "b"]
    assert list(resolved["position"]) == [1, 2, 3]
    v = request_values(resolved, [5]).iloc[0]
    assert v["mrr"] == pytest.approx(1 / 2)
    assert v["top_score"] == 0.9
    # rank mode: rank ascending, ties by item_id, no score column
    ranked = preds.drop(columns="score").assign(rank=[2, 1, 2])
    resolved = resolve_ranking(ranked, labels, AS_OF, DELAY, order="rank")
    assert list(resolved["item_id"]) == ["c", "a", "b"]
    v = request_values(resolved, [5]).iloc[0]
    assert np.isnan(v["top_score"])
    assert np.isnan(group_metrics(request_values(resolved, [5]), [5])["top_score_mean"])
    # a rank below 1 is a bad row
    resolved = resolve_ranking(ranked.assign(rank=[2, 0, 1]), labels, AS_OF, DELAY, order="rank")
    assert list(resolved["item_id"]) == ["a", "b"]  # c (rank 0) dropped


def test_late_feedback_corrections_and_as_of():
    preds = preds_of({"late": [("a", 0.9)], "fix": [("a", 0.9), ("b", 0.1)], "after": [("a", 0.9)]})
    labels = labels_of(
        [
            ("late", "a", 1.0, T0 + DELAY + timedelta(seconds=1)),  # past max_delay
            ("fix", "a", 1.0, T0 + timedelta(hours=1)),
            ("fix", "a", 0.0, T0 + timedelta(hours=2)),  # the correction wins
            ("fix", "b", 1.0, T0 + timedelta(hours=1)),
            ("after", "a", 1.0, AS_OF + timedelta(seconds=1)),  # not yet known
            ("after", "a", -1.0, T0),  # bad relevance
            ("after", "a", 1.0, T0 - timedelta(seconds=1)),  # before the prediction
        ]
    )
    v = values(preds, labels, [5])
    assert not v.loc["late", "labeled"] and v.loc["late", "n_rel"] == 0
    assert v.loc["fix", "labeled"] and v.loc["fix", "n_rel"] == 1
    assert v.loc["fix", "mrr"] == pytest.approx(1 / 2)
    assert not v.loc["after", "labeled"]
    # a tie on label_ts: the greatest relevance
    tie = labels_of([("late", "a", 0.0, T0), ("late", "a", 2.0, T0)])
    assert values(preds, tie, [5]).loc["late", "n_rel"] == 1


def test_duplicates_and_the_requests_version_and_bucket():
    preds = pd.DataFrame(
        {
            "request_id": ["r", "r", "r", "r"],
            "item_id": ["a", "a", "b", "c"],
            "prediction_ts": [T0 + timedelta(hours=1), T0 + timedelta(hours=1), T0, T0 + timedelta(days=1)],
            "model_version": ["v2", "v1", "v3", "v1"],
            "score": [0.1, 0.2, 0.5, np.inf],
        }
    )
    resolved = resolve_ranking(preds, labels_of([]), AS_OF, DELAY)
    assert list(resolved["item_id"]) == ["b", "a"]  # c has no finite score
    assert resolved.set_index("item_id").loc["a", "score"] == 0.2  # v1 beats v2 on the tie
    assert set(resolved["model_version"]) == {"v3"}
    assert set(resolved["request_ts"]) == {pd.Timestamp("2024-03-01")}


def test_no_relevant_request_under_skip_and_zero():
    preds = preds_of({"good": [("a", 0.9), ("b", 0.1)], "none": [("a", 0.9)], "unlabeled": [("b", 0.9)]})
    labels = labels_of([("good", "a", 1.0, T0), ("none", "a", 0.0, T0)])
    requests = values(preds, labels, [5]).reset_index()
    skip = group_metrics(requests, [5])
    assert (skip["n_requests"], skip["n_labeled"], skip["n_no_relevant"], skip["n_scored"]) == (3, 2, 2, 1)
    assert skip["mrr"] == 1.0 and skip["ndcg@5"] == 1.0 and skip["precision@5"] == pytest.approx(1 / 5)
    zero = group_metrics(requests, [5], no_relevant="zero")
    assert (zero["n_no_relevant"], zero["n_scored"]) == (2, 3)
    assert zero["mrr"] == pytest.approx(1 / 3) and zero["hit_rate@5"] == pytest.approx(1 / 3)
    assert skip["list_length_mean"] == pytest.approx(4 / 3) and skip["top_score_mean"] == pytest.approx(0.9)
    empty = group_metrics(requests[requests["n_rel"] == 0], [5])
    assert empty["n_scored"] == 0 and np.isnan(empty["mrr"])


def test_catalog_coverage():
    preds = preds_of({"r1": [("a", 0.9), ("b", 0.5), ("c", 0.1)], "r2": [("a", 0.8), ("d", 0.7)]})
    resolved = resolve_ranking(preds, labels_of([]), AS_OF, DELAY)
    requests = request_values(resolved, [1, 2])
    g = group_metrics(requests, [1, 2], resolved=resolved)
    assert g["catalog_coverage@1"] == pytest.approx(1 / 4)  # {a} of {a, b, c, d}
    assert g["catalog_coverage@2"] == pytest.approx(3 / 4)  # {a, b, d}
    only_r2 = group_metrics(requests[requests["request_id"] == "r2"], [1], resolved=resolved)
    assert only_r2["catalog_coverage@1"] == pytest.approx(1 / 2)


def test_mean_interval():
    x = np.array([1.0, 2.0, 4.0])
    lo, hi = mean_interval(x, 1.96)
    half = 1.96 * np.std(x, ddof=1) / np.sqrt(3)
    assert (lo, hi) == pytest.approx((x.mean() - half, x.mean() + half))
    assert all(np.isnan(mean_interval([1.0], 1.96)))
