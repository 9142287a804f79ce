"""Alert rules on hand-built metric histories (no Spark): every level, both directions, the
interval rule, maturity, min_labeled, hysteresis and retroactive changes."""

from __future__ import annotations

import json
from dataclasses import replace
from statistics import NormalDist

import pandas as pd
import pytest

from perfmon_spark.alerts.lifecycle import Episode, events_between
from perfmon_spark.alerts.rules import RulePlan, class_gates, evaluate_history, evaluated_windows, replay
from perfmon_spark.config import AlertRule, MaturityPolicy, parse_duration
from perfmon_spark.vocabulary import AlertStatus

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-01-01")


def newest_series_p(history, plan) -> float | None:
    """The series' p of the run's false-discovery family: that of its newest evaluated window."""
    windows = evaluated_windows(history, plan)
    return windows[-1]["series_p_value"] if windows else None


def history(values, half=0.0, baseline=0.9, n=1000, mature=True, coverage=1.0):
    k = len(values)
    as_list = lambda x: list(x) if isinstance(x, (list, tuple)) else [x] * k  # noqa: E731
    v = pd.Series(values, dtype=float)
    h = pd.Series(as_list(half), dtype=float)
    return pd.DataFrame(
        {
            "window_start": [T0 + i * DAY for i in range(k)],
            "value": v,
            "ci_lower": v - h,
            "ci_upper": v + h,
            "n_labeled": as_list(n),
            "label_coverage": as_list(coverage),
            "is_mature": as_list(mature),
            "baseline": as_list(baseline),
        }
    )


MATURE = MaturityPolicy()


def plan(
    levels, metric="accuracy", confidence=None, maturity=MATURE, resolve_after=2, min_labeled=100, extra_variance="none"
):
    """A rule on hand-built histories: sampling error only, unless ``extra_variance`` says otherwise."""
    rule = AlertRule(
        name="r",
        metric=metric,
        window="1 day",
        slices="all",
        **{key: level for spec in levels for key, level in spec.items()},
        min_labeled=min_labeled,
        confidence=confidence,
        maturity=maturity,
        resolve_after=resolve_after,
        extra_variance=extra_variance,
    )
    return RulePlan.build(rule, metric not in ("rmse", "mae"), 0.95)


MINOR = {"minor": {"ratio": 0.95}}
SUSTAINED3 = {"sustained": {"ratio": 0.90, "consecutive": 3}}
CRITICAL = {"critical": {"ratio": 0.80}}


def test_no_alert_while_values_stay_above_every_threshold():
    assert evaluate_history(history([0.9, 0.88, 0.86, 0.9]), plan([MINOR, SUSTAINED3, CRITICAL])) == []


def test_minor_opens_on_one_window_and_logs():
    (ep,) = evaluate_history(history([0.9, 0.85, 0.9]), plan([MINOR], resolve_after=5))
    assert (ep["level"], ep["status"], ep["action"]) == ("MINOR", "OPEN", "LOG")
    assert ep["opened_window_start"] == T0 + DAY
    assert ep["threshold"] == pytest.approx(0.9 * 0.95)
    assert ep["baseline"] == 0.9


def test_sustained_needs_consecutive_windows():
    p = plan([MINOR, SUSTAINED3], resolve_after=5)
    (ep,) = evaluate_history(history([0.8, 0.8, 0.9, 0.8, 0.8]), p)
    assert ep["level"] == "MINOR"
    (ep,) = evaluate_history(history([0.9, 0.8, 0.8, 0.8]), p)
    assert (ep["level"], ep["action"], ep["opened_window_start"]) == ("SUSTAINED", "ALERT", T0 + DAY)


def test_sustained_n_of_m():
    p = plan([{"sustained": {"ratio": 0.9, "of": 3, "within": 5}}], resolve_after=9)
    assert evaluate_history(history([0.8, 0.9, 0.8, 0.9, 0.9, 0.9]), p) == []
    (ep,) = evaluate_history(history([0.8, 0.9, 0.8, 0.9, 0.8]), p)
    assert ep["level"] == "SUSTAINED" and ep["opened_window_start"] == T0 + 4 * DAY


def test_critical_blocks_or_rolls_back_and_deescalates_when_it_eases():
    p = plan([MINOR, CRITICAL], resolve_after=5)
    (ep,) = evaluate_history(history([0.9, 0.6]), p)
    assert (ep["level"], ep["action"]) == ("CRITICAL", "BLOCK_OR_ROLLBACK")
    (ep,) = evaluate_history(history([0.9, 0.6, 0.84]), p)
    assert ep["level"] == "MINOR" and ep["status"] == "OPEN"
    assert '"peak_level": "CRITICAL"' in ep["evidence"]


