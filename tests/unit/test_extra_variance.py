"""The extra (day-to-day) variance of a rule's windows, measured on its reference period and added
to every comparison with the baseline (no Spark)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from perfmon_spark.alerts import rules
from perfmon_spark.alerts.decay import decayed
from perfmon_spark.alerts.rules import (
    DEFAULT_EXTRA_SD,
    Estimated,
    RulePlan,
    evaluate_history,
    evaluated_windows,
    extra_variance,
    window_tests,
)
from perfmon_spark.config import AlertRule, parse_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.vocabulary import ExtraVariance
from tests.helpers import with_changes

T0, DAY = pd.Timestamp("2026-01-01"), pd.Timedelta(days=1)
SE = 0.005  # each window's sampling error


def newest_series_p(history, plan) -> float | None:
    """The series' p of the run's false-discovery family: that of its newest evaluated window."""
    windows = evaluated_windows(history, plan)
    return windows[-1]["series_p_value"] if windows else None


def history(reference: list[float], after: list[float], baseline=0.85, averaged=True) -> pd.DataFrame:
    """Daily windows: the reference period's values, then those after it (compared with the baseline)."""
    values = pd.Series(reference + after, dtype=float)
    half = SE * rules.z_value(0.95)
    start = T0 + DAY * np.arange(len(values))
    return pd.DataFrame(
        {
            "window_start": start,
            "window_end": start + DAY,
            "value": values,
            "ci_lower": values - half,
            "ci_upper": values + half,
            "n_labeled": 3000,
            "label_coverage": 1.0,
            "is_mature": True,
            "baseline": [np.nan] * len(reference) + [baseline] * len(after),
            "baseline_ci_lower": baseline - 0.002 * rules.z_value(0.95),
            "baseline_ci_upper": baseline + 0.002 * rules.z_value(0.95),
            "reference_start": T0,
            "reference_end": T0 + DAY * len(reference),
            "baseline_from_reference": averaged,
        }
    )


def plan(extra: str = "moments") -> RulePlan:
    rule = AlertRule(
        name="r",
        metric="accuracy",
        minor={"ratio": 0.98},
        sustained={"ratio": 0.97, "of": 3, "within": 7},
        min_labeled=100,
        extra_variance=extra,
    )
    return RulePlan.build(rule, True, 0.95)


SWINGING = [0.87, 0.83] * 14  # a stable series moving 2 points from day to day
DROP = [0.795] * 5  # 6.5% worse: far beyond SUSTAINED's 3% by sampling error alone


def test_the_doctests_run():
    assert doctest.testmod(rules).failed == 0


def test_moments_measure_the_variance_beyond_sampling_error():
    (test,) = [t for t in window_tests(history(SWINGING, DROP[:1]), plan()) if t is not None]
    observed = 28 * 0.02**2 / 27
    assert test.extra.value == pytest.approx(observed - SE**2)
    assert (test.extra.windows, test.extra.degrees, test.extra.estimated) == (28, 27, True)
    assert test.se == pytest.approx(np.sqrt(observed))
    # the baseline averages the 28 windows: it carries a 28th of their day-to-day variance
    assert test.extra.baseline_share == pytest.approx(1 / 28)
    assert test.baseline_se == pytest.approx(np.sqrt(0.002**2 + (observed - SE**2) / 28))
    fixed = window_tests(history(SWINGING, DROP[:1], averaged=False), plan())[-1]
    assert fixed.extra.baseline_share == 0 and fixed.baseline_se == pytest.approx(0.002)


def test_a_drop_within_the_day_to_day_variation_is_not_sustained():
    h = history(SWINGING, DROP)
    (alone,) = evaluate_history(h, plan("none"))  # sampling error only: 8 standard errors
    assert alone["level"] == "SUSTAINED"
    evidence = json.loads(alone["evidence"])
    assert evidence["extra_variance"] is None and evidence["windows"][-1]["extra_variance"] is None
    (counted,) = evaluate_history(h, plan())  # 2.7 standard deviations of the day-to-day variation: MINOR
    assert counted["level"] == "MINOR"
    evidence = json.loads(counted["evidence"])
    assert evidence["extra_variance"]["method"] == "moments"
    assert evidence["windows"][-1]["extra_variance"] == pytest.approx(28 * 0.02**2 / 27 - SE**2)
    # a stable series in the reference period: the same drop is real
    (steady,) = evaluate_history(history([0.85] * 28, DROP), plan())
    assert steady["level"] == "SUSTAINED"
    # decay is the lowest level's test: 0.81 is MINOR (2% worse) by sampling error alone, not beyond it
    mild = history(SWINGING, [0.81])
    assert decayed(mild, plan("none"))[-1] is True and decayed(mild, plan())[-1] is False
    assert newest_series_p(h, plan()) > newest_series_p(h, plan("none"))


