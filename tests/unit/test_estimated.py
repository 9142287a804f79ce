"""Estimated performance (CBPE) against scikit-learn on the same rows: the isotonic fit against
``IsotonicRegression``, the cross-fitted calibration against a row-level oracle built on it, each
estimate against the metric of expanded rows with fractional label weights, the intervals against
simulated labels and simulated references (Monte Carlo spread and coverage of the realised
metric), the reference calibration error against a row-level binning, and the undefined cases."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from perfmon_spark.config import parse_config
from perfmon_spark.metrics import histogram, lookup, metrics_for
from perfmon_spark.metrics.estimated import (
    CALIBRATION_BINS,
    CORRECTION_BINS,
    ESTIMATED_METRICS,
    FOLDS,
    REPLICATE_VALUES,
    REPLICATES,
    backtest_p_value,
    calibrated,
    calibration,
    calibration_error,
    calibrations,
    estimate,
    isotonic,
)
from perfmon_spark.vocabulary import ALL_VERSIONS
from perfmon_spark.windows.finalise import Reference, WindowPlan, finalise_slice, lookback_seconds
from tests.helpers import BASE
from tests.oracle import cross_fitted_map
from tests.statebuild import binary_stats

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


# --- the calibration ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_isotonic_is_sklearns_with_sample_weight_one_summary_or_a_batch(seed):
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.integers(0, 40, n) / 40  # ties
    rate = np.clip(x + 0.3 * np.sin(12 * x), 0, 1)  # not monotone: PAV has violators to pool
    y = (rng.random(n) < rate).astype(int)
    w = rng.uniform(0.1, 3.0, n)
    values, pos, neg = summary(x, y, w)
    fitted = IsotonicRegression().fit(x, y, sample_weight=w)
    np.testing.assert_allclose(isotonic(pos, neg), fitted.predict(values), rtol=0, atol=1e-12)
    clip = IsotonicRegression(out_of_bounds="clip").fit(x, y, sample_weight=w)
    between = np.concatenate([[-0.5, 0.0, 1.0, 2.0], rng.uniform(-0.1, 1.1, 200)])
    np.testing.assert_allclose(calibrated((values, isotonic(pos, neg)), between), clip.predict(between), atol=1e-12)
    batch = isotonic(np.stack([pos, pos[::-1], np.zeros_like(pos)]), np.stack([neg, neg[::-1], np.zeros_like(neg)]))
    np.testing.assert_allclose(batch[1], isotonic(pos[::-1], neg[::-1]), atol=1e-12)
    np.testing.assert_allclose(batch[0], isotonic(pos, neg), atol=1e-12)
    assert np.isnan(batch[2]).all()  # a summary without labels


@pytest.mark.parametrize("size", [7, 60, 400, 3000])
def test_the_calibration_is_the_cross_fitted_isotonic_fit_of_rows(size):
    """Against the row-level oracle, at reference sizes from a handful of labels (folds of one
    or two rows) to thousands; a summary with values without labels maps them as if absent."""
    rng = np.random.default_rng(size)
    x, y = calibrated_rows(rng, size, decimals=2)
    values, pos, neg = summary(x, y)
    grid = np.linspace(-0.1, 1.1, 121)
    np.testing.assert_allclose(
        calibrated((values, calibration(values, pos, neg)), grid), cross_fitted_map(x, y, FOLDS, CORRECTION_BINS)(grid)
    )
    holes = np.sort(np.r_[values, values[:-1] + np.diff(values) / 3, values[0] - 0.01])
    padded = [np.interp(holes, values, c, left=0, right=0) * np.isin(holes, values) for c in (pos, neg)]
    np.testing.assert_allclose(calibration(holes, *padded)[np.isin(holes, values)], calibration(values, pos, neg))
    np.testing.assert_allclose(
        calibrated((holes, calibration(holes, *padded)), grid),
        calibrated((values, calibration(values, pos, neg)), grid),
    )


def test_cross_fitting_takes_out_the_isotonic_fits_upward_bias():
    """An isotonic fit is too extreme at both ends, and the estimates with it too high; the
    cross-fitted one is not (mean estimated minus true accuracy and AUC over 200 references of
    300 labels, the truth a window's expected value under the true probabilities: the isotonic
    fit's bias is about 0.012 and 0.023, the Monte Carlo error of a mean about 0.0015)."""
    rng = np.random.default_rng(12)
    values, counts = predictions(calibrated_rows(rng, 4000)[0])
    truth = fractional_metrics(values, counts, values)
    errors = {"isotonic": [], "cross-fitted": []}
    for _ in range(200):
        keys, pos, neg = summary(*calibrated_rows(rng, 300))
        for name, fit in (("isotonic", isotonic(pos, neg)), ("cross-fitted", calibration(keys, pos, neg))):
            errors[name].append(fractional_metrics(values, counts, calibrated((keys, fit), values)) - truth)
    plain, crossed = np.mean(errors["isotonic"], axis=0), np.mean(errors["cross-fitted"], axis=0)
    print("\nbias of accuracy and AUC, isotonic:", plain.round(4), "cross-fitted:", crossed.round(4))
    assert (plain > 0.01).all(), plain
    assert (np.abs(crossed) < 0.004).all(), crossed


def test_a_one_class_reference_maps_every_score_to_its_class():
    for label in (0, 1):
        values = np.arange(20) / 20
        pos, neg = np.full(20, 5.0 * label), np.full(20, 5.0 * (1 - label))
        fit = calibrations((values, pos, neg))
        np.testing.assert_array_equal(fit.at([0.0, 0.33, 1.0]), np.full((1 + REPLICATES, 3), float(label)))


def test_calibrations_are_seeded_by_the_reference_and_none_without_labels():
    rng = np.random.default_rng(9)
    reference = summary(*calibrated_rows(rng, 500))
    first, again = calibrations(reference), calibrations(tuple(np.copy(a) for a in reference))
    np.testing.assert_array_equal(first.refits, again.refits)  # a rerun gives the same interval
    assert first.refits.shape == (REPLICATES, len(reference[0]))
    assert np.all(np.std(first.refits, axis=0) > 0)
    np.testing.assert_array_equal(first.at(reference[0])[0], calibration(*reference))
    assert calibrations((np.array([0.2, 0.6]), np.zeros(2), np.zeros(2))) is None
    assert np.isnan(calibrated(None, [0.1, 0.5])).all()
    large = summary(*calibrated_rows(rng, 20_000, decimals=4))  # refits pooled to REPLICATE_VALUES values
    fit = calibrations(large)
    np.testing.assert_array_equal(fit.fit, calibration(*large))
    assert len(fit.values) > 1000 and fit.refits.shape == (REPLICATES, REPLICATE_VALUES)
    assert np.isfinite(fit.at(np.linspace(0, 1, 50))).all()


# --- estimates against expanded rows --------------------------------------------------------------


def weighted_rows(values, counts, p):
    """Each score value once as a positive with weight c p and once as a negative with c (1 - p)."""
    x = np.concatenate([values, values])
    y = np.concatenate([np.ones(len(values)), np.zeros(len(values))])
    w = np.concatenate([counts * p, counts * (1 - p)])
    keep = w > 0
    return x[keep], y[keep], w[keep]


def fractional_metrics(values, counts, p) -> np.ndarray:
    """Accuracy and AUC of rows with fractional labels p (scikit-learn)."""
    x, y, w = weighted_rows(values, counts, p)
    return np.array([skm.accuracy_score(y, x >= THRESHOLD, sample_weight=w), skm.roc_auc_score(y, x, sample_weight=w)])


@pytest.mark.parametrize("seed", range(3))
def test_each_estimate_is_the_metric_of_rows_with_fractional_labels(seed):
    rng = np.random.default_rng(100 + seed)
    windows, references, oracle = [], [], []
    for n in (300, 1500):
        ref_scores, ref_y = calibrated_rows(rng, 3000, decimals=2)
        scores = np.clip(rng.beta(2, 4, n) + 0.05, 0, 1).round(3)  # shifted inputs, beyond the reference too
        values, counts = predictions(scores)
        x, y, w = weighted_rows(values, counts, cross_fitted_map(ref_scores, ref_y, FOLDS, CORRECTION_BINS)(values))
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
        lower, upper, _ = interval(name, s, 1.96)
        assert np.all((lower[:2] <= got[:2]) & (got[:2] <= upper[:2])), name
        assert np.isnan(lower[2]) and np.isnan(upper[2]), name


def test_a_score_at_the_threshold_is_decided_positive_after_its_round_trip_through_the_summary():
    """A window's score values come back from their summary keys (``windows.finalise.views``), 0.75 as
    0.7499999999999999: with the threshold at 0.75 they are still positive decisions, as the job
    decides the rows, and every estimate is that of the raw values."""
    threshold = 0.75
    assert histogram.inverse(histogram.transform(np.array([threshold]), "probability"), "probability")[0] < threshold
    rng = np.random.default_rng(9)
    reference = summary(*calibrated_rows(rng, 2000, decimals=2))
    values, counts = predictions(np.where(rng.random(500) < 0.5, threshold, 0.2))
    round_trip = histogram.inverse(histogram.transform(values, "probability"), "probability")
    raw = state([(values, counts)], [reference], threshold)
    summarised = state([(round_trip, counts)], [reference], threshold)
    assert finalise("estimated_precision", summarised)[0] > 0.5  # not null: 0.75's predictions are decided positive
    for name in ESTIMATES:
        np.testing.assert_allclose(finalise(name, summarised), finalise(name, raw), rtol=1e-12, err_msg=name)


def test_bernoulli_spread_is_the_monte_carlo_spread_of_the_realised_metric():
    """With a reference whose positive rate is the score itself (in every fold too), p is the
    score: draw the labels many times and compare the spread of the realised accuracy,
    precision, recall and F1 with the estimate's Bernoulli sd; the interval's half-width over z
    adds the calibration's sd to it in quadrature."""
    rng = np.random.default_rng(11)
    grid = np.arange(1, 20) / 20
    reference = (grid, grid * 400, (1 - grid) * 400)
    np.testing.assert_allclose(calibration(*reference), grid)
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
        value, bernoulli, calibration_sd = estimate(name, s)
        np.testing.assert_allclose(bernoulli[0], values.std(), rtol=0.05, err_msg=name)
        np.testing.assert_allclose(value[0], values.mean(), atol=3 * values.std() / np.sqrt(4000))
        lower, upper, _ = interval(name, s, z)
        assert lower[0] > 0 and upper[0] < 1, name  # not clipped: the half-width is z sd
        np.testing.assert_allclose((upper[0] - lower[0]) / (2 * z), np.hypot(bernoulli, calibration_sd)[0])


def test_calibration_spread_is_the_spread_over_references():
    """The bootstrap sd of an estimate is the sd of the estimate over independent references of
    the same size (40 references of 400 labels, one window of 3000 predictions): within 30%
    (the sd of a sd over 40 draws is about 11%)."""
    rng = np.random.default_rng(21)
    window = predictions(calibrated_rows(rng, 3000)[0])
    references = [summary(*calibrated_rows(rng, 400)) for _ in range(40)]
    s = state([window] * len(references), references)
    for name in ESTIMATES:
        value, _, calibration_sd = estimate(name, s)
        np.testing.assert_allclose(np.mean(calibration_sd), np.std(value, ddof=1), rtol=0.3, err_msg=name)


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


def test_the_realised_metric_falls_within_the_interval():
    """Calibrated scores, labels withheld: over 60 windows, each with its own labeled reference
    of 500 rows (the calibration's error then weighs as much as the labels'), the realised metric
    lies within the 95% interval in at least 85% (without the calibration's variance: about 75%;
    ``bench/bench_interval_coverage.py`` measures it on thousands)."""
    rng = np.random.default_rng(2026)
    windows, references, realised = [], [], []
    for _ in range(60):
        ref_scores, ref_y = calibrated_rows(rng, 500)
        scores, y = calibrated_rows(rng, int(rng.integers(300, 3000)))
        windows.append(predictions(scores))
        references.append(summary(ref_scores, ref_y))
        realised.append(realised_metrics(y, scores))
    s = state(windows, references)
    rates = {}
    for name in ESTIMATES:
        truth = np.array([r[name] for r in realised])
        lower, upper, _ = interval(name, s, 1.96)
        assert np.all(np.isfinite(finalise(name, s))), name
        rates[name] = float(np.mean((lower <= truth) & (truth <= upper)))
    print("\ncoverage of the realised metric by the 95% interval:", {k: round(v, 3) for k, v in rates.items()})
    assert all(rate >= 0.85 for rate in rates.values()), rates


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


def test_calibration_error_is_nan_without_labeled_rows():
    assert np.isnan(calibration_error(np.array([0.3]), np.zeros(1), np.zeros(1)))


# --- the back-test -----------------------------------------------------------------------------------


def binomial_tail(n: int, x: int, q: float) -> float:
    return sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(x, n + 1))


