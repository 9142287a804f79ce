"""The mergeable score summary behind roc_auc and pr_auc.

A summary is three aligned arrays sorted by key: ``keys`` (a monotone transform of the score),
``pos`` and ``neg`` (label counts at that key). It is exact while it has at most ``exact_limit``
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

    def project(self, keys, pos, neg) -> tuple[np.ndarray, np.ndarray]:
        """Dense per-bin (pos, neg) counts of a summary."""
        idx = self.index(np.asarray(keys, dtype=float))
        return (
            np.bincount(idx, weights=np.asarray(pos, dtype=float), minlength=GRID_BINS),
            np.bincount(idx, weights=np.asarray(neg, dtype=float), minlength=GRID_BINS),
        )

    def sparse(self, dense_pos: np.ndarray, dense_neg: np.ndarray):
        """The summary (keys = bin centres) of dense per-bin counts."""
        nonzero = np.nonzero((dense_pos > 0) | (dense_neg > 0))[0]
        return self.low + (nonzero + 0.5) * self.width, dense_pos[nonzero], dense_neg[nonzero]


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


def merge(parts, scale: str, exact_limit: float = EXACT_LIMIT):
    """Merge summaries [(keys, pos, neg), ...] into one (see the module docstring)."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        empty = np.zeros(0)
        return empty, empty, empty
    keys = np.concatenate([p[0] for p in parts]).astype(float)
    pos = np.concatenate([p[1] for p in parts]).astype(float)
    neg = np.concatenate([p[2] for p in parts]).astype(float)
    if len(keys) > exact_limit:
        grid = Grid.for_scale(scale)
        return grid.sparse(*grid.project(keys, pos, neg))
    return _sum_by_key(keys, pos, neg)


class RollingSummaries:
    """The merged summary of any run of consecutive buckets, in time independent of its length
    once summaries are large: windows beyond ``exact_limit`` entries are differences of
    cumulative grid projections; small ones are exact merges of their few entries.

    Args:
        buckets: per bucket, the list of its summaries (several with the ``*`` version).
    """

    def __init__(self, buckets: list[list], scale: str, exact_limit: float = EXACT_LIMIT):
        self.buckets, self.scale, self.exact_limit = buckets, scale, exact_limit
        sizes = np.array([sum(len(p[0]) for p in parts) for parts in buckets], dtype=float)
        self.cum_sizes = np.concatenate([[0.0], np.cumsum(sizes)])
        self._cum: tuple[np.ndarray, np.ndarray] | None = None

    def _cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cum is None:
            grid = Grid.for_scale(self.scale)
            pos = np.zeros((len(self.buckets) + 1, GRID_BINS))
            neg = np.zeros((len(self.buckets) + 1, GRID_BINS))
            for i, parts in enumerate(self.buckets):
                for part in parts:
                    p, q = grid.project(*part)
                    pos[i + 1] += p
                    neg[i + 1] += q
            self._cum = (np.cumsum(pos, axis=0), np.cumsum(neg, axis=0))
        return self._cum

    def window(self, first: int, last: int):
        """The summary of buckets first..last (inclusive)."""
        if self.cum_sizes[last + 1] - self.cum_sizes[first] <= self.exact_limit:
            return merge([p for i in range(first, last + 1) for p in self.buckets[i]], self.scale, self.exact_limit)
        pos, neg = self._cumulative()
        dense_pos = np.maximum(pos[last + 1] - pos[first], 0.0)
        dense_neg = np.maximum(neg[last + 1] - neg[first], 0.0)
        return Grid.for_scale(self.scale).sparse(np.round(dense_pos), np.round(dense_neg))


def _sum_by_key(keys, pos, neg):
    uniq, inverse = np.unique(keys, return_inverse=True)
    return (
        uniq,
        np.bincount(inverse, weights=pos, minlength=len(uniq)),
        np.bincount(inverse, weights=neg, minlength=len(uniq)),
    )


def roc_auc(keys, pos, neg) -> float:
    """Area under the ROC curve, ties counted as one half (as scikit-learn); NaN if one class."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def average_precision(keys, pos, neg) -> float:
    """scikit-learn's average_precision_score: sum of (R_n - R_{n-1}) P_n over thresholds
    from the highest score down; NaN without positives."""
    n_pos = pos.sum()
    if n_pos <= 0:
        return float("nan")
    tps = np.cumsum(pos[::-1])
    fps = np.cumsum(neg[::-1])
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