def test_smaller_is_better_metrics_alert_when_the_value_grows():
    p = plan([MINOR, CRITICAL], metric="rmse", resolve_after=5)
    assert evaluate_history(history([1.0, 1.04, 0.7], baseline=1.0), p) == []
    (ep,) = evaluate_history(history([1.0, 1.1], baseline=1.0), p)
    assert ep["level"] == "MINOR" and ep["threshold"] == pytest.approx(1 / 0.95)
    (ep,) = evaluate_history(history([1.0, 1.3], baseline=1.0), p)
    assert ep["level"] == "CRITICAL"


def test_a_smaller_is_better_threshold_carries_the_baselines_error_divided_by_the_ratio():
    """Log-loss, baseline 0.30 (se 0.02), window 0.41 (se 0.01), CRITICAL at ratio 0.8: the
    threshold 0.30 / 0.8 = 0.375 has se 0.02 / 0.8 = 0.025, so p = 0.097 (0.032 with the
    baseline's error scaled by 0.8, which raised BLOCK_OR_ROLLBACK)."""
    rule = AlertRule(name="r", metric="log_loss", **CRITICAL, min_labeled=100, resolve_after=2, extra_variance="none")
    p = RulePlan.build(rule, False, 0.95)
    (critical,) = rule.levels
    threshold, threshold_se = p.threshold(0.30, critical), p.threshold_se(0.02, critical)
    assert (threshold, threshold_se) == pytest.approx((0.375, 0.025))
    assert p.p_value(0.41, 0.01, threshold, threshold_se) == pytest.approx(0.097, abs=5e-4)
    z = p.z_table
    h = history([0.41], half=0.01 * z, baseline=0.30).assign(
        baseline_ci_lower=0.30 - 0.02 * z, baseline_ci_upper=0.30 + 0.02 * z
    )
    assert evaluate_history(h, p) == []  # not beyond doubt at confidence 0.95
    # larger-is-better: the threshold is baseline x ratio, and so is its error
    up = RulePlan.build(rule.model_copy(update={"metric": "accuracy"}), True, 0.95)
    assert up.threshold_se(0.02, critical) == pytest.approx(0.016)


def test_a_single_window_level_needs_its_drop_past_the_threshold_beyond_doubt():
    p = plan([MINOR], confidence=0.95, resolve_after=5)
    se = 0.02 / NormalDist().inv_cdf(0.975)
    assert evaluate_history(history([0.84], half=0.02), p) == []  # (0.84 - 0.855) / se: p = 0.07
    (ep,) = evaluate_history(history([0.835], half=0.02), p)  # p = 0.025
    assert ep["level"] == "MINOR"
    assert json.loads(ep["evidence"])["p_value"] == pytest.approx(NormalDist().cdf((0.835 - 0.9) / se))
    # the rule's confidence is the test's level
    assert evaluate_history(history([0.835], half=0.02), plan([MINOR], confidence=0.99, resolve_after=5)) == []
    # no interval: not evaluated under a rule with a confidence
    assert evaluate_history(history([0.5], half=float("nan")), p) == []


TWICE = {"sustained": {"ratio": 0.95, "consecutive": 2}}


def test_a_persistent_level_asks_whether_the_drop_matters_and_whether_it_is_real():
    p = plan([TWICE], confidence=0.95, resolve_after=5)
    # past the threshold (0.855) and a real change from 0.9: beyond, although each interval
    # reaches above the threshold (which the single-window test, and the old rule, required)
    (ep,) = evaluate_history(history([0.84, 0.84], half=0.02), p)
    assert ep["level"] == "SUSTAINED" and ep["opened_window_start"] == T0 + DAY
    # a real change, but not past the threshold: too small to matter
    assert evaluate_history(history([0.86, 0.86], half=0.005), p) == []
    # past the threshold but within the noise: not real
    assert evaluate_history(history([0.85, 0.85], half=0.15), p) == []


def test_a_baseline_estimated_from_data_counts_its_own_uncertainty():
    p = plan([TWICE], confidence=0.95, resolve_after=5)
    h = history([0.84, 0.84], half=0.02)
    assert len(evaluate_history(h, p)) == 1  # a fixed baseline: exact
    # the same baseline estimated with a half-width of 0.08: the change is no longer significant
    noisy = h.assign(baseline_ci_lower=0.82, baseline_ci_upper=0.98)
    assert evaluate_history(noisy, p) == []


