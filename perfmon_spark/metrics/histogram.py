"""The mergeable score summary behind roc_auc, pr_auc and the score proxies.

A summary is aligned arrays sorted by key: ``keys`` (a monotone transform of the score), then one
or more count arrays. The binary summary counts positive labels, negative labels and unlabeled
predictions at each key (``pos``, ``neg``, ``unl``); the regression one counts predictions. Every
function here takes any number of count arrays. It is exact while it has at most ``exact_limit``
entries: ties then count exactly as scikit-learn counts them. Beyond that it is projected onto a
fixed grid of ``GRID_BINS`` equal-width bins of the transformed score (logit for probabilities,
asinh for logits and margins), so a state never holds more than ``max(exact_limit, GRID_BINS)``
entries. Merge: if the parts hold at most ``exact_limit`` entries together, the union of keys with
counts added; otherwise the sum of the parts' grid projections. Projection is additive, which is
what lets rolling windows be differences of cumulative grid sums (``RollingSummaries``).

Compaction keys are bin centres, and a bin centre maps back onto its own bin, so compacting twice
or merging compacted with exact summaries is consistent wherever it happens (Spark or numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_BINS = 8192
EXACT_LIMIT = 4096

# Transformed-score range of the grid. Probabilities: logit clipped at +-20 (1e-9 from 0 or 1).
# Unbounded scores: asinh clipped at +-30 (|score| up to ~5e12).
TRANSFORM_RANGE = {"probability": 20.0, "unbounded": 30.0}


def scale_of(score_type: str) -> str:
    """The summary's scale for ``predictions.score_type``: probabilities, or unbounded scores
    (logits and margins)."""
    return "probability" if score_type == "probability" else "unbounded"


@dataclass(frozen=True)
class Grid:
    """The compaction grid of one score scale."""

    low: float
    width: float

    @classmethod
    def for_scale(cls, scale: str) -> Grid:
        half = TRANSFORM_RANGE[scale]
        return cls(low=-half, width=2 * half / GRID_BINS)

    def index(self, keys: np.ndarray) -> np.ndarray:
        """Bin of each key (keys already clipped into the grid's range)."""
        return np.clip(np.floor((keys - self.low) / self.width), 0, GRID_BINS - 1).astype(np.int64)

    def centres(self, keys: np.ndarray) -> np.ndarray:
        """Bin centre of each key."""
        return self.low + (self.index(keys) + 0.5) * self.width

    def project(self, keys, *counts) -> tuple[np.ndarray, ...]:
        """Dense per-bin counts of a summary, one array per count array."""
        idx = self.index(np.asarray(keys, dtype=float))
        return tuple(np.bincount(idx, weights=np.asarray(c, dtype=float), minlength=GRID_BINS) for c in counts)

    def sparse(self, *dense: np.ndarray):
        """The summary (keys = bin centres) of dense per-bin counts."""
        nonzero = np.nonzero(np.any([d > 0 for d in dense], axis=0))[0]
        return (self.low + (nonzero + 0.5) * self.width, *(d[nonzero] for d in dense))


def transform(scores: np.ndarray, scale: str) -> np.ndarray:
    """The key of a raw score (numpy twin of ``states.build.score_key``)."""
    half = TRANSFORM_RANGE[scale]
    s = np.asarray(scores, dtype=float)
    if scale == "probability":
        with np.errstate(divide="ignore"):
            t = np.log(s) - np.log1p(-s)
    else:
        t = np.arcsinh(s)
    return np.clip(t, -half, half)


def merge(parts, scale: str, exact_limit: float = EXACT_LIMIT, arity: int = 2):
    """Merge summaries [(keys, *counts), ...] into one (see the module docstring); ``arity`` is
    the number of count arrays, for the empty result.

    Examples:
        Two small binary summaries (keys, positives, negatives) that share the key 0.4: the union
        of their keys, with the counts at 0.4 added.

        >>> a = (np.array([0.1, 0.4]), np.array([0.0, 1.0]), np.array([2.0, 1.0]))
        >>> b = (np.array([0.4, 0.8]), np.array([1.0, 2.0]), np.array([0.0, 0.0]))
        >>> merge([a, b], "probability")
        (array([0.1, 0.4, 0.8]), array([0., 2., 2.]), array([2., 1., 0.]))
    """
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return tuple(np.zeros(0) for _ in range(arity + 1))
    keys = np.concatenate([p[0] for p in parts]).astype(float)
    counts = [np.concatenate([p[i] for p in parts]).astype(float) for i in range(1, len(parts[0]))]
    if len(keys) > exact_limit:
        grid = Grid.for_scale(scale)
        return grid.sparse(*grid.project(keys, *counts))
    return _sum_by_key(keys, *counts)


class RollingSummaries:
    """The merged summary of any run of consecutive buckets, in time independent of its length
    once summaries are large: windows beyond ``exact_limit`` entries are differences of
    cumulative grid projections; small ones are exact merges of their few entries.

    Args:
        buckets: per bucket, the list of its summaries (several with the ``*`` version).
    """

    def __init__(self, buckets: list[list], scale: str, exact_limit: float = EXACT_LIMIT, arity: int = 2):
        self.buckets, self.scale, self.exact_limit, self.arity = buckets, scale, exact_limit, arity
        sizes = np.array([sum(len(p[0]) for p in parts) for parts in buckets], dtype=float)
        self.cum_sizes = np.concatenate([[0.0], np.cumsum(sizes)])
        self._cum: np.ndarray | None = None  # (arity, buckets + 1, GRID_BINS)

    def _cumulative(self) -> np.ndarray:
        if self._cum is None:
            grid = Grid.for_scale(self.scale)
            dense = np.zeros((self.arity, len(self.buckets) + 1, GRID_BINS))
            for i, parts in enumerate(self.buckets):
                for part in parts:
                    dense[:, i + 1] += grid.project(*part)
            self._cum = np.cumsum(dense, axis=1)
        return self._cum

    def window(self, first: int, last: int):
        """The summary of buckets first..last (inclusive)."""
        if self.cum_sizes[last + 1] - self.cum_sizes[first] <= self.exact_limit:
            parts = [p for i in range(first, last + 1) for p in self.buckets[i]]
            return merge(parts, self.scale, self.exact_limit, self.arity)
        cum = self._cumulative()
        dense = np.round(np.maximum(cum[:, last + 1] - cum[:, first], 0.0))
        return Grid.for_scale(self.scale).sparse(*dense)


def _sum_by_key(keys, *counts):
    uniq, inverse = np.unique(keys, return_inverse=True)
    return (uniq, *(np.bincount(inverse, weights=c, minlength=len(uniq)) for c in counts))


def labeled(keys, pos, neg, _unlabeled=None):
    """The labeled part of a binary summary: (keys, pos, neg) at keys with a label."""
    keep = (pos + neg) > 0
    return keys[keep], pos[keep], neg[keep]


def inverse(keys, scale: str) -> np.ndarray:
    """Scores from summary keys (inverse of ``transform``). A probability key at the clip is the
    bound itself (0 or 1: scores within 1e-9 of it are reported as it), an unbounded one the
    clip's score."""
    keys = np.asarray(keys, dtype=float)
    if scale != "probability":
        return np.sinh(keys)
    half = TRANSFORM_RANGE[scale]
    return np.where(keys >= half, 1.0, np.where(keys <= -half, 0.0, 1.0 / (1.0 + np.exp(-keys))))


def roc_auc(keys, pos, neg) -> np.ndarray:
    """Area under the ROC curve, ties counted as one half (as scikit-learn); NaN if one class.
    Along the last axis: counts of shape (..., keys) give AUCs of shape (...).

    Examples:
        Two negatives at key 0.1, one of each label at 0.4, two positives at 0.8: of the 9
        (positive, negative) pairs, 8 are ordered right and the tie at 0.4 counts one half, so
        8.5 / 9, what scikit-learn's ``roc_auc_score`` gives on these six rows.

        >>> keys, pos, neg = np.array([0.1, 0.4, 0.8]), np.array([0, 1, 2]), np.array([2, 1, 0])
        >>> float(roc_auc(keys, pos, neg))
        0.9444444444444444

        Several summaries on the same keys at once (the labels swapped in the second), and one
        without negatives:

        >>> np.round(roc_auc(keys, np.stack([pos, neg]), np.stack([neg, pos])), 4)
        array([0.9444, 0.0556])
        >>> float(roc_auc(keys, pos, np.zeros(3)))
        nan
    """
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    n_pos, n_neg = pos.sum(axis=-1), neg.sum(axis=-1)
    neg_below = np.cumsum(neg, axis=-1) - neg
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.sum(pos * (neg_below + 0.5 * neg), axis=-1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def precision_recall(pos, neg) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each threshold from the highest key down (a labeled summary:
    every key has a label), as scikit-learn's ``precision_recall_curve`` in reverse order."""
    tps = np.cumsum(pos[::-1])
    fps = np.cumsum(neg[::-1])
    return tps / (tps + fps), tps / pos.sum()


def average_precision(keys, pos, neg) -> float:
    """scikit-learn's average_precision_score: sum of (R_n - R_{n-1}) P_n over thresholds
    from the highest score down; NaN without positives.

    Examples:
        The summary of ``roc_auc``'s example: at 0.8, precision 1 and recall 2/3; at 0.4,
        precision 3/4 and recall 1; so 2/3 * 1 + 1/3 * 3/4, as ``average_precision_score``.

        >>> keys, pos, neg = np.array([0.1, 0.4, 0.8]), np.array([0, 1, 2]), np.array([2, 1, 0])
        >>> average_precision(keys, pos, neg)
        0.9166666666666666
    """
    if pos.sum() <= 0:
        return float("nan")
    precision, recall = precision_recall(pos, neg)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
