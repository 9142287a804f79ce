"""Estimated performance before labels arrive: confidence-based performance estimation (CBPE, as in
NannyML) for binary classifiers whose scores are probabilities.

Labels come late; a window's predictions do not. If the relation between score and outcome seen in
the reference period still holds in the window (the inputs may shift, the outcome given the score
may not: covariate shift only), each prediction is positive with the probability its score had in
the reference. That probability ``p`` is the reference's calibration of the score (``calibration``):
the isotonic fit of its labeled summary (pool-adjacent-violators, interpolated linearly between its
score values and constant beyond them, as scikit-learn's ``IsotonicRegression(out_of_bounds=
"clip")``), cross-fitted: an isotonic fit is too extreme at both ends of the scores (its lowest
block's rate is a minimum of running means, its highest a maximum), most with few labels, which
biased every estimate upwards. With ``FOLDS`` folds, each fold's labels are compared with the fit
of the other folds, and the mean of these out-of-fold residuals in each tenth of the labeled rows
(``CORRECTION_BINS``) is added to the fit there. With the window's predictions ``c`` at each
score value, the confusion counts are expected ones (TP = sum over positive decisions of c p, FP
of c (1 - p), FN and TN likewise over negative decisions) and the metrics follow from them; the
AUC is that of the fractional weights c p (positive) and c (1 - p) (negative).

The interval is normal, its variance the sum of two: the sampling spread of the metric the labels
will realise given ``p`` (each label an independent Bernoulli(p)), and the spread of the estimate
over ``REPLICATES`` bootstrap refits of the calibration (the reference's labeled counts resampled,
the cross-fitted map refitted, the metric estimated again; the resampling is seeded by the
summary's bytes, so a rerun gives the same interval). It says how far the realised value may fall
from the estimate by chance, not how wrong the assumption may be: a concept shift (the outcome
given the score changes) moves the realised value outside it, which the back-test of
``estimates_reliable`` detects once labels mature. ``reference_calibration_error`` says how far the
raw scores were from probabilities (information only: the estimates use the calibrated scores).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from perfmon_spark.metrics import (
    histogram,
    intervals,
    proxies,  # noqa: F401  (registers the proxies first)
)
from perfmon_spark.metrics.common import ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType

CALIBRATION_BINS = 10
FOLDS = 5
CORRECTION_BINS = 10
REPLICATES = 100
REPLICATE_VALUES = 512  # a bootstrap refit pools a larger reference's values into this many groups
FIELDS = ("scores", "reference_labeled_scores", "threshold")
ROUND_TRIP = 1e-12  # relative: how far below itself a score can come back from its summary key


def isotonic(pos, neg) -> np.ndarray:
    """Non-decreasing least-squares fit of the positive rate pos / (pos + neg) at each of a summary's
    values (in order of score), weighted by pos + neg, along the last axis: a batch of summaries
    over the same values is fitted at once. Pool adjacent violators, every violating pair of
    blocks in each pass (pooling in any order gives the one fit). An entry without labels joins
    the block before it (the first block if none).

    Returns:
        The fitted rate at each value (NaN everywhere in a summary without labels).
    """
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    m = pos.shape[-1]
    weight = (pos + neg).reshape(-1, m)
    start = ((weight > 0) & (np.cumsum(weight, axis=1) > weight)).ravel()  # labeled, after a label
    start[::m] = True
    flat_pos, flat_weight = pos.ravel(), weight.ravel()
    while True:
        first = np.flatnonzero(start)
        positives, labels = np.add.reduceat(flat_pos, first), np.add.reduceat(flat_weight, first)
        pool = (first[1:] % m > 0) & (positives[:-1] * labels[1:] >= positives[1:] * labels[:-1])
        if not pool.any():
            break
        start[first[1:][pool]] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.repeat(positives / labels, np.diff(np.r_[first, weight.size])).reshape(pos.shape)


def _interpolated(keys, fits, weight) -> np.ndarray:
    """``fits`` (along the last axis, at ``keys``) with each value without labels (``weight``
    0) replaced by the linear interpolation between its nearest labeled neighbours, or the
    nearest one's value beyond them: the map ``np.interp`` draws through the labeled values."""
    m = len(keys)
    at = np.broadcast_to(np.arange(m), weight.shape)
    labeled = weight > 0
    before = np.maximum.accumulate(np.where(labeled, at, -1), axis=-1)
    after = np.flip(np.minimum.accumulate(np.flip(np.where(labeled, at, m), -1), axis=-1), -1)
    lo = np.clip(np.where(before < 0, after, before), 0, m - 1)
    hi = np.clip(np.where(after >= m, lo, after), 0, m - 1)
    span = keys[hi] - keys[lo]
    share = np.where(span > 0, (keys - keys[lo]) / np.where(span > 0, span, 1.0), 0.0)
    low, high = np.take_along_axis(fits, lo, -1), np.take_along_axis(fits, hi, -1)
    return low + (high - low) * share