def test_too_few_reference_windows_take_the_stated_default_and_say_so():
    (ep,) = evaluate_history(history(SWINGING[:5], DROP), plan())
    extra = json.loads(ep["evidence"])["extra_variance"]
    assert extra["value"] == pytest.approx((DEFAULT_EXTRA_SD * 0.85) ** 2)
    assert (extra["windows"], extra["degrees_of_freedom"], extra["estimated"]) == (5, 4, False)
    assert "fewer than 6" in extra["default"] and "1% of the baseline" in extra["default"]
    # no reference period at all (a history without its columns): the default too
    bare = history(SWINGING, DROP).drop(columns=["reference_start", "reference_end"])
    assert window_tests(bare, plan())[-1].extra.windows == 0


def test_windows_that_share_buckets_are_compared_within_their_chain():
    """Rolling 2-day windows every day: each is compared with those 2, 4, ... days from it."""
    values, ses = np.array([0.80, 0.81, 0.84, 0.85, 0.80, 0.81, 0.84, 0.85]), np.full(8, 0.01)
    chains = np.arange(8) % 2
    tau2, degrees = extra_variance(values, ses, chains, ExtraVariance.MOMENTS)
    assert degrees == 6
    assert tau2 == pytest.approx((np.var(values[::2], ddof=1) + np.var(values[1::2], ddof=1)) / 2 - 0.01**2)
    assert extra_variance(values[:1], ses[:1], chains[:1], ExtraVariance.MOMENTS) == (0.0, 0)


def test_moments_weigh_each_window_by_what_it_says():
    """Paule-Mandel on windows of 50 and 5,000 labels in turn: close to a true extra variance, and
    far less noisy than the unweighted difference of variances, whose noise comes from the
    imprecise windows and passed for day-to-day variation."""
    rng = np.random.default_rng(1)
    ses, chains = np.tile([0.05, 0.005], 14), np.zeros(28)
    for tau in (0.0, 0.02):
        draws = [rng.normal(0.85, np.sqrt(ses**2 + tau**2)) for _ in range(2000)]
        weighted = np.array([extra_variance(x, ses, chains, ExtraVariance.MOMENTS)[0] for x in draws])
        plain = np.array([np.var(x, ddof=1) - np.mean(ses**2) for x in draws])
        assert weighted.std() < plain.std() / 2
        assert weighted.mean() == pytest.approx(tau**2, abs=0.1 * 0.02**2)


def test_the_robust_spread_barely_moves_for_one_outlying_window():
    rng = np.random.default_rng(0)
    values = 0.85 + rng.normal(0, 0.02, 60)
    ses, chains = np.full(60, SE), np.zeros(60)
    clean, _ = extra_variance(values, ses, chains, ExtraVariance.MOMENTS)
    values[10] = 0.55  # one broken day in the reference period
    inflated, _ = extra_variance(values, ses, chains, ExtraVariance.MOMENTS)
    robust, degrees = extra_variance(values, ses, chains, ExtraVariance.ROBUST)
    assert inflated > 3 * clean
    assert robust == pytest.approx(clean, rel=0.3)
    assert degrees == int(59 * rules.ROBUST_EFFICIENCY)


def test_an_estimated_variance_reads_students_t_on_welch_satterthwaite_degrees():
    p = plan()
    assert p.p_value(0.80, 0.02, 0.85, 0.0) == pytest.approx(stats.norm.cdf(-2.5))
    # all of the variance estimated on 10 degrees of freedom: Student's t with 10
    assert p.p_value(0.80, 0.02, 0.85, 0.0, Estimated(0.02**2, 10)) == pytest.approx(stats.t.cdf(-2.5, 10))
    # half of it: (1 / 0.5)^2 x 10 = 40 degrees of freedom
    assert p.p_value(0.80, 0.02, 0.85, 0.0, Estimated(0.02**2 / 2, 10)) == pytest.approx(stats.t.cdf(-2.5, 40))
    assert p.p_value(0.90, 0.02, 0.85, 0.0, Estimated(0.02**2, 10)) == pytest.approx(stats.t.cdf(2.5, 10))


def test_absolute_levels_and_point_comparisons_add_none():
    limit = AlertRule(name="r", metric="accuracy", minor={"min": 0.8}, min_labeled=100)
    point = AlertRule(name="r", metric="accuracy", minor={"ratio": 0.98}, min_labeled=100, confidence=None)
    assert RulePlan.build(limit, True, 0.95).extra is ExtraVariance.NONE
    assert RulePlan.build(point, True, 0.95).extra is ExtraVariance.NONE
    assert RulePlan.build(point.model_copy(update={"confidence": 0.95}), True, 0.95).extra is ExtraVariance.MOMENTS


def test_a_rule_chooses_or_opts_out_in_its_config():
    def rule(**extra):
        return with_changes(alerts=[{"name": "a", "metric": "accuracy", "minor": {"ratio": 0.9}, **extra}])

    assert parse_config(rule()).alerts[0].extra_variance == ExtraVariance.MOMENTS
    assert parse_config(rule(extra_variance="none")).alerts[0].extra_variance == ExtraVariance.NONE
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.extra_variance: unknown value 'sometimes'; allowed: moments"):
        parse_config(rule(extra_variance="sometimes"))
