"""The mergeable score summary behind roc_auc and pr_auc.

A summary is three aligned arrays sorted by key: ``keys`` (a monotone transform of the score),
``pos`` and ``neg`` (label counts at that key). It is exact while a group has at most
``exact_limit`` distinct scores: ties then count exactly as scikit-learn counts them. Beyond that
it is compacted onto a fixed grid of ``GRID_BINS`` equal-width bins of the transformed score
(logit for probabilities, asinh for logits and margins), so a state never holds more than
``max(exact_limit, GRID_BINS)`` entries. Merge = union of keys with counts added, then compact.

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


@dataclass(frozen=True)
class Grid:
    """The compaction grid of one score scale."""

    low: float
    width: float

    @classmethod
    def for_scale(cls, scale: str) -> "Grid":
        half = TRANSFORM_RANGE[scale]
        return cls(low=-half, width=2 * half / GRID_BINS)

    def centres(self, keys: np.ndarray) -> np.ndarray:
        """Bin centre of each key (keys already clipped into the grid's range)."""
        idx = np.clip(np.floor((keys - self.low) / self.width), 0, GRID_BINS - 1)
        return self.low + (idx + 0.5) * self.width


def transform(scores: np.ndarray, scale: str) -> np.ndarray:
    """The key of a raw score (numpy twin of ``states.spark_exprs.score_key``)."""
    half = TRANSFORM_RANGE[scale]
    s = np.asarray(scores, dtype=float)
    if scale == "probability":
        with np.errstate(divide="ignore"):
            t = np.log(s) - np.log1p(-s)
    else:
        t = np.arcsinh(s)
    return np.clip(t, -half, half)


def merge(parts, scale: str, exact_limit: float = EXACT_LIMIT):
    """Merge summaries [(keys, pos, neg), ...] into one, compacting beyond ``exact_limit``."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        empty = np.zeros(0)
        return empty, empty, empty
    keys = np.concatenate([p[0] for p in parts]).astype(float)
    pos = np.concatenate([p[1] for p in parts]).astype(float)
    neg = np.concatenate([p[2] for p in parts]).astype(float)
    keys, pos, neg = _sum_by_key(keys, pos, neg)
    if len(keys) > exact_limit:
        keys, pos, neg = _sum_by_key(Grid.for_scale(scale).centres(keys), pos, neg)
    return keys, pos, neg


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