def beyond(x: float) -> float:
    """P(|N(0, 1)| > x)."""
    return math.erfc(x / math.sqrt(2))


def test_without_a_calibration_error_the_backtest_is_two_binomial_tests():
    """Estimates whose only error is the labels': each back-tested window misses with chance
    1 - confidence, and its error is beyond m sds with chance P(|N| > m), independently. The
    p-value is twice the smaller of the chance of as many misses and of an error as far out as
    the farthest; windows not back-tested (NaN) do not count."""
    z = 1.96
    far = np.array([0.3, 2.5, np.nan, -0.1, -2.2, 3.1, 0.4, np.nan, 1.0, -0.5, 2.0, 0.2])  # in sds
    bernoulli = np.linspace(0.01, 0.05, len(far))
    p = backtest_p_value(far * bernoulli, bernoulli, np.zeros(len(far)), z, k=6)
    for end in range(len(far)):
        period = far[max(0, end - 5) : end + 1]
        tested = np.abs(period[~np.isnan(period)])
        misses = binomial_tail(len(tested), int((tested > z).sum()), beyond(z))
        farthest = 1 - (1 - beyond(tested.max())) ** len(tested)
        np.testing.assert_allclose(p[end], min(1.0, 2 * min(misses, farthest)), rtol=1e-9)
    assert np.isnan(backtest_p_value(np.full(3, np.nan), np.ones(3), np.ones(3), z, k=2)).all()


