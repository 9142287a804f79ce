"""Estimated performance (CBPE) against scikit-learn on the same rows: the isotonic map against
``IsotonicRegression``, each estimate against the metric of expanded rows with fractional label
weights, the intervals against simulated labels (Monte Carlo spread and coverage of the realised
metric), the reference calibration error against a row-level binning, and the undefined cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from perfmon_spark.metrics import lookup, metrics_for
from perfmon_spark.metrics.estimated import (
    CALIBRATION_BINS,
    ESTIMATED_METRICS,
    calibrated,
    calibration,
    calibration_error,
    isotonic,
)

THRESHOLD = 0.4
ESTIMATES = ("estimated_accuracy", "estimated_precision", "estimated_recall", "estimated_f1", "estimated_roc_auc")


def summary(scores, y, weight=None):
    """(values, pos, neg) of labeled rows: the shape of ``reference_labeled_scores``."""
    weight = np.ones(len(scores)) if weight is None else weight
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=weight * (y == 1), minlength=len(values))
    neg = np.bincount(inverse, weights=weight * (y == 0), minlength=len(values))
    return values, pos, neg


def predictions(scores):
    """(values, counts) of predictions: the shape of ``scores``."""
    values, counts = np.unique(scores, return_counts=True)
    return values, counts.astype(float)


def state(windows, references, threshold=THRESHOLD):
    return {"scores": list(windows), "reference_labeled_scores": list(references), "threshold": threshold}


def finalise(name, s):
    return lookup("binary", name).finalise(s)


def interval(name, s, z):
    return lookup("binary", name).interval(s, z)


def calibrated_rows(rng, n, decimals=3):
    """Scores that are probabilities (Beta(2, 5)), rounded to make ties, and labels drawn from them."""
    p = rng.beta(2, 5, n)
    return p.round(decimals), (rng.random(n) < p).astype(int)


def sklearn_map(reference_scores, reference_y, values):
    return IsotonicRegression(out_of_bounds="clip").fit(reference_scores, reference_y).predict(values)


# --- registration ---------------------------------------------------------------------------------


def test_registered_after_the_proxies_as_unlabeled_probability_metrics():
    names = [m.name for m in metrics_for("binary")]
    assert names[-len(ESTIMATED_METRICS) :] == list(ESTIMATED_METRICS)
    assert names.index("score_js") < names.index(ESTIMATED_METRICS[0])
    for name in ESTIMATED_METRICS:
        metric = lookup("binary", name)
        assert (metric.labeled, metric.needs) == (False, "probability")
        assert metric.larger_is_better is (name != "reference_calibration_error")
        assert (metric.interval is None) is (name not in ESTIMATES)
        assert "\n" not in metric.definition and "null" in metric.definition


# --- the isotonic map -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_isotonic_is_sklearns_with_sample_weight(seed):
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.integers(0, 40, n) / 40  # ties
    rate = np.clip(x + 0.3 * np.sin(12 * x), 0, 1)  # not monotone: PAV has violators to pool
    y = (rng.random(n) < rate).astype(int)
    w = rng.uniform(0.1, 3.0, n)
    values, pos, neg = summary(x, y, w)
    fitted = IsotonicRegression().fit(x, y, sample_weight=w)
    np.testing.assert_allclose(isotonic(values, pos, neg), fitted.predict(values), rtol=0, atol=1e-12)
    clip = IsotonicRegression(out_of_bounds="clip").fit(x, y, sample_weight=w)
    between = np.concatenate([[-0.5, 0.0, 1.0, 2.0], rng.uniform(-0.1, 1.1, 200)])
    np.testing.assert_allclose(
        calibrated(calibration((values, pos, neg)), between), clip.predict(between), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("label", [0, 1])
def test_a_one_class_reference_maps_every_score_to_its_class(label):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 20, 100) / 20
    y = np.full(100, label)
    values, pos, neg = summary(x, y)
    expected = IsotonicRegression(out_of_bounds="clip").fit(x, y).predict(values)
    np.testing.assert_array_equal(isotonic(values, pos, neg), expected)
    np.testing.assert_array_equal(
        calibrated(calibration((values, pos, neg)), [0.0, 0.33, 1.0]), np.full(3, float(label))
    )


def test_calibrated_is_nan_without_labeled_reference_rows():
    assert np.isnan(calibrated(calibration((np.array([0.2, 0.6]), np.zeros(2), np.zeros(2))), [0.1, 0.5])).all()
    # entries without labels are ignored, not read as a rate of 0
    values, pos, neg = np.array([0.2, 0.5, 0.8]), np.array([1.0, 0.0, 3.0]), np.array([3.0, 0.0, 1.0])
    np.testing.assert_allclose(calibrated(calibration((values, pos, neg)), [0.5]), [0.5])


# --- estimates against expanded rows --------------------------------------------------------------


def weighted_rows(values, counts, p):
    """Each score value once as a positive with weight c p and once as a negative with c (1 - p)."""
    x = np.concatenate([values, values])
    y = np.concatenate([np.ones(len(values)), np.zeros(len(values))])
    w = np.concatenate([counts * p, counts * (1 - p)])
    keep = w > 0
    return x[keep], y[keep], w[keep]


@pytest.mark.parametrize("seed", range(3))
def test_each_estimate_is_the_metric_of_rows_with_fractional_labels(seed):
    rng = np.random.default_rng(100 + seed)
    windows, references, oracle = [], [], []
    for n in (300, 1500):
        ref_scores, ref_y = calibrated_rows(rng, 3000, decimals=2)
        scores = np.clip(rng.beta(2, 4, n) + 0.05, 0, 1).round(3)  # shifted inputs, beyond the reference too
        values, counts = predictions(scores)
        x, y, w = weighted_rows(values, counts, sklearn_map(ref_scores, ref_y, values))
        decided = (x >= THRESHOLD).astype(int)
        oracle.append(
            {
                "estimated_accuracy": skm.accuracy_score(y, decided, sample_weight=w),
                "estimated_precision": skm.precision_score(y, decided, sample_weight=w),
                "estimated_recall": skm.recall_score(y, decided, sample_weight=w),
                "estimated_f1": skm.f1_score(y, decided, sample_weight=w),
                "estimated_roc_auc": skm.roc_auc_score(y, x, sample_weight=w),
            }
        )
        windows.append((values, counts))
        references.append(summary(ref_scores, ref_y))
    windows.append(windows[0])
    references.append(None)  # a window without a usable reference, in the same vector
    s = state(windows, references)
    for name in ESTIMATES:
        got = finalise(name, s)
        np.testing.assert_allclose(got[:2], [o[name] for o in oracle], rtol=1e-10, err_msg=name)
        assert np.isnan(got[2]), name
        lower, upper = interval(name, s, 1.96)
        assert np.all((lower[:2] <= got[:2]) & (got[:2] <= upper[:2])), name
        assert np.isnan(lower[2]) and np.isnan(upper[2]), name


def test_interval_spread_is_the_monte_carlo_spread_of_the_realised_metric():
    """With a reference whose positive rate is the score itself, p is the score: draw the labels
    many times and compare the spread of the realised accuracy, precision, recall and F1 with the
    intervals' (their half-width over z)."""
    rng = np.random.default_rng(11)
    grid = np.arange(1, 20) / 20
    reference = (grid, grid * 400, (1 - grid) * 400)
    np.testing.assert_allclose(calibrated(calibration(reference), grid), grid)
    counts = rng.integers(20, 120, len(grid)).astype(float)
    s = state([(grid, counts)], [reference])
    p = np.repeat(grid, counts.astype(int))
    decided = p >= THRESHOLD
    y = rng.random((4000, len(p))) < p  # 4000 draws of the window's labels
    tp, fn = (y & decided).sum(axis=1), (y & ~decided).sum(axis=1)
    realised = {
        "estimated_accuracy": (tp + (~y & ~decided).sum(axis=1)) / len(p),
        "estimated_precision": tp / decided.sum(),
        "estimated_recall": tp / (tp + fn),
        "estimated_f1": 2 * tp / (decided.sum() + tp + fn),
    }
    z = 1.0
    for name, values in realised.items():
        lower, upper = interval(name, s, z)
        assert lower[0] > 0 and upper[0] < 1, name  # not clipped: the half-width is z sd
        np.testing.assert_allclose((upper[0] - lower[0]) / (2 * z), values.std(), rtol=0.05, err_msg=name)
        np.testing.assert_allclose(finalise(name, s)[0], values.mean(), atol=3 * values.std() / np.sqrt(4000))


