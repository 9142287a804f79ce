"""Estimated performance before labels arrive: confidence-based performance estimation (CBPE, as in
NannyML) for binary classifiers whose scores are probabilities.

Labels come late; a window's predictions do not. If the relation between score and outcome seen in
the reference period still holds in the window (the inputs may shift, the outcome given the score
may not: covariate shift only), each prediction is positive with the probability its score had in
the reference. That probability ``p`` is the reference's isotonic calibration of the score
(pool-adjacent-violators on its labeled summary, interpolated linearly between its score values and
constant beyond them, as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``), so raw
scores need not be calibrated. With the window's predictions ``c`` at each score value, the
confusion counts are expected ones (TP = sum over positive decisions of c p, FP of c (1 - p), FN
and TN likewise over negative decisions) and the metrics follow from them; the AUC is that of the
fractional weights c p (positive) and c (1 - p) (negative).

The interval is the sampling spread of the metric the labels will realise, each label an
independent Bernoulli(p): it says how far the realised value may fall from the estimate by chance,
not how wrong the assumption may be. A concept shift (the outcome given the score changes) moves
the realised value outside it; the labeled metrics show that once labels mature, and
``reference_calibration_error`` says how far the raw scores already were from probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfmon_spark.metrics import (
    histogram,
    intervals,
    proxies,  # (registers the proxies first)
)
from perfmon_spark.metrics.common import ratio
from perfmon_spark.metrics.registry import Metric, register_metric

CALIBRATION_BINS = 10
FIELDS = ("scores", "reference_labeled_scores", "threshold")


def isotonic(values, pos, neg) -> np.ndarray:
    """Non-decreasing least-squares fit of the positive rate pos / (pos + neg) at each of the sorted
    score ``values``, weighted by pos + neg (pool adjacent violators); the fit depends on the
    values' order only. An entry without labels takes its pooled neighbours' value.

    Returns:
        The calibrated probability at each value (NaN everywhere without labels).
    """
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    sums: list[float] = []  # per block: positives, weight (labels) and entries
    weights: list[float] = []
    sizes: list[int] = []
    for p, w in zip(pos.tolist(), (pos + neg).tolist()):
        sums.append(p)
        weights.append(w)
        sizes.append(1)
        # the last two blocks violate (or tie) when mean[-2] >= mean[-1]: pool them
        while len(sums) > 1 and sums[-2] * weights[-1] >= sums[-1] * weights[-2]:
            p, w, n = sums.pop(), weights.pop(), sizes.pop()
            sums[-1] += p
            weights[-1] += w
            sizes[-1] += n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.repeat(np.array(sums) / np.array(weights), sizes)


def calibration(reference) -> tuple[np.ndarray, np.ndarray] | None:
    """The isotonic map of a reference's labeled summary (values, pos, neg; values sorted
    ascending), as (values, calibrated probabilities) over its labeled values; None without one."""
    keys, pos, neg = (np.asarray(a, dtype=float) for a in reference)
    keep = (pos + neg) > 0
    if not keep.any():
        return None
    return keys[keep], isotonic(keys[keep], pos[keep], neg[keep])


def calibrated(fit: tuple[np.ndarray, np.ndarray] | None, values) -> np.ndarray:
    """Calibrated probability at each score value of a window: the map ``fit`` (``calibration``)
    interpolated linearly between the reference's values and constant beyond them; NaN without
    a fit."""
    values = np.asarray(values, dtype=float)
    if fit is None:
        return np.full(values.shape, np.nan)
    return np.interp(values, *fit)


def calibration_error(values, pos, neg) -> float:
    """Expected calibration error of raw scores over labeled rows: sum over ``CALIBRATION_BINS``
    equal-width bins of [0, 1] of n_b / N |mean score - positive rate| (a score of 1 in the last
    bin); NaN without labeled rows."""
    values, pos, neg = (np.asarray(a, dtype=float) for a in (values, pos, neg))
    total = (pos + neg).sum()
    if total <= 0:
        return float("nan")
    bins = np.clip(np.floor(values * CALIBRATION_BINS), 0, CALIBRATION_BINS - 1).astype(np.int64)
    score_sum = np.bincount(bins, weights=values * (pos + neg), minlength=CALIBRATION_BINS)
    positives = np.bincount(bins, weights=pos, minlength=CALIBRATION_BINS)
    return float(np.abs(score_sum - positives).sum() / total)


@dataclass(frozen=True)
class Expected:
    """Per window: the expected confusion counts, the variances of the realised TP and FN (sums of
    c p (1 - p) over positive and negative decisions) and the estimated AUC; NaN without a
    reference."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    var_tp: np.ndarray
    var_fn: np.ndarray
    auc: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def decided_positive(self) -> np.ndarray:
        return self.tp + self.fp