def test_the_backtest_allows_for_the_calibration_error_the_windows_share():
    """With every window's estimate erring by its calibration sd times one shared standard
    normal, plus its own Bernoulli noise, the p-value is what a simulation of that model gives;
    and far above the binomial chance of as many misses."""
    rng = np.random.default_rng(4)
    z, n = 1.96, 12
    bernoulli, calibration_sd = rng.uniform(0.01, 0.03, n), rng.uniform(0.005, 0.03, n)
    spread = np.hypot(bernoulli, calibration_sd)
    draws = calibration_sd * rng.standard_normal((200_000, 1)) + bernoulli * rng.standard_normal((200_000, n))
    misses, farthest = (np.abs(draws) > z * spread).sum(axis=1), (np.abs(draws) / spread).max(axis=1)
    for far in (
        np.r_[2.2, np.zeros(n - 1)],
        np.r_[2.1, -2.3, 2.0, 2.5, 2.2, 2.4, np.zeros(n - 6)],
        np.r_[4.0, np.zeros(n - 1)],
    ):
        simulated = 2 * min(np.mean(misses >= (np.abs(far) > z).sum()), np.mean(farthest >= np.abs(far).max()))
        p = backtest_p_value(far * spread, bernoulli, calibration_sd, z, k=n)[-1]
        assert abs(p - min(simulated, 1.0)) < 8 * math.sqrt(simulated / len(draws)) + 1e-4, (far, p, simulated)
    assert p < 0.01  # an error of 4 sds: the shared error would have to be that large
    six = backtest_p_value(
        np.r_[2.1, -2.3, 2.0, 2.5, 2.2, 2.4, np.zeros(n - 6)] * spread, bernoulli, calibration_sd, z, k=n
    )
    assert six[-1] > 10 * binomial_tail(n, 6, beyond(z))