# --- coverage ---------------------------------------------------------------------------------------


def realised_metrics(y, scores):
    decided = (scores >= THRESHOLD).astype(int)
    return {
        "estimated_accuracy": skm.accuracy_score(y, decided),
        "estimated_precision": skm.precision_score(y, decided, zero_division=np.nan),
        "estimated_recall": skm.recall_score(y, decided, zero_division=np.nan),
        "estimated_f1": skm.f1_score(y, decided, zero_division=np.nan),
        "estimated_roc_auc": skm.roc_auc_score(y, scores),
    }


def test_the_realised_metric_falls_within_two_sd_of_the_estimate():
    """Calibrated scores, labels withheld: over 200 windows (each with its own labeled reference of
    8000 rows) the realised metric lies within the z = 2 interval (nominal 95%) in at least 90%."""
    rng = np.random.default_rng(2026)
    windows, references, realised = [], [], []
    for _ in range(200):
        ref_scores, ref_y = calibrated_rows(rng, 8000)
        scores, y = calibrated_rows(rng, int(rng.integers(300, 3000)))
        windows.append(predictions(scores))
        references.append(summary(ref_scores, ref_y))
        realised.append(realised_metrics(y, scores))
    s = state(windows, references)
    rates = {}
    for name in ESTIMATES:
        truth = np.array([r[name] for r in realised])
        lower, upper = interval(name, s, 2.0)
        assert np.all(np.isfinite(finalise(name, s))), name
        rates[name] = float(np.mean((lower <= truth) & (truth <= upper)))
    print("\ncoverage of the realised metric by estimate -+ 2 sd:", {k: round(v, 3) for k, v in rates.items()})
    assert all(rate >= 0.90 for rate in rates.values()), rates


