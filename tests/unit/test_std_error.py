"""``perf_metrics.std_error``: each metric's own standard error, by its interval's method, against
independent oracles (DeLong's placement values pair by pair, scipy's Wilson interval, the delta
method by numerical derivatives, sample standard deviations of rows, the
estimator's own parts); the registry's contract over every metric; and the tests that read it
(rules, decay, extra variance, the rollback comparison), with the legacy half-width / z for rows
written before the column existed. No Spark."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import binomtest
from sklearn import metrics as skm

from perfmon_spark.alerts.decay import decayed
from perfmon_spark.alerts.rules import RulePlan, evaluate_history, replay, standard_error, window_tests
from perfmon_spark.config import AlertRule, parse_config
from perfmon_spark.decisions import model_statuses
from perfmon_spark.metrics import REGISTRY, lookup, metric_names
from perfmon_spark.metrics.estimated import ESTIMATES, calibration, estimate
from perfmon_spark.metrics.intervals import delong_auc, z_value
from perfmon_spark.metrics.kpi import kpi_fields, kpi_interval
from perfmon_spark.metrics.registry import bind
from perfmon_spark.vocabulary import ALL_VERSIONS
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests.helpers import BASE
from tests.statebuild import binary_stats, multiclass_stats, regression_stats
from tests.unit.test_decisions import config as decisions_config
from tests.unit.test_decisions import episode

Z = z_value(0.95)
DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)


# --- oracles ----------------------------------------------------------------------------------------


def delong_se(positives: np.ndarray, negatives: np.ndarray) -> float:
    """DeLong, DeLong and Clarke-Pearson (1988) pair by pair: each positive's share of negatives it
    outranks (ties one half) and each negative's share of positives that outrank it; the AUC's
    variance is the sample variance of the first over m plus that of the second over n."""
    wins = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10, v01 = wins.mean(axis=1), wins.mean(axis=0)
    return float(np.sqrt(v10.var(ddof=1) / len(positives) + v01.var(ddof=1) / len(negatives)))


def wilson_se(k: float, n: float, confidence: float = 0.95) -> float:
    """Half the width of scipy's Wilson score interval over z."""
    ci = binomtest(round(k), round(n)).proportion_ci(confidence, method="wilson")
    return float((ci.high - ci.low) / (2 * NormalDist().inv_cdf(0.5 + confidence / 2)))


def slope(f, x: float, h: float = 1e-6) -> float:
    """df/dx by central differences: the delta method's factor, not the code's closed form."""
    return (f(x + h) - f(x - h)) / (2 * h)


def mean_se(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / np.sqrt(len(x)))


# --- each method against its oracle ---------------------------------------------------------------


def binary_rows(seed: int = 3, days: int = 6) -> pd.DataFrame:
    """Daily rows with score ties (two decimals), a positive rate near 0.3 and some unlabeled."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        n = int(rng.integers(40, 160))
        y = (rng.random(n) < 0.3).astype(float)
        score = np.clip(np.round(0.3 + 0.3 * y + rng.normal(0, 0.18, n), 2), 0, 1)
        y[rng.random(n) < 0.15] = np.nan
        frames.append(
            pd.DataFrame(
                {"model_version": "v1", "bucket_start": T0 + day * DAY, "y": y, "score": score, "d": score >= 0.5}
            ).astype({"d": int})
        )
    return pd.concat(frames, ignore_index=True)


def window_plan(problem_type: str, metrics, rolling=("3 days",), **predictions) -> WindowPlan:
    data = dict(BASE, problem_type=problem_type, metrics=list(metrics))
    data["windows"] = {"granularity": "1 day", "rolling": list(rolling)}
    if problem_type != "binary":
        data["predictions"] = {k: v for k, v in BASE["predictions"].items() if k != "score"} | predictions
    return WindowPlan.from_config(parse_config(data), T0 + 30 * DAY)


def rows_of(rows: pd.DataFrame, r) -> pd.DataFrame:
    """The labeled rows of one output row's window and version."""
    sel = rows[(rows["bucket_start"] >= r.window_start) & (rows["bucket_start"] < r.window_end)]
    sel = sel if r.model_version == ALL_VERSIONS else sel[sel["model_version"] == r.model_version]
    return sel[sel["y"].notna()]