def test_one_bad_bucket_is_counted_once_by_overlapping_rolling_windows():
    """A 7-day rolling window every day: one bad day lies in seven windows, which share buckets;
    SUSTAINED counts windows that share none (7 days apart), so one day never makes it."""
    rule = AlertRule(name="r", metric="accuracy", window="7 days", **MINOR, **SUSTAINED3, min_labeled=100)
    p = RulePlan.build(rule, True, 0.95, parse_duration("1 day", "g"))
    assert p.step == 7
    one_bad_day = [0.9] * 20 + [0.8] * 7 + [0.9] * 20  # the 7 windows holding the bad day
    (ep,) = evaluate_history(history(one_bad_day), p)
    assert ep["level"] == "MINOR"
    # a drop that lasts: windows 7 and 14 days apart are all bad, so SUSTAINED holds on the third
    lasting = history([0.9] * 20 + [0.8] * 30)
    assert [e["level"] for e in evaluate_history(lasting.iloc[:34], p)] == ["MINOR"]
    assert [e["level"] for e in evaluate_history(lasting.iloc[:35], p)] == ["SUSTAINED"]


def test_class_gates_skip_windows_with_too_few_positives():
    rule = AlertRule(name="r", metric="roc_auc", window="1 day", **MINOR, min_labeled=10)
    assert class_gates(rule, "binary") == (10, 10)
    assert class_gates(AlertRule(name="r", metric="roc_auc", **MINOR, min_positives=3), "binary") == (3, 10)
    assert class_gates(AlertRule(name="r", metric="accuracy", **MINOR), "binary") == (0, 0)
    p = RulePlan.build(rule, True, 0.95, None, *class_gates(rule, "binary"))
    few = history([0.5, 0.5]).assign(n_positive=[2, 30], n_negative=[998, 970])
    (ep,) = evaluate_history(few, p)
    assert ep["opened_window_start"] == T0 + DAY  # the window with two positives was skipped


def test_maturity_and_min_labeled_skip_windows():
    p = plan([MINOR])
    assert evaluate_history(history([0.5, 0.5], mature=False), p) == []
    assert evaluate_history(history([0.5, 0.5], n=99), p) == []
    covered = plan([MINOR], maturity=MaturityPolicy(mode="min_coverage", min_coverage=0.8))
    assert evaluate_history(history([0.5], mature=False, coverage=0.7), covered) == []
    assert len(evaluate_history(history([0.5], mature=False, coverage=0.85), covered)) == 1
    assert len(evaluate_history(history([0.5], mature=False), plan([MINOR], maturity=MaturityPolicy(mode="any")))) == 1


def test_skipped_windows_neither_count_nor_break_a_streak():
    h = history([0.8, 0.8, 0.5, 0.8], n=[1000, 1000, 10, 1000])
    (ep,) = evaluate_history(h, plan([SUSTAINED3], resolve_after=5))
    assert ep["level"] == "SUSTAINED" and ep["last_window_start"] == T0 + 3 * DAY


def test_hysteresis_resolves_after_k_recovered_windows_and_limbo_restarts_the_count():
    p = plan([MINOR], confidence=0.95, resolve_after=2)
    # open at 0.80; 0.9 recovered; 0.85 (point below 0.855, interval not wholly below) restarts;
    # then two recovered windows resolve it
    h = history([0.80, 0.90, 0.85, 0.90, 0.90, 0.90], half=0.01)
    (ep,) = evaluate_history(h, p)
    assert ep["status"] == "RESOLVED" and ep["resolved_window_start"] == T0 + 4 * DAY
    assert ep["last_window_start"] == T0 + 4 * DAY
    # a new drop after resolution is a new episode with its own key
    eps = evaluate_history(history([0.8, 0.9, 0.9, 0.8]), p)
    assert [e["status"] for e in eps] == ["RESOLVED", "OPEN"]
    assert eps[1]["opened_window_start"] == T0 + 3 * DAY


def _stored(episodes, run_id="run-1"):
    """Evaluated episodes as stored in perf_alerts (already stored ones keep their row)."""
    return [
        Episode.of(
            {
                "monitor": "m",
                "rule": "r",
                "model_version": "v1",
                "slice_key": "*",
                "slice_value": "*",
                "window": "1 day",
                **(e.row() if isinstance(e, Episode) else e),
                "updated_run_id": run_id,
            }
        )
        for e in episodes
    ]