# --- reference calibration error ------------------------------------------------------------------


def row_level_ece(scores, y):
    """ECE from rows whose scores have 3 decimals, binned in integers (thousandths // 100: no edge
    rounding), mean score against positive rate per bin, weighted by the bin's share."""
    thousandths = np.rint(scores * 1000).astype(int)
    assert np.array_equal(thousandths / 1000, scores)
    bins = np.minimum(thousandths // (1000 // CALIBRATION_BINS), CALIBRATION_BINS - 1)
    n = np.array([np.sum(bins == b) for b in range(CALIBRATION_BINS)])
    gaps = [abs(scores[bins == b].mean() - y[bins == b].mean()) for b in range(CALIBRATION_BINS) if n[b]]
    positives = np.array([y[bins == b].sum() for b in range(CALIBRATION_BINS)])
    return float(np.sum(n[n > 0] / n.sum() * np.array(gaps))), n, positives


@pytest.mark.parametrize(
    "distort",
    [lambda p: p**3, lambda p: 0.5 + 0.4 * (p - 0.5)],
    ids=["cubed", "squashed"],
)
def test_reference_calibration_error_flags_miscalibrated_scores(distort):
    rng = np.random.default_rng(5)
    p = rng.beta(2, 5, 20000)
    y = (rng.random(len(p)) < p).astype(int)
    good, bad = p.round(3), distort(p).round(3)
    s = {"reference_labeled_scores": [summary(good, y), summary(bad, y), None]}
    got = finalise("reference_calibration_error", s)
    expected_good, n, positives = row_level_ece(good, y)
    expected_bad, _, _ = row_level_ece(bad, y)
    np.testing.assert_allclose(got[:2], [expected_good, expected_bad], rtol=1e-10)
    assert np.isnan(got[2])
    assert got[1] > 0.05
    # calibrated scores differ from their bin's positive rate by sampling noise only: its scale is
    # sum_b n_b / N sd(positive rate in b) = sum_b sqrt(n_b r_b (1 - r_b)) / N
    full = n > 0
    rate = positives[full] / n[full]
    noise = np.sqrt(n[full] * rate * (1 - rate)).sum() / n.sum()
    assert got[0] < 3 * noise < 0.05


@pytest.mark.parametrize(
    "distort",
    [lambda p: p**3, lambda p: 0.5 + 0.4 * (p - 0.5)],
    ids=["cubed", "squashed"],
)
def test_estimates_of_a_miscalibrated_reference_or_shifted_scores_are_marked_unreliable(distort):
    """estimates_reliable: 1 for calibrated scores that did not move, 0 for a miscalibrated
    reference, 0 for a window whose scores shifted beyond psi_threshold, null without reference."""
    rng = np.random.default_rng(8)
    p = rng.beta(2, 5, 20000)
    y = (rng.random(len(p)) < p).astype(int)
    good, bad = summary(p.round(3), y), summary(distort(p).round(3), y)
    same, shifted = predictions(p[:3000].round(3)), predictions(np.clip(p[:3000] + 0.3, 0, 1).round(3))
    s = {
        "scores": [same, predictions(distort(p[:3000]).round(3)), shifted, same],
        "reference_labeled_scores": [good, bad, good, None],
        "reference_scores": [predictions(p.round(3)), predictions(distort(p).round(3)), predictions(p.round(3)), None],
        "max_calibration_error": 0.05,
        "psi_threshold": 0.2,
    }
    got = finalise("estimates_reliable", s)
    np.testing.assert_array_equal(got[:3], [1.0, 0.0, 0.0])
    assert np.isnan(got[3])


def test_calibration_error_is_nan_without_labeled_rows():
    assert np.isnan(calibration_error(np.array([0.3]), np.zeros(1), np.zeros(1)))


# --- undefined cases ------------------------------------------------------------------------------


def test_no_reference_and_no_predictions_give_null():
    rng = np.random.default_rng(3)
    reference = summary(*calibrated_rows(rng, 2000))
    window = predictions(calibrated_rows(rng, 500)[0])
    empty = (np.zeros(0), np.zeros(0))
    s = state([window, empty, empty], [None, reference, None])
    for name in ESTIMATES:
        assert np.isnan(finalise(name, s)).all(), name
        assert all(np.isnan(bound).all() for bound in interval(name, s, 1.96)), name
    ece = finalise("reference_calibration_error", s)
    assert np.isnan(ece[0]) and np.isnan(ece[2]) and ece[1] == calibration_error(*reference)


def test_a_threshold_above_every_score_has_no_precision_and_zero_recall():
    rng = np.random.default_rng(4)
    ref_scores, ref_y = calibrated_rows(rng, 2000)
    values, counts = predictions(calibrated_rows(rng, 500)[0])
    s = state([(values, counts)], [summary(ref_scores, ref_y)], threshold=values.max() + 0.01)
    p = sklearn_map(ref_scores, ref_y, values)
    assert np.isnan(finalise("estimated_precision", s)[0])
    assert finalise("estimated_recall", s)[0] == 0.0 and finalise("estimated_f1", s)[0] == 0.0
    np.testing.assert_allclose(finalise("estimated_accuracy", s), [np.sum(counts * (1 - p)) / counts.sum()])
    assert np.isnan(interval("estimated_precision", s, 1.96)[0][0])
    lower, upper = interval("estimated_recall", s, 1.96)
    assert lower[0] == 0.0 and upper[0] == 0.0  # no positive decision: the realised recall is 0 for sure


@pytest.mark.parametrize("label", [0, 1])
def test_a_one_class_reference(label):
    """Every prediction is then expected in the reference's class: no AUC, and the metric that
    needs the other class is null; the realised value is certain, so the interval is a point."""
    rng = np.random.default_rng(8)
    scores = calibrated_rows(rng, 800)[0]
    reference = summary(scores[:300], np.full(300, label))
    values, counts = predictions(scores[300:])
    decided = counts[values >= THRESHOLD].sum()
    s = state([(values, counts)], [reference])
    assert np.isnan(finalise("estimated_roc_auc", s)[0])
    share_right = (decided if label else counts.sum() - decided) / counts.sum()
    np.testing.assert_allclose(finalise("estimated_accuracy", s), [share_right])
    if label:
        np.testing.assert_allclose(finalise("estimated_precision", s), [1.0])
        np.testing.assert_allclose(finalise("estimated_recall", s), [decided / counts.sum()])
    else:
        np.testing.assert_allclose(finalise("estimated_precision", s), [0.0])
        assert np.isnan(finalise("estimated_recall", s)[0])
    lower, upper = interval("estimated_accuracy", s, 1.96)
    np.testing.assert_allclose([lower[0], upper[0]], [share_right, share_right])