def test_roc_auc_std_error_is_the_delong_standard_error_of_the_rows():
    """In every window, the AUC's standard error is DeLong's from the rows, on the AUC's scale,
    while its interval is built on the logit scale: half its width over z is not the standard
    error (off by more than 1% in some windows)."""
    rows = binary_rows()
    out = finalise_slice(binary_stats(rows), window_plan("binary", ["roc_auc"]))
    checked, off = 0, []
    for r in out.itertuples():
        lab = rows_of(rows, r)
        pos, neg = lab.loc[lab["y"] == 1, "score"].to_numpy(), lab.loc[lab["y"] == 0, "score"].to_numpy()
        assert r.value == pytest.approx(skm.roc_auc_score(lab["y"], lab["score"]), abs=1e-12)
        assert r.std_error == pytest.approx(delong_se(pos, neg), rel=1e-9)
        off.append(abs((r.ci_upper - r.ci_lower) / (2 * Z) / r.std_error - 1))
        checked += 1
    assert checked >= 10 and max(off) > 0.01


def test_roc_auc_at_one_falls_back_to_the_wilson_standard_error_over_the_smaller_class():
    """No spread in the placement values (every positive above every negative): DeLong's variance
    is 0, and the interval and standard error are Wilson's of the AUC over the smaller class."""
    keys, pos, neg = np.arange(23.0), np.r_[np.zeros(20), np.ones(3)], np.r_[np.ones(20), np.zeros(3)]
    got = delong_auc(keys, pos, neg, Z)
    assert got.std_error == pytest.approx(wilson_se(3, 3), rel=1e-9) and got.std_error > 0
    (from_registry,) = lookup("binary", "roc_auc").interval({"hist": [(keys, pos, neg)]}, Z).std_error
    assert from_registry == got.std_error
    assert np.isnan(delong_auc(keys, pos, np.zeros(23), Z).std_error)  # one class: none


@pytest.mark.parametrize(
    "name, hits, trials",
    [
        ("accuracy", ("tp", "tn"), ("tp", "tn", "fp", "fn")),
        ("precision", ("tp",), ("tp", "fp")),
        ("recall", ("tp",), ("tp", "fn")),
        ("specificity", ("tn",), ("tn", "fp")),
        ("positive_rate", ("tp", "fn"), ("tp", "tn", "fp", "fn")),
    ],
)
def test_wilson_metrics_have_the_wilson_score_standard_error_above_zero_at_0_and_1(name, hits, trials):
    cells = {  # windows: mixed, all right, all wrong, a handful, nothing
        "tp": np.array([40.0, 30, 0, 2, 0]),
        "tn": np.array([50.0, 70, 0, 1, 0]),
        "fp": np.array([7.0, 0, 60, 1, 0]),
        "fn": np.array([3.0, 0, 40, 0, 0]),
    }
    got = lookup("binary", name).interval(cells, Z).std_error
    k, n = (sum(cells[c] for c in cs) for cs in (hits, trials))
    for i in range(4):
        if n[i] > 0:
            assert got[i] == pytest.approx(wilson_se(k[i], n[i]), rel=1e-9), (name, i)
            assert got[i] > 0, (name, i)  # also at a share of 0 or 1
    assert np.isnan(got[-1])


def test_f1_std_error_is_the_delta_method_on_the_wilson_standard_error_of_j():
    tp, fp, fn = np.array([30.0, 5, 0, 12]), np.array([10.0, 1, 4, 0]), np.array([6.0, 2, 3, 0])
    got = lookup("binary", "f1").interval({"tp": tp, "fp": fp, "fn": fn}, Z).std_error
    for i in range(4):
        j = tp[i] / (tp[i] + fp[i] + fn[i])
        factor = slope(lambda x: 2 * x / (1 + x), j)
        assert got[i] == pytest.approx(factor * wilson_se(tp[i], tp[i] + fp[i] + fn[i]), rel=1e-6), i


def test_pr_auc_std_error_is_the_logit_intervals_back_on_the_precision_scale():
    """The interval is logit(AP) -+ z / sqrt(positives AP (1 - AP)); the standard error of AP is
    the logit's times the slope of the inverse logit there (delta method)."""
    rows = binary_rows(seed=8)
    out = finalise_slice(binary_stats(rows), window_plan("binary", ["pr_auc"]))
    assert len(out) >= 10
    for r in out.itertuples():
        lab = rows_of(rows, r)
        ap, positives = skm.average_precision_score(lab["y"], lab["score"]), (lab["y"] == 1).sum()
        logit_se = 1 / np.sqrt(positives * ap * (1 - ap))
        expected = slope(expit, np.log(ap / (1 - ap))) * logit_se
        assert r.std_error == pytest.approx(expected, rel=1e-6)