def folds(pos, neg, k: int = FOLDS) -> np.ndarray:
    """The labeled rows of a summary (or a batch, along the last axis) dealt in turn to ``k``
    folds, in order of score (at a score, positives first): shape (k, 2, ..., values), the
    positives and negatives of each fold at each value. Dealt, not drawn, so every fold spans
    the scores and the split needs no seed."""
    pos = np.asarray(pos, dtype=float)
    cells = np.rint(np.stack([pos, np.asarray(neg, dtype=float)], axis=-1)).astype(np.int64)
    end = np.cumsum(cells.reshape(*pos.shape[:-1], -1), axis=-1)  # (value, class) in row order
    start = end - cells.reshape(end.shape)
    f = np.arange(k).reshape(-1, *([1] * end.ndim))
    dealt = (end - f + k - 1) // k - (start - f + k - 1) // k  # rows j in [start, end) with j % k == f
    return np.moveaxis(dealt.reshape(k, *pos.shape, 2), -1, 1).astype(float)


def _shares(weight, bins: int) -> np.ndarray:
    """The share (0 to ``bins`` - 1) of the labeled rows, in order of score, that each value's
    rows fall in (by their middle row), along the last axis."""
    middle = ratio(np.cumsum(weight, axis=-1) - weight / 2, weight.sum(axis=-1, keepdims=True))
    return np.minimum((np.nan_to_num(middle) * bins).astype(np.int64), bins - 1)


def calibration(keys, pos, neg) -> np.ndarray:
    """The cross-fitted calibration (see the module docstring) at ``keys`` of a labeled summary,
    or of a batch of them along the last axis (pos and neg: counts at ``keys``); NaN everywhere
    in a summary without labels."""
    keys = np.asarray(keys, dtype=float)
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    held = folds(pos, neg)
    trained = np.stack([pos, neg]) - held  # (folds, 2, ..., values): each fold's complement
    out_of_fold = _interpolated(keys, isotonic(trained[:, 0], trained[:, 1]), trained.sum(axis=1))
    taught = trained.sum(axis=(1, -1))[..., None] > 0  # (a single labeled row leaves a fold nothing)
    residual = np.where(taught, held[:, 0] - held.sum(axis=1) * out_of_fold, 0.0).sum(axis=0)
    tested = np.where(taught, held.sum(axis=1), 0.0).sum(axis=0)
    weight = pos + neg
    rows = weight.reshape(-1, len(keys))
    tenth = _shares(rows, CORRECTION_BINS)
    index = (np.arange(len(rows))[:, None] * CORRECTION_BINS + tenth).ravel()

    def per_tenth(x):
        return np.bincount(index, np.ravel(x), len(rows) * CORRECTION_BINS).reshape(len(rows), -1)

    shift = np.take_along_axis(np.nan_to_num(ratio(per_tenth(residual), per_tenth(tested))), tenth, -1)
    return _interpolated(keys, np.clip(isotonic(pos, neg) + shift.reshape(pos.shape), 0.0, 1.0), weight)