def test_a_certain_estimate_that_misses_fails_the_backtest():
    """No spread (a one-class reference maps every score to its class): any error is impossible
    under the model, so one is enough; none passes."""
    p = backtest_p_value(np.array([0.0, 0.1, 0.0]), np.zeros(3), np.zeros(3), 1.96, k=3)
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])


T0 = datetime(2026, 3, 1)
DAY = timedelta(days=1)


def daily_rows(days: int, shift_from: int, n: int = 400, seed: int = 5) -> pd.DataFrame:
    """One version, ``n`` predictions a day with calibrated scores and every label; from day
    ``shift_from`` a concept shift: the scores keep their distribution, the positive rate at each
    score halves."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        score = rng.beta(2, 5, n).round(3)
        y = (rng.random(n) < np.where(day >= shift_from, score / 2, score)).astype(float)
        frame = {"model_version": "v1", "bucket_start": T0 + day * DAY, "y": y, "score": score, "d": score >= 0.5}
        frames.append(pd.DataFrame(frame).astype({"d": int}))
    return pd.concat(frames, ignore_index=True)


def estimate_plan(as_of: datetime, since: datetime | None = None) -> WindowPlan:
    data = dict(BASE, metrics=["estimated_accuracy", "estimates_reliable"], baseline={"window": "5 days"})
    data |= {
        "windows": {"granularity": "1 day", "rolling": ["3 days"]},
        "labels": dict(BASE["labels"], max_delay="2 days"),
    }
    plan = WindowPlan.from_config(parse_config(data), as_of, since)
    first = int(np.datetime64(T0, "s").astype(np.int64))  # the versions' first bucket (Spark finds it)
    return replace(plan, reference=replace(plan.reference, version_starts=((ALL_VERSIONS, first), ("v1", first))))


def test_calibrated_estimates_pass_their_backtest_and_a_concept_shift_fails_it():
    """40 days, the reference the first 5 (2,000 labels), a concept shift from day 25, labels
    mature 2 days after each day: no back-test before a day outside the reference has mature
    labels; the estimator passes it until the shift, and fails it from the shift's first day
    (its estimated precision is off by several sds, which no calibration error of the
    reference explains). Every window ending on a day shares that day's flag, and an
    incremental run (``since``) writes the same."""
    stats = binary_stats(daily_rows(40, shift_from=25))
    out = finalise_slice(stats, estimate_plan(T0 + 40 * DAY))
    flags = out[(out["metric"] == "estimates_reliable") & (out["model_version"] == "v1")]
    daily = flags[flags["window"] == "1 day"].set_index("window_end")["value"]
    assert daily.loc[: T0 + 5 * DAY].isna().all()  # reference days: in-sample or no reference
    assert daily.loc[T0 + 6 * DAY : T0 + 25 * DAY].eq(1.0).all()
    assert daily.loc[T0 + 26 * DAY :].eq(0.0).all()
    rolling = flags[flags["window"] == "3 days"].set_index("window_end")["value"]
    pd.testing.assert_series_equal(rolling, daily.loc[rolling.index], check_names=False)
    since = T0 + 30 * DAY
    later = finalise_slice(stats, estimate_plan(T0 + 40 * DAY, since=since))
    kept = out[out["window_end"] >= since].sort_values(["window", "window_end", "metric"], ignore_index=True)
    pd.testing.assert_frame_equal(later.sort_values(["window", "window_end", "metric"], ignore_index=True), kept)


def test_an_incremental_run_keeps_the_summaries_the_backtest_reads():
    """A window ending at ``since`` back-tests the buckets of the 28 days before, and each of
    those reads its own reference: with a rolling one, its lag and length further back."""
    plan = estimate_plan(T0 + 40 * DAY, since=T0 + 30 * DAY)
    assert lookback_seconds(plan) == 28 * 86400
    rolling = replace(plan, reference=Reference(length_seconds=5 * 86400, lag_seconds=2 * 86400))
    assert lookback_seconds(rolling) == (28 + 7) * 86400
    assert lookback_seconds(replace(plan, backtest_windows=0)) == 3 * 86400  # the longest window


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
    p = cross_fitted_map(ref_scores, ref_y, FOLDS, CORRECTION_BINS)(values)
    assert np.isnan(finalise("estimated_precision", s)[0])
    assert finalise("estimated_recall", s)[0] == 0.0 and finalise("estimated_f1", s)[0] == 0.0
    np.testing.assert_allclose(finalise("estimated_accuracy", s), [np.sum(counts * (1 - p)) / counts.sum()])
    assert np.isnan(interval("estimated_precision", s, 1.96)[0][0])
    lower, upper, _ = interval("estimated_recall", s, 1.96)
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
    lower, upper, _ = interval("estimated_accuracy", s, 1.96)
    np.testing.assert_allclose([lower[0], upper[0]], [share_right, share_right])