def test_regression_standard_errors_from_the_rows():
    """Means: the sample sd of the per-row quantity over sqrt(n); RMSE: the MSE's times the slope
    of the square root at the MSE (delta method)."""
    rng = np.random.default_rng(6)
    y = rng.normal(50, 10, 300).round(1)
    rows = pd.DataFrame({"model_version": "v1", "bucket_start": T0, "y": y, "pred": y + rng.normal(1, 4, 300)})
    out = finalise_slice(regression_stats(rows), window_plan("regression", ["mse", "rmse", "mae"], (), score="pred"))
    got = out[out["model_version"] == "v1"].set_index("metric")["std_error"]
    e = rows["pred"].to_numpy() - y
    assert got["mse"] == pytest.approx(mean_se(e**2), rel=1e-9)
    assert got["mae"] == pytest.approx(mean_se(np.abs(e)), rel=1e-9)
    assert got["rmse"] == pytest.approx(slope(np.sqrt, np.mean(e**2)) * mean_se(e**2), rel=1e-6)


def test_kpi_std_error_is_the_ratio_estimators():
    rng = np.random.default_rng(1)
    b = rng.exponential(100, 2000)
    a = np.where(rng.random(2000) < 0.05, b, 0.0)
    state = dict(zip(kpi_fields("loss"), ([a.sum()], [b.sum()], [(a * a).sum()], [(a * b).sum()], [(b * b).sum()])))
    (got,) = kpi_interval({**state, "n_labeled": [2000]}, "loss", Z).std_error
    r = a.sum() / b.sum()
    assert got == pytest.approx(np.sqrt(((a - r * b) ** 2).sum()) / b.sum(), rel=1e-9)


def estimated_state(counts: np.ndarray) -> dict:
    """A reference whose positive rate is the score itself (so p is the score) and a window of
    ``counts`` predictions on the same 19 scores."""
    grid = np.arange(1, 20) / 20
    reference = (grid, grid * 400, (1 - grid) * 400)
    np.testing.assert_allclose(calibration(*reference), grid)
    return {"scores": [(grid, counts)], "reference_labeled_scores": [reference], "threshold": 0.4}


@pytest.mark.parametrize("name", ESTIMATES)
def test_estimated_std_error_is_the_estimators_own_before_clipping(name):
    """sqrt(Bernoulli sd^2 + calibration sd^2) from ``estimate``; where the interval is clipped to
    [0, 1], its half-width over z is smaller than that."""
    s = estimated_state(np.random.default_rng(11).integers(20, 120, 19).astype(float))
    _, bernoulli, calibration_sd = estimate(name, s)
    got = lookup("binary", name).interval(s, Z)
    np.testing.assert_allclose(got.std_error, np.hypot(bernoulli, calibration_sd), rtol=1e-12)
    assert got.std_error[0] > 0


def test_a_clipped_estimate_keeps_its_standard_error():
    """A few predictions, nearly all at high scores: the estimated precision's interval reaches past
    1 and is clipped, so its half-width / z understates the estimator's standard error."""
    counts = np.r_[np.zeros(16), [1.0, 2.0, 12.0]]  # scores 0.85, 0.9, 0.95
    s = estimated_state(counts)
    value, bernoulli, calibration_sd = (x[0] for x in estimate("estimated_precision", s))
    got = lookup("binary", "estimated_precision").interval(s, Z)
    assert got.upper[0] == 1.0 and value + Z * np.hypot(bernoulli, calibration_sd) > 1
    assert got.std_error[0] == pytest.approx(np.hypot(bernoulli, calibration_sd), rel=1e-12)
    assert (got.upper[0] - got.lower[0]) / (2 * Z) < 0.9 * got.std_error[0]


# --- the registry's contract ----------------------------------------------------------------------


