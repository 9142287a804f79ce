"""The score summary behind roc_auc and pr_auc: exact while small, within 1e-3 of
scikit-learn once compacted, on uniform, fraud-skewed and unbounded scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from perfmon_spark.metrics import histogram


def summary(scores, y, scale, exact_limit=histogram.EXACT_LIMIT):
    return histogram.merge([(histogram.transform(scores, scale), y, 1 - y)], scale, exact_limit)


def distributions(rng, n):
    y = (rng.random(n) < 0.3).astype(float)
    fraud_y = (rng.random(n) < 0.01).astype(float)
    skewed = np.where(fraud_y == 1, rng.beta(2, 30, n), rng.beta(0.5, 200, n))  # 99% below 0.02
    return {
        "uniform": (np.clip(rng.random(n) * 0.7 + 0.3 * y, 0, 1), y, "probability"),
        "fraud_skewed": (skewed, fraud_y, "probability"),
        "logits": (rng.normal(0, 2, n) + 1.5 * y, y, "unbounded"),
        "margins": (rng.normal(0, 400, n) + 300 * y, y, "unbounded"),
    }


@pytest.mark.parametrize("name", ["uniform", "fraud_skewed", "logits", "margins"])
def test_compacted_summary_is_within_1e3_of_sklearn(name):
    rng = np.random.default_rng(3)
    scores, y, scale = distributions(rng, 300_000)[name]
    assert name != "fraud_skewed" or np.mean(scores < 0.02) > 0.98
    # Built from 30 bucket summaries, each compacted on its own, as windows merge them.
    parts = [summary(s, t, scale) for s, t in zip(np.array_split(scores, 30), np.array_split(y, 30))]
    keys, pos, neg = histogram.merge(parts, scale)
    assert len(keys) <= max(histogram.EXACT_LIMIT, histogram.GRID_BINS)
    assert abs(histogram.roc_auc(keys, pos, neg) - roc_auc_score(y, scores)) < 1e-3
    assert abs(histogram.average_precision(keys, pos, neg) - average_precision_score(y, scores)) < 1e-3


def test_small_groups_are_exact_including_ties():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(2, 400))
        y = (rng.random(n) < 0.1).astype(float)
        if y.sum() in (0, n):
            continue
        scores = np.round(rng.beta(0.7, 20, n), 2)  # heavy ties
        keys, pos, neg = summary(scores, y, "probability")
        assert histogram.roc_auc(keys, pos, neg) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
        assert histogram.average_precision(keys, pos, neg) == pytest.approx(
            average_precision_score(y, scores), abs=1e-12
        )


def test_exact_mode_never_compacts():
    rng = np.random.default_rng(9)
    scores, y = rng.random(20_000), (rng.random(20_000) < 0.5).astype(float)
    keys, pos, neg = summary(scores, y, "probability", exact_limit=np.inf)
    assert len(keys) == len(np.unique(scores))
    assert histogram.roc_auc(keys, pos, neg) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_merge_is_associative_and_compaction_idempotent():
    rng = np.random.default_rng(1)
    scores, y = rng.random(30_000), (rng.random(30_000) < 0.2).astype(float)
    a, b, c = (summary(s, t, "probability") for s, t in zip(np.array_split(scores, 3), np.array_split(y, 3)))
    left = histogram.merge([histogram.merge([a, b], "probability"), c], "probability")
    right = histogram.merge([a, histogram.merge([b, c], "probability")], "probability")
    for x, z in zip(left, right):
        np.testing.assert_array_equal(x, z)
    grid = histogram.Grid.for_scale("probability")
    np.testing.assert_array_equal(grid.centres(grid.centres(left[0])), grid.centres(left[0]))


def test_one_class_and_empty_are_undefined():
    empty = histogram.merge([], "probability")
    assert np.isnan(histogram.roc_auc(*empty)) and np.isnan(histogram.average_precision(*empty))
    only_neg = summary(np.array([0.1, 0.2]), np.array([0.0, 0.0]), "probability")
    assert np.isnan(histogram.roc_auc(*only_neg)) and np.isnan(histogram.average_precision(*only_neg))