_MEMO = "_expected"  # where a state keeps its expected counts


def expected(s) -> Expected:
    """The expected counts of every window of a state (see the module docstring), computed once
    per state: every estimate's value and interval read them. Windows that share a reference
    period (the same summary object) share its isotonic fit."""
    if _MEMO not in s:
        s[_MEMO] = _expected(s)
    return s[_MEMO]


def _expected(s) -> Expected:
    threshold = float(s["threshold"])
    rows = []
    fits: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
    for (values, counts), reference in zip(s["scores"], s["reference_labeled_scores"]):
        if reference is None:
            rows.append([np.nan] * 7)
            continue
        values, counts = np.asarray(values, dtype=float), np.asarray(counts, dtype=float)
        if id(reference) not in fits:
            fits[id(reference)] = calibration(reference)
        p = calibrated(fits[id(reference)], values)
        yes, no = counts * p, counts * (1 - p)
        decided = values >= threshold
        spread = yes * (1 - p)
        rows.append(
            [
                yes[decided].sum(),
                no[decided].sum(),
                yes[~decided].sum(),
                no[~decided].sum(),
                spread[decided].sum(),
                spread[~decided].sum(),
                histogram.roc_auc(values, yes, no),
            ]
        )
    columns = np.array(rows, dtype=float).reshape(-1, 7).T
    return Expected(*columns)


def _accuracy(e: Expected):
    return ratio(e.tp + e.tn, e.n), ratio(np.sqrt(e.var_tp + e.var_fn), e.n)


def _precision(e: Expected):
    return ratio(e.tp, e.decided_positive), ratio(np.sqrt(e.var_tp), e.decided_positive)


def _recall(e: Expected):
    # R = A / (A + B), A = TP and B = FN independent: dR/dA = B / (A + B)^2, dR/dB = -A / (A + B)^2
    positives = e.tp + e.fn
    spread = np.sqrt(e.fn**2 * e.var_tp + e.tp**2 * e.var_fn)
    return ratio(e.tp, positives), ratio(spread, positives**2)


def _f1(e: Expected):
    # F = 2A / D, D = decided positives + A + B (the decisions are known): dF/dA = 2 (n_pp + B) / D^2,
    # dF/dB = -2A / D^2
    d = e.decided_positive + e.tp + e.fn
    spread = 2 * np.sqrt((e.decided_positive + e.fn) ** 2 * e.var_tp + e.tp**2 * e.var_fn)
    return ratio(2 * e.tp, d), ratio(spread, d**2)


def _normal(estimate_and_sd):
    def finalise(s) -> np.ndarray:
        return estimate_and_sd(expected(s))[0]

    def interval(s, z):
        value, sd = estimate_and_sd(expected(s))
        return np.clip(value - z * sd, 0.0, 1.0), np.clip(value + z * sd, 0.0, 1.0)

    return finalise, interval


def _auc_interval(s, z):
    e = expected(s)
    return intervals.hanley_mcneil(e.auc, e.tp + e.fn, e.fp + e.tn, z)