def test_late_labels_raise_and_resolve_after_the_fact():
    p = plan([MINOR, SUSTAINED3], resolve_after=2)
    before = _stored(evaluate_history(history([0.9, 0.8, 0.8, 0.9]), p))
    # late labels make the fourth window bad too: the episode escalates retroactively
    after = _stored(evaluate_history(history([0.9, 0.8, 0.8, 0.8]), p))
    assert [(e["event"], e["level"]) for e in events_between(before, after, "run-2", 0)] == [("ESCALATED", "SUSTAINED")]
    # and later labels lift two windows back up: resolved after the fact
    healed = _stored(evaluate_history(history([0.9, 0.8, 0.8, 0.9, 0.9, 0.9]), p))
    assert [e["event"] for e in events_between(_stored(after), healed, "run-3", 0)] == ["DEESCALATED", "RESOLVED"]
    # revisions that move the opening window retract the old episode and raise a new one
    moved = _stored(evaluate_history(history([0.9, 0.9, 0.8, 0.8]), p))
    assert sorted(e["event"] for e in events_between(after, moved, "run-4", 0)) == ["RAISED", "RETRACTED"]
    # a first sighting of an episode that already recovered: raised and resolved at once
    assert [e["event"] for e in events_between([], healed, "run-5", 0)] == ["RAISED", "RESOLVED"]
    # re-running on the same state: no event, and the same transition has the same id
    assert events_between(after, after, "run-6", 0) == []
    ids = {e["event_id"] for e in events_between(before, after, "x", 0)}
    assert ids == {e["event_id"] for e in events_between(before, after, "y", 1)}
    reopened = [replace(e, status=AlertStatus.RESOLVED) for e in after]
    assert [e["event"] for e in events_between(reopened, after, "run-7", 0)] == ["REOPENED"]


def test_the_worked_example_of_docs_alerting():
    values = [0.905, 0.860, 0.820, 0.815, 0.812, 0.806, 0.850, 0.90, 0.91, 0.91]
    lower = [0.880, 0.845, 0.800, 0.795, 0.790, 0.785, 0.820, 0.88, 0.89, 0.89]
    upper = [0.930, 0.875, 0.840, 0.826, 0.827, 0.825, 0.880, 0.92, 0.93, 0.93]
    h = history(values, baseline=0.92)
    h["ci_lower"], h["ci_upper"] = lower, upper
    p = plan([MINOR, SUSTAINED3, CRITICAL], metric="roc_auc", confidence=0.95, resolve_after=3)
    steps = [evaluate_history(h.iloc[:k], p) for k in range(1, len(values) + 1)]
    assert steps[0] == []
    assert [(s[0]["level"], s[0]["status"]) for s in steps[1:]] == [("MINOR", "OPEN")] * 3 + [
        ("SUSTAINED", "OPEN")
    ] * 5 + [("SUSTAINED", "RESOLVED")]
    assert steps[-1][0]["opened_window_start"] == T0 + DAY and steps[-1][0]["resolved_window_start"] == T0 + 9 * DAY


def proxy_plan(levels, metric="score_psi", confidence=None, min_labeled=100):
    rule = AlertRule(
        name="p",
        metric=metric,
        window="1 day",
        **levels,
        min_labeled=min_labeled,
        confidence=confidence,
        resolve_after=2,
    )
    return RulePlan.build(rule, None, 0.95, labeled=False)


def test_absolute_limits_need_no_baseline_and_proxies_gate_on_predictions():
    levels = {"minor": {"max": 0.1}, "critical": {"max": 0.25}}
    h = history([0.02, 0.15, 0.3, 0.05, 0.05], baseline=float("nan"), n=0).assign(n_predictions=500)
    h["is_mature"] = False  # a proxy awaits no label
    (ep,) = evaluate_history(h, proxy_plan(levels))
    assert (ep["level"], ep["threshold"], ep["baseline"]) == ("CRITICAL", 0.25, None)
    assert ep["status"] == "RESOLVED" and ep["opened_window_start"] == T0 + DAY
    assert json.loads(ep["evidence"])["levels"]["CRITICAL"]["max"] == 0.25
    assert evaluate_history(h.assign(n_predictions=50), proxy_plan(levels)) == []  # too few predictions