def _labeled(reference) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of a labeled summary (values, pos, neg) that hold a label, as float arrays."""
    keys, pos, neg = (np.asarray(a, dtype=float) for a in reference)
    keep = (pos + neg) > 0
    return keys[keep], pos[keep], neg[keep]


def _pooled(keys, pos, neg, groups: int):
    """A labeled summary with at most ``groups`` values: consecutive values pooled into groups
    of about equal labels, each at its labels' mean value (a refit's cost grows with values)."""
    if len(keys) <= groups:
        return keys, pos, neg
    weight = pos + neg
    group = _shares(weight, groups)
    labels = np.bincount(group, weight, groups)
    kept = labels > 0
    value, pos, neg = (np.bincount(group, w, groups)[kept] for w in (keys * weight, pos, neg))
    return value / labels[kept], pos, neg


def digest(reference) -> bytes:
    """A key of a labeled summary's contents: it seeds the summary's bootstrap and memoises its
    calibrations (``CALIBRATIONS``)."""
    return hashlib.blake2b(np.concatenate(_labeled(reference)).tobytes(), digest_size=16).digest()


@dataclass(frozen=True)
class Calibrations:
    """A reference's calibration, over its labeled score values, and its ``REPLICATES`` bootstrap
    refits, over the values they were fitted on (``calibrations``)."""

    values: np.ndarray
    fit: np.ndarray
    refit_values: np.ndarray
    refits: np.ndarray  # (REPLICATES, refit values)

    def at(self, scores) -> np.ndarray:
        """The calibrated probability of each score, under the calibration (row 0) and under each
        refit: shape (1 + REPLICATES, scores)."""
        return np.vstack(
            [calibrated((self.values, self.fit), scores), calibrated((self.refit_values, self.refits), scores)]
        )


def calibrations(reference) -> Calibrations | None:
    """The calibration of a labeled summary (values, pos, neg; values ascending) and its
    ``REPLICATES`` bootstrap refits; None without labels. A refit is the calibration of the
    labeled counts resampled (multinomial, as many labels, seeded by the summary's ``digest``);
    beyond ``REPLICATE_VALUES`` values, of the summary pooled to as many."""
    keys, pos, neg = _labeled(reference)
    if not len(keys):
        return None
    pooled, *cells = _pooled(keys, pos, neg, REPLICATE_VALUES)
    cells = np.concatenate(cells)
    rng = np.random.default_rng(int.from_bytes(digest(reference)[:8], "little"))
    draws = rng.multinomial(round(cells.sum()), cells / cells.sum(), size=REPLICATES).astype(float)
    refits = calibration(pooled, draws[:, : len(pooled)], draws[:, len(pooled) :])
    return Calibrations(keys, calibration(keys, pos, neg), pooled, refits)


def calibrated(fit: tuple[np.ndarray, np.ndarray] | None, values) -> np.ndarray:
    """Each map of ``fit`` (values and a map over them, or a stack of maps along the last axis)
    at the score ``values`` of a window: interpolated linearly between the fit's values and
    constant beyond them (as ``np.interp``); NaN without a fit."""
    values = np.asarray(values, dtype=float)
    if fit is None:
        return np.full(values.shape, np.nan)
    keys, maps = fit
    if len(keys) == 1:
        return np.repeat(maps[..., :1], len(values), axis=-1)
    x = np.clip(values, keys[0], keys[-1])
    right = np.clip(np.searchsorted(keys, x, side="right"), 1, len(keys) - 1)
    share = (x - keys[right - 1]) / (keys[right] - keys[right - 1])
    return maps[..., right - 1] * (1 - share) + maps[..., right] * share


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
    """Confusion counts of each window, the variances of the realised TP and FN (sums of
    c p (1 - p) over positive and negative decisions) and the AUC, of shape (1 + REPLICATES,
    windows): row 0 under the calibration, the others under its bootstrap refits (``counts``).
    NaN without a reference."""

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


def counts(values, yes, no, threshold: float) -> np.ndarray:
    """The seven ``Expected`` figures from the positive (``yes``) and negative (``no``) weights
    at each score value, along the last axis: expected ones from c p and c (1 - p); realised ones
    from the labels (whose variances mean nothing).

    A value is decided positive at or above the threshold, as the job decides each row from its
    raw score. The values are the scores back from their summary keys (logit, then its inverse),
    which can land an ulp or so below the score: a threshold that is itself a score value (0.75,
    with scores in hundredths) would otherwise decide its own value negative, against the
    labeled metrics. So a value within ``ROUND_TRIP`` (relative) below the threshold is at it."""
    decided = np.asarray(values) >= threshold - ROUND_TRIP * max(1.0, abs(threshold))
    spread = ratio(yes * no, yes + no)  # c p (1 - p)
    return np.stack(
        [
            yes[..., decided].sum(-1),
            no[..., decided].sum(-1),
            yes[..., ~decided].sum(-1),
            no[..., ~decided].sum(-1),
            np.nan_to_num(spread[..., decided]).sum(-1),
            np.nan_to_num(spread[..., ~decided]).sum(-1),
            histogram.roc_auc(values, yes, no),
        ]
    )


_MEMO = "_expected"  # where a state keeps its expected counts
CALIBRATIONS = "calibrations"  # optional: a dict (digest -> Calibrations) that states share as a memo


def expected(s) -> Expected:
    """The expected counts of every window of a state (see the module docstring), computed once
    per state: every estimate's value and interval read them. Windows whose reference summaries
    are equal share its calibrations, and so do states given the same ``CALIBRATIONS`` dict."""
    if _MEMO not in s:
        s[_MEMO] = _expected(s)
    return s[_MEMO]


def _expected(s) -> Expected:
    threshold = float(s["threshold"])
    windows = []
    fits = s.get(CALIBRATIONS, {})
    for (values, c), reference in zip(s["scores"], s["reference_labeled_scores"]):
        key = None if reference is None else digest(reference)
        if key is not None and key not in fits:
            fits[key] = calibrations(reference)
        if key is None or fits[key] is None:
            windows.append(np.full((7, 1 + REPLICATES), np.nan))
            continue
        p = fits[key].at(values)
        c = np.asarray(c, dtype=float)
        windows.append(counts(values, c * p, c * (1 - p), threshold))
    return Expected(*(np.stack(windows, axis=-1) if windows else np.zeros((7, 1 + REPLICATES, 0))))


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


def _roc_auc(e: Expected):
    return e.auc, intervals.hanley_mcneil_se(e.auc, e.tp + e.fn, e.fp + e.tn)


def _spread(refits) -> np.ndarray:
    """The sd of each window's value over the bootstrap refits (those where it is defined)."""
    defined = ~np.isnan(refits)
    n = defined.sum(axis=0)
    deviation = np.where(defined, refits - ratio(np.where(defined, refits, 0.0).sum(axis=0), n), 0.0)
    return np.sqrt(ratio((deviation**2).sum(axis=0), n - 1))


_NULL = "until the reference period has ended with mature labels"
_SD = (
    "its variance that of the labels given p (each Bernoulli(p)) plus the calibration's (bootstrap); clipped to [0, 1]"
)
_ESTIMATES = (
    (
        "estimated_accuracy",
        _accuracy,
        f"normal, {_SD}",
        "expected (TP + TN) / predictions, p the reference's cross-fitted isotonic calibration of the score "
        "(CBPE); null without predictions or",
    ),
    (
        "estimated_precision",
        _precision,
        f"normal, {_SD}",
        "expected TP / positive decisions (CBPE); null without positive decisions or",
    ),
    (
        "estimated_recall",
        _recall,
        f"normal, delta method on TP / (TP + FN), {_SD}",
        "expected TP / expected positives (CBPE); null without expected positives or",
    ),
    (
        "estimated_f1",
        _f1,
        f"normal, delta method on 2 TP / (positive decisions + TP + FN), {_SD}",
        "2 TP / (2 TP + FP + FN) of the expected counts (CBPE); null when that is 0 / 0 or",
    ),
    (
        "estimated_roc_auc",
        _roc_auc,
        f"normal, Hanley-McNeil with the expected positives and negatives as class sizes, {_SD}",
        "AUC of weights c p (positive) and c (1 - p) (negative) at each score (CBPE); null with one class or",
    ),
)

_METRICS = {name: metric for name, metric, *_ in _ESTIMATES}


def estimate(name: str, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, Bernoulli sd, calibration sd) of an estimated metric in each window of a state:
    its value and the sd of the value the labels will realise given the calibration, and the sd
    of its value over the calibration's bootstrap refits."""
    value, sd = _METRICS[name](expected(s))
    return value[0], sd[0], _spread(value[1:])


def _interval(name: str):
    """The estimate's normal interval, clipped to [0, 1]; its standard error sqrt(Bernoulli sd^2
    + calibration sd^2), from before the clipping."""

    def interval(s, z):
        value, bernoulli, calibration_sd = estimate(name, s)
        return intervals.symmetric(value, np.sqrt(bernoulli**2 + calibration_sd**2), z, 0.0, 1.0)

    return interval


for _name, _metric, _method, _definition in _ESTIMATES:
    register_metric(
        Metric(
            name=_name,
            problem_type=ProblemType.BINARY,
            larger_is_better=True,
            fields=FIELDS,
            finalise=lambda s, metric=_metric: metric(expected(s))[0][0],
            interval=_interval(_name),
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
        problem_type=ProblemType.BINARY,
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


# --- the back-test ----------------------------------------------------------------------------------

BACKTEST_P_VALUE = "backtest_p_value"  # what ``windows`` gives ``estimates_reliable``: ``backtested``

NODES = 32  # Gauss-Hermite nodes over the calibration's error, shared by the back-tested windows
ROUNDING = 1e-9  # an error this small is no error (an estimate with no spread that is right)


def backtest(s) -> np.ndarray:
    """The estimates of each window's labeled rows (``labeled_scores``), made as if they had no
    label, against the values their labels realise: shape (3, estimates, windows), per estimate
    (in ``ESTIMATES`` order) the error (realised minus estimated; NaN where either is undefined),
    the estimate's Bernoulli sd and its calibration's sd."""
    threshold = float(s["threshold"])
    labeled = s["labeled_scores"]
    blind = {
        "scores": [(keys, pos + neg) for keys, pos, neg in labeled],
        "reference_labeled_scores": s["reference_labeled_scores"],
        "threshold": threshold,
        CALIBRATIONS: s.get(CALIBRATIONS, {}),
    }
    realised = [counts(keys, pos, neg, threshold) for keys, pos, neg in labeled]
    realised = Expected(*(np.stack(realised, axis=-1)[:, None] if realised else np.zeros((7, 1, 0))))
    out = []
    for name, metric in _METRICS.items():
        value, bernoulli, calibration_sd = estimate(name, blind)
        error = metric(realised)[0][0] - value
        out.append((np.where(np.isnan(bernoulli + calibration_sd), np.nan, error), bernoulli, calibration_sd))
    return np.array(out, dtype=float).transpose(1, 0, 2)


_normal_cdf = np.frompyfunc(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)), 1, 1)


def _within(t, b, c, u) -> np.ndarray:
    """P(|c u + e| <= t), e normal with sd ``b`` (arrays broadcast; b = 0: whether |c u| <= t)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = _normal_cdf((t - c * u) / b) - _normal_cdf((-t - c * u) / b)
    return np.where(b > 0, inside, np.abs(c * u) <= t).astype(float)


def backtest_p_value(error, bernoulli, calibration_sd, z: float, k: int) -> np.ndarray:
    """For each window of a sequence (one estimate's ``backtest`` over the windows of a version's
    granularity, in time order; ``error`` NaN where not back-tested), how likely the errors of the
    back-tested windows among the last ``k`` ending with it are if the estimator's model holds;
    NaN where none was back-tested. Two tests, the smaller p doubled (Bonferroni):

    - as many misses (an error beyond the interval, ``z`` sds), which persistent moderate errors
      pile up;
    - a miss as far out as the farthest, in sds, which one day of a concept shift can show.

    Not plain binomial chances: every estimate errs with its calibration, and windows that share
    a reference share its error, so their misses come together. Given the calibration's error
    (``calibration_sd`` times U, U standard normal, one U for every window: the most dispersed
    case, so the tests err on the safe side), the windows' errors are independent normals with
    their Bernoulli sds; the number of misses is then Poisson-binomial (exact, by recursion over
    the windows), and each chance is averaged over U (Gauss-Hermite, ``NODES`` nodes)."""
    error, b, c = (np.asarray(a, dtype=float) for a in (error, bernoulli, calibration_sd))
    tested = ~np.isnan(error)
    spread = np.hypot(b, c)
    far = np.where(tested, ratio(np.abs(error), spread), 0.0)
    far = np.where(np.isnan(far), np.where(np.abs(error) > ROUNDING, np.inf, 0.0), far)  # no spread
    ends = np.arange(len(error))
    first = np.maximum(ends + 1 - k, 0)
    cum = np.concatenate([[0], np.cumsum(tested)])
    count = cum[ends + 1] - cum[first]
    missed = np.concatenate([[0], np.cumsum(far > z)])
    seen = missed[ends + 1] - missed[first]
    farthest = np.array([far[a : e + 1].max() for a, e in zip(first, ends)])
    u, weight = np.polynomial.hermite_e.hermegauss(NODES)
    q = np.where(tested, 1 - _within(z * spread, b, c, u[:, None]), 0.0).T  # (windows, nodes): P(miss | U)
    top = int(seen.max(initial=0))
    chance = np.zeros((len(ends), NODES, top + 1))  # P(misses = j), the last entry P(misses >= top)
    chance[..., 0] = 1.0
    closer = np.ones((len(ends), NODES))  # P(every error within the farthest)
    for j in range(k):  # the j-th window of each period
        unit = np.maximum(ends - k + 1 + j, 0)
        inside = (ends - k + 1 + j >= 0) & tested[unit]
        moved = chance * np.where(inside[:, None], q[unit], 0.0)[..., None]
        chance -= moved
        chance[..., 1:] += moved[..., :-1]
        chance[..., -1] += moved[..., -1]
        t = (farthest * np.where(spread[unit] > 0, spread[unit], 1.0))[:, None]  # (no spread: any error is far)
        closer *= np.where(inside[:, None], _within(t, b[unit][:, None], c[unit][:, None], u), 1.0)
    tail = np.take_along_axis(np.cumsum(chance[..., ::-1], axis=-1)[..., ::-1], seen[:, None, None], -1)[..., 0]
    weight = weight / weight.sum()
    p = np.minimum(tail @ weight, np.where(farthest > 0, (1 - closer) @ weight, 1.0))
    return np.where(count > 0, np.minimum(2 * p, 1.0), np.nan)


def backtested(tests, z: float, k: int) -> np.ndarray:
    """The p-value of the estimator's back-test at each window of a sequence (``backtest`` of
    the windows of a version's granularity, in time order): the smallest ``backtest_p_value``
    of the estimates, times the number back-tested (Bonferroni), at most 1; NaN where none was."""
    p = np.array([backtest_p_value(*test, z, k) for test in np.transpose(tests, (1, 0, 2))])
    tested = (~np.isnan(p)).sum(axis=0)
    smallest = np.where(np.isnan(p), 1.0, p).min(axis=0, initial=1.0)
    return np.where(tested > 0, np.minimum(smallest * tested, 1.0), np.nan)


def _reliable(s) -> np.ndarray:
    """1 unless the back-test rejects the estimates (``backtested`` below 1 - confidence); NaN
    without a back-tested window."""
    alpha = math.erfc(float(s["z"]) / math.sqrt(2.0))
    p = np.asarray(s[BACKTEST_P_VALUE], dtype=float)
    return np.where(np.isnan(p), np.nan, (p >= alpha).astype(float))


register_metric(
    Metric(
        name="estimates_reliable",
        problem_type=ProblemType.BINARY,
        larger_is_better=True,
        fields=(BACKTEST_P_VALUE, "z"),
        finalise=_reliable,
        interval=None,
        interval_method="none (a flag)",
        definition="0 where the estimator fails its back-test: on the mature windows of the granularity with labels "
        "in the last estimation.backtest_period (outside their reference period), the estimates of their labeled rows "
        "missed the realised values more often, or further, than the confidence level allows (allowing for the "
        "calibration error they share; Bonferroni over the estimates); else 1; null without such a window",
        needs="probability",
        labeled=False,
    )
)


ESTIMATES = tuple(_METRICS)
ESTIMATED_METRICS = (*ESTIMATES, "reference_calibration_error", "estimates_reliable")
"""The metrics that read the reference period's labeled summary (``reference_labeled_scores``)."""