_NULL = "until the reference period has ended with mature labels"
_BERNOULLI = "each label Bernoulli(p); clipped to [0, 1]"
_ESTIMATES = (
    (
        "estimated_accuracy",
        *_normal(_accuracy),
        f"normal, sd sqrt(sum c p (1 - p)) / N ({_BERNOULLI})",
        "expected (TP + TN) / predictions, p the reference's isotonic calibration of the score (CBPE); "
        "null without predictions or",
    ),
    (
        "estimated_precision",
        *_normal(_precision),
        f"normal, sd sqrt(sum c p (1 - p) over positive decisions) / positive decisions ({_BERNOULLI})",
        "expected TP / positive decisions (CBPE); null without positive decisions or",
    ),
    (
        "estimated_recall",
        *_normal(_recall),
        f"normal, delta method on TP / (TP + FN) ({_BERNOULLI})",
        "expected TP / expected positives (CBPE); null without expected positives or",
    ),
    (
        "estimated_f1",
        *_normal(_f1),
        f"normal, delta method on 2 TP / (positive decisions + TP + FN) ({_BERNOULLI})",
        "2 TP / (2 TP + FP + FN) of the expected counts (CBPE); null when that is 0 / 0 or",
    ),
    (
        "estimated_roc_auc",
        lambda s: expected(s).auc,
        _auc_interval,
        "Hanley-McNeil with the expected positives and negatives as class sizes",
        "AUC of weights c p (positive) and c (1 - p) (negative) at each score (CBPE); null with one class or",
    ),
)

for _name, _finalise, _interval, _method, _definition in _ESTIMATES:
    register_metric(
        Metric(
            name=_name,
            problem_type="binary",
            larger_is_better=True,
            fields=FIELDS,
            finalise=_finalise,
            interval=_interval,
            interval_method=_method,
            definition=f"{_definition} {_NULL}",
            needs="probability",
            labeled=False,
        )
    )


def _reference_calibration_error(s) -> np.ndarray:
    return np.array(
        [np.nan if r is None else calibration_error(*r) for r in s["reference_labeled_scores"]], dtype=float
    )


register_metric(
    Metric(
        name="reference_calibration_error",
        problem_type="binary",
        larger_is_better=False,
        fields=("reference_labeled_scores",),
        finalise=_reference_calibration_error,
        interval=None,
        interval_method="none (a property of the reference; use a threshold without confidence)",
        definition=f"expected calibration error of the raw scores over the reference period's labeled rows "
        f"({CALIBRATION_BINS} equal-width bins); null {_NULL}",
        needs="probability",
        labeled=False,
    )
)


def _reliable(s) -> np.ndarray:
    """1 where a window's estimates may be trusted: its reference's raw scores are calibrated
    within ``max_calibration_error`` and its scores have not shifted from the reference's by a PSI
    above ``psi_threshold`` (a shift large enough to doubt that only the inputs moved); else 0;
    NaN without a reference."""
    errors = _reference_calibration_error(s)
    shifts = proxies.score_distance("psi")(s)
    ok = (errors <= float(s["max_calibration_error"])) & ~(shifts > float(s["psi_threshold"]))
    return np.where(np.isnan(errors), np.nan, ok.astype(float))


register_metric(
    Metric(
        name="estimates_reliable",
        problem_type="binary",
        larger_is_better=True,
        fields=("reference_labeled_scores", "scores", "reference_scores", "max_calibration_error", "psi_threshold"),
        finalise=_reliable,
        interval=None,
        interval_method="none (a flag)",
        definition="1 where the estimates may be trusted: reference_calibration_error <= "
        "estimation.max_calibration_error and score PSI <= drift.psi_threshold; else 0; null " + _NULL,
        needs="probability",
        labeled=False,
    )
)

ESTIMATES = tuple(e[0] for e in _ESTIMATES)
ESTIMATED_METRICS = (*ESTIMATES, "reference_calibration_error", "estimates_reliable")
"""The metrics that read the reference period's labeled summary (``reference_labeled_scores``)."""