def test_a_min_limit_alerts_below_it_beyond_doubt():
    levels = {"minor": {"min": 0.3}}
    h = history([0.35, 0.28, 0.2], half=0.05).assign(n_predictions=1000)
    (ep,) = evaluate_history(h, proxy_plan(levels, metric="score_mean", confidence=0.95))
    assert ep["opened_window_start"] == T0 + 2 * DAY  # 0.28 is below 0.3 but within its interval


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"minor": {"ratio": 0.9, "max": 0.2}}, "give one of ratio, max or min; given: ratio, max"),
        ({"minor": {"consecutive": 2}}, "give one of ratio, max or min; given: none"),
        ({"minor": {"max": 0.2}, "critical": {"ratio": 0.5}}, "levels mix max and ratio"),
    ],
)
def test_levels_give_one_kind_of_threshold(levels, message):
    with pytest.raises(Exception, match=message):
        AlertRule(name="p", metric="score_psi", **levels)


def test_an_alert_on_an_estimated_metric_says_so_in_its_evidence():
    rule = AlertRule(name="est", metric="estimated_roc_auc", window="1 day", minor={"ratio": 0.95}, confidence=None)
    estimated = RulePlan.build(rule, True, 0.95, labeled=False)
    (episode,) = evaluate_history(history([0.9, 0.7, 0.7], n=0).assign(n_predictions=1000), estimated)
    assert json.loads(episode["evidence"])["estimate"] is True
    (measured,) = evaluate_history(history([0.9, 0.7, 0.7]), plan([MINOR]))
    assert json.loads(measured["evidence"])["estimate"] is False


def test_a_series_p_value_sees_a_collapse_and_a_steady_moderate_drop():
    """The false-discovery family's p of a series: its newest window's, or the mean change of the
    persistent level's last windows, whichever is smaller, doubled."""
    p = plan([MINOR, {"sustained": {"ratio": 0.97, "of": 3, "within": 7}}, CRITICAL], confidence=0.95)
    se = 0.02 / NormalDist().inv_cdf(0.975)
    steady = history([0.9] * 3 + [0.88] * 7, half=0.02)  # 2 points down for a week, 1.4 se a window
    pooled = NormalDist().cdf(-0.02 / (se / 7**0.5))
    assert newest_series_p(steady, p) == pytest.approx(2 * pooled)
    assert 2 * pooled < NormalDist().cdf(-0.02 / se)
    collapse = history([0.9] * 9 + [0.6], half=0.02)  # one window: its own p is the smaller
    assert newest_series_p(collapse, p) == pytest.approx(2 * NormalDist().cdf(-0.3 / se))
    # the replay shows the same p for each window, as a run at that window would have found it
    (*_, (last, _)) = replay(steady, p)
    assert last["series_p_value"] == pytest.approx(newest_series_p(steady, p))
    # without a persistent level: the newest window's p, undoubled
    assert newest_series_p(steady, plan([MINOR], confidence=0.95)) == pytest.approx(NormalDist().cdf(-0.02 / se))
    assert newest_series_p(steady, plan([MINOR])) is None  # confidence null: no test


def test_evaluated_windows_are_what_the_rule_saw_and_decided():
    """One row per evaluated window (the thin one is skipped), with the thresholds, the p of a
    one-sided z-test against the baseline (window se 0.01 from the interval, baseline exact) and
    the level that held, as the episodes have it."""
    p = plan([MINOR, CRITICAL], confidence=0.95, resolve_after=5)
    h = history([0.9, 0.6, 0.85, 0.7], half=0.01 * p.z_table, n=[1000, 1000, 10, 1000])
    windows = evaluated_windows(h, p)
    assert [w["window_start"] for w in windows] == [T0, T0 + DAY, T0 + 3 * DAY]
    for w, value in zip(windows, [0.9, 0.6, 0.7]):
        assert w["value"] == pytest.approx(value) and w["std_error"] == pytest.approx(0.01)
        assert (w["baseline"], w["baseline_std_error"]) == (0.9, 0.0)
        assert w["thresholds"] == {"MINOR": pytest.approx(0.9 * 0.95), "CRITICAL": pytest.approx(0.9 * 0.8)}
        assert w["p_value"] == pytest.approx(NormalDist().cdf((value - 0.9) / 0.01))
        assert w["series_p_value"] == w["p_value"]  # no persistent level: the newest window's p
    assert [w["level"] for w in windows] == [None, "CRITICAL", "CRITICAL"]
    (ep,) = evaluate_history(h, p)
    assert json.loads(ep["evidence"])["windows"][-1]["p_value"] == windows[-1]["p_value"]