def with_gap(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` and, three empty days after their last, their first day's rows again: the 3-day
    windows over the gap hold no prediction."""
    first, last = rows["bucket_start"].min(), rows["bucket_start"].max()
    again = rows[rows["bucket_start"] == first].assign(bucket_start=last + 4 * DAY)
    return pd.concat([rows, again], ignore_index=True)


def multiclass_rows(seed: int = 5) -> pd.DataFrame:
    """Three classes; day 2 without labels; day 3 a single prediction."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(6):
        n = 1 if day == 3 else int(rng.integers(30, 80))
        y = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).astype(object)
        pred = np.where(rng.random(n) < 0.7, y, rng.choice(["a", "b", "c"], n)).astype(object)
        p_true = rng.uniform(0.2, 0.9, n)
        y = np.where(np.full(n, day != 2), y, None)
        frame = {"model_version": "v1", "bucket_start": T0 + day * DAY, "y": y, "pred": pred, "p_true": p_true}
        frames.append(pd.DataFrame(frame))
    return with_gap(pd.concat(frames, ignore_index=True))


def regression_rows(seed: int = 4) -> pd.DataFrame:
    """Day 2 without labels, day 3 a single row, day 4 a constant label."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(6):
        n = 1 if day == 3 else int(rng.integers(20, 60))
        y = rng.normal(50, 10, n).round(1)
        if day == 4:
            y[:] = 42.0
        pred = y + rng.normal(1, 4, n)
        y = y if day != 2 else np.full(n, np.nan)
        frames.append(pd.DataFrame({"model_version": "v1", "bucket_start": T0 + day * DAY, "y": y, "pred": pred}))
    return with_gap(pd.concat(frames, ignore_index=True))


def binary_contract_rows() -> pd.DataFrame:
    """``binary_rows`` over 10 days, then day 10 without labels, day 11 with a single prediction,
    and a gap."""
    rows = binary_rows(seed=12, days=10)
    unlabeled = rows[rows["bucket_start"] == T0].assign(bucket_start=T0 + 10 * DAY, y=np.nan)
    single = rows.iloc[:1].assign(bucket_start=T0 + 11 * DAY)
    return with_gap(pd.concat([rows, unlabeled, single], ignore_index=True))


def binary_outputs() -> pd.DataFrame:
    data = dict(BASE, metrics=metric_names("binary"), baseline={"window": "3 days"})
    data |= {
        "windows": {"granularity": "1 day", "rolling": ["3 days"]},
        "labels": dict(BASE["labels"], max_delay="2 days"),
    }
    plan = WindowPlan.from_config(parse_config(data), T0 + 30 * DAY)
    first = int(np.datetime64(T0, "s").astype(np.int64))  # the version's first bucket (Spark finds it)
    reference = replace(plan.reference, version_starts=((ALL_VERSIONS, first), ("v1", first)))
    return finalise_slice(binary_stats(binary_contract_rows()), replace(plan, reference=reference))


def contract_outputs() -> dict[str, pd.DataFrame]:
    """Every registered metric finalised over a few days of rows with degenerate days among them
    (ranking: a state of two windows, one of a single request)."""
    multiclass = [m.replace("[c]", "[b]") for m in metric_names("multiclass")]
    return {
        "binary": binary_outputs(),
        "multiclass": finalise_slice(
            multiclass_stats(multiclass_rows()),
            window_plan("multiclass", multiclass, prediction="pred", probabilities="proba"),
        ),
        "regression": finalise_slice(
            regression_stats(regression_rows()),
            window_plan("regression", metric_names("regression"), score="pred"),
        ),
        "ranking": ranking_outputs(),
    }


def ranking_outputs() -> pd.DataFrame:
    """Each ranking metric's interval on a state built from per-request values in [0, 1]: 30
    requests, then one."""
    rng = np.random.default_rng(2)
    out = []
    for name in metric_names("ranking"):
        metric = lookup("ranking", name.replace("@k", "@5"))
        state = {}
        for field in metric.fields_at(5):
            if field.startswith("n_"):
                state[field] = np.array([30.0, 1.0])
            elif not field.endswith("_sq"):
                values = [rng.random(30), rng.random(1)]
                state[field] = np.array([v.sum() for v in values])
                state[f"{field}_sq"] = np.array([(v**2).sum() for v in values])
        _, interval = bind("ranking", name.replace("@k", "@5"))
        ci = (np.full((3, 2), np.nan)) if interval is None else interval(state, Z)
        out.append(pd.DataFrame({"metric": name, "ci_lower": ci[0], "ci_upper": ci[1], "std_error": ci[2]}))
    return pd.concat(out, ignore_index=True)


def test_every_metric_with_an_interval_has_a_standard_error_exactly_where_its_interval_is():
    """Over every registered metric: a standard error finite and >= 0 wherever the interval is
    finite, > 0 where the interval has width, NaN where the interval is NaN (each metric shows
    both), and none at all for a metric without an interval."""
    outputs = contract_outputs()
    seen = set()
    for problem_type, out in outputs.items():
        for name, rows in out.groupby("metric"):
            metric = lookup(problem_type, name.replace("@k", "@5"))
            se, lower, upper = (rows[c].to_numpy(float) for c in ("std_error", "ci_lower", "ci_upper"))
            what = f"{problem_type} {name}"
            if metric.interval is None:
                assert np.isnan(se).all() and np.isnan(lower).all(), what
                continue
            seen.add((problem_type, metric.name))
            np.testing.assert_array_equal(np.isnan(se), np.isnan(lower) | np.isnan(upper), err_msg=what)
            defined = ~np.isnan(se)
            assert defined.any() and (~defined).any(), what
            assert np.isfinite(se[defined]).all() and (se[defined] >= 0).all(), what
            assert (se[defined & (upper > lower)] > 0).all() and (defined & (upper > lower)).any(), what
    registered = {key for key, m in REGISTRY.items() if m.interval is not None}
    assert seen == registered


# --- the tests read it ------------------------------------------------------------------------------


def history(values, lower, upper, std_error, baseline=0.95, **columns) -> pd.DataFrame:
    k = len(values)
    return pd.DataFrame(
        {
            "window_start": [pd.Timestamp(T0) + i * pd.Timedelta(days=1) for i in range(k)],
            "value": values,
            "ci_lower": lower,
            "ci_upper": upper,
            "std_error": std_error,
            "n_labeled": 1000,
            "label_coverage": 1.0,
            "is_mature": True,
            "baseline": baseline,
            **columns,
        }
    )


def rule_plan(metric="estimated_accuracy", **levels) -> RulePlan:
    rule = AlertRule(
        name="r",
        metric=metric,
        **(levels or {"minor": {"ratio": 0.95}}),
        min_labeled=100,
        resolve_after=2,
        extra_variance="none",
    )
    return RulePlan.build(rule, True, 0.95)


def test_a_clipped_interval_is_tested_with_the_stored_standard_error():
    """An estimate shown as 0.986 [0.913, 1.000]: its own standard error is 0.037, half its
    clipped interval over z only 0.022; the p-value reads 0.037."""
    p = rule_plan()
    h = history([0.986], [0.913], [1.0], [0.037], baseline=0.99, baseline_std_error=0.004)
    (test,) = window_tests(h, p)
    assert (test.std_error, test.se, test.baseline_std_error, test.baseline_se) == (0.037, 0.037, 0.004, 0.004)
    ((window, _),) = list(replay(h, p))
    assert window["p_value"] == pytest.approx(NormalDist().cdf((0.986 - 0.99) / np.hypot(0.037, 0.004)))
    assert window["std_error"] == 0.037 and window["baseline_std_error"] == 0.004
    legacy = (1.0 - 0.913) / (2 * Z)
    assert legacy == pytest.approx(0.022, abs=5e-4)
    assert window["p_value"] != pytest.approx(NormalDist().cdf((0.986 - 0.99) / np.hypot(legacy, 0.004)), abs=1e-3)


def test_rows_without_a_stored_standard_error_take_half_the_interval_over_z():
    """Rows written before the column existed (null there, or no column at all) are the legacy
    path: the interval's half-width / z; a history may mix them with newer rows."""
    p = rule_plan()
    mixed = history([0.9, 0.9], [0.86, 0.86], [0.94, 0.98], [np.nan, 0.01], baseline_ci_lower=0.93)
    mixed["baseline_ci_upper"] = 0.97
    old, new = window_tests(mixed, p)
    assert old.std_error == pytest.approx(0.04 / Z) and new.std_error == 0.01
    assert old.baseline_std_error == new.baseline_std_error == pytest.approx(0.02 / Z)
    without = window_tests(mixed.drop(columns="std_error"), p)
    assert [t.std_error for t in without] == pytest.approx([0.04 / Z, 0.06 / Z])
    # the helper itself, on scalars and arrays: stored first, else half-width / z, else NaN
    assert float(standard_error(0.03, 0.1, 0.5, 2.0)) == 0.03
    assert float(standard_error(None, 0.1, 0.5, 2.0)) == pytest.approx(0.1)
    assert np.isnan(standard_error(None, None, 0.5, 2.0))
    np.testing.assert_allclose(standard_error([np.nan, 0.2], [0.0, 0.0], [0.4, 9.0], 2.0), [0.1, 0.2])


def test_the_stored_standard_error_decides_a_drop_and_its_decay():
    """0.80 against a baseline of 0.95 (MINOR from 0.9025): with its own standard error of 0.03
    the drop is beyond doubt; read from its asymmetric interval [0.70, 0.99] (0.074) it is not."""
    p = rule_plan()
    stored = history([0.80], [0.70], [0.99], [0.03])
    (ep,) = evaluate_history(stored, p)
    assert ep["level"] == "MINOR" and json.loads(ep["evidence"])["windows"][-1]["std_error"] == 0.03
    assert evaluate_history(stored.assign(std_error=np.nan), p) == []
    assert decayed(stored, p) == [True] and decayed(stored.assign(std_error=np.nan), p) == [False]


def test_an_absolute_limit_is_exact_and_the_window_keeps_its_own_standard_error():
    p = rule_plan(minor={"min": 0.9})
    (test,) = window_tests(history([0.85], [0.7], [0.99], [0.02], baseline=np.nan), p)
    assert (test.std_error, test.se, test.baseline, test.baseline_std_error, test.baseline_se) == (
        0.02,
        0.02,
        0.9,
        0.0,
        0.0,
    )


def test_the_extra_variance_weighs_windows_by_their_stored_standard_errors():
    """The same reference period, once with standard errors stored and wide intervals, once with
    intervals whose half-width / z are those standard errors: the same extra variance."""
    rng = np.random.default_rng(4)
    values = np.r_[0.85 + rng.normal(0, 0.02, 20), 0.80]
    ses = rng.uniform(0.004, 0.012, 21)
    columns = {
        "window_end": [pd.Timestamp(T0) + (i + 1) * pd.Timedelta(days=1) for i in range(21)],
        "reference_start": pd.Timestamp(T0),
        "reference_end": pd.Timestamp(T0) + pd.Timedelta(days=20),
        "baseline_from_reference": True,
    }
    stored = history(values, values - 0.2, np.minimum(values + 0.1, 1.0), ses, baseline=0.85, **columns)
    legacy = history(values, values - Z * ses, values + Z * ses, np.nan, baseline=0.85, **columns)
    rule = AlertRule(name="r", metric="accuracy", minor={"ratio": 0.98}, min_labeled=100, extra_variance="moments")
    p = RulePlan.build(rule, True, 0.95)
    a, b = window_tests(stored, p)[-1], window_tests(legacy, p)[-1]
    assert a.extra.value == pytest.approx(b.extra.value, rel=1e-9) and a.extra.value > 0
    assert (a.std_error, a.se) == pytest.approx((b.std_error, b.se), rel=1e-9)
    assert a.se == pytest.approx(np.sqrt(ses[-1] ** 2 + a.extra.value))


def test_the_rollback_comparison_reads_the_stored_standard_errors():
    """The critical version's own perf_metrics row gives its standard error; a candidate whose
    interval is wide but standard error small is significantly better on the stored one."""
    crit = episode("v3", level="CRITICAL", value=0.60, ci=(0.40, 0.62))

    def cand(v, value, ci, se):
        return {
            "n_labeled": 1000,
            "rule": "acc",
            "window": "7 days",
            "slice_key": "*",
            "slice_value": "*",
            "window_start": crit.last_window_start,
            "model_version": v,
            "value": value,
            "ci_lower": ci[0],
            "ci_upper": ci[1],
            "std_error": se,
        }

    def compared(candidates):
        (status,) = [s for s in model_statuses(decisions_config(), ["v1", "v3"], [crit], candidates) if s.comparison]
        return json.loads(status.comparison)

    stored = compared([cand("v1", 0.66, (0.50, 0.99), 0.02), cand("v3", 0.60, (0.40, 0.62), 0.01)])
    (row,) = stored["candidates"]
    assert row["z"] == pytest.approx(0.06 / np.hypot(0.02, 0.01)) and row["significant"] is True
    assert row["std_error"] == 0.02 and stored["this"]["std_error"] == 0.01
    legacy = compared([cand("v1", 0.66, (0.50, 0.99), None), cand("v3", 0.60, (0.40, 0.62), None)])
    (row,) = legacy["candidates"]
    assert row["z"] == pytest.approx(0.06 / np.hypot(0.49 / (2 * Z), 0.22 / (2 * Z))) and row["significant"] is False
