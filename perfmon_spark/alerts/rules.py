"""Alert rules evaluated over one metric history (pure pandas/numpy, no Spark).

A rule's history is the ordered windows of one (rule, model version, slice, window length).
``evaluate_history`` replays it from the first window every run, so the episodes it returns are a
function of the metric values alone: late labels that revise a past window revise its alerts too,
and a re-run with the same inputs returns the same episodes. (The run-level false-discovery step,
``alerts.fdr``, then weighs every series' p-value as of its newest window together:
``evaluated_windows``, whose rows the ``rule_windows`` table holds.)

Semantics (docs/alerting.md has the statistics and a worked example):

- A window is *evaluated* when it has a value and a baseline, at least ``min_labeled`` labels
  (and ``min_positives`` / ``min_negatives`` for metrics that condition on a class), passes the
  maturity policy, and, with ``confidence``, has an interval. Other windows are skipped: they
  neither count against the model nor towards recovery.
- A window is *beyond* a level when its drop is large enough to matter and real, two questions
  answered apart. A level that one window decides (``within`` 1: MINOR and CRITICAL by default)
  needs its drop past the threshold (``baseline x ratio`` for larger-is-better metrics,
  ``baseline / ratio`` otherwise) beyond doubt: a one-sided z-test of ``value - threshold`` at
  ``1 - confidence``. A persistent level (SUSTAINED) gets its certainty from repetition instead:
  each window's point value must be past the threshold (the size that matters) and its change
  from the baseline significant (that it is real) at ``(1 - confidence) / (of x within)``
  (Bonferroni over the hits and windows a level looks at). Both tests combine the window's
  standard error with the baseline's own (zero for fixed ``values``), so a baseline estimated
  from a few hundred labels is not taken as exact. Standard errors are the stored ones
  (``perf_metrics.std_error``, each metric's own by its interval's method), not half-widths of
  the intervals, which are asymmetric or clipped for several metrics (``standard_error``).
- Both also count the window's *extra variance*: how much window values vary beyond their
  sampling error (traffic mix, campaigns and holidays move a metric from day to day by more than
  the binomial error of its labels). It is measured per series on the windows of its reference
  period (``reference_start`` / ``reference_end``: the baseline's own period, or for a fixed
  baseline the version's first ``baseline.window``), each compared with the windows of its chain
  of windows that share no bucket: their observed variance less what their sampling errors
  explain, floored at 0 (``extra_variance: moments``: Paule and Mandel's method of moments, each
  window weighted by its total variance), or with a median-based spread (``robust``). The
  window's variance gains it, and a baseline that averages the reference period gains its share
  (window length / period length). Below ``MIN_EXTRA_DF`` degrees of freedom it is a stated
  default instead (a standard deviation of ``DEFAULT_EXTRA_SD`` of the baseline), which the
  evidence says. Absolute levels compare with an exact limit, not a baseline, and add none.
- A level *holds* when at least ``of`` of the last ``within`` evaluated windows *that share no
  bucket* were beyond it (``consecutive: N`` is N of N), and their mean change from the baseline
  is significant at the same level: those windows share one baseline, whose error must count
  once, not once per window. For a rolling window of k buckets the windows are those ending k,
  2k, ... buckets before the current one, so one bad bucket, which lies in k overlapping windows,
  counts once. The current level is the highest that holds. ``confidence: null`` compares point
  values only.
- A level is *confirmed* in an episode once it rests on two windows that share no bucket: at
  once for a persistent level (``of`` >= 2), else when it held in two such windows. The retrain
  triggers ask for that, so one bad bucket may block (CRITICAL) but never retrains.
- An episode opens at the first window where some level holds, follows the current level while it
  holds, and resolves after ``resolve_after`` consecutive evaluated windows whose point value is
  back on the good side of the lowest level's threshold (hysteresis). A window in between (no
  level holds, point still on the bad side) keeps the episode open and restarts the count.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from perfmon_spark.config import AlertRule, Duration, LevelRule, MonitorConfig, parse_duration
from perfmon_spark.metrics.estimated import ESTIMATES
from perfmon_spark.metrics.intervals import t_two_sided, z_value
from perfmon_spark.problems import problem
from perfmon_spark.vocabulary import AlertStatus, ExtraVariance, Level

EVIDENCE_WINDOWS = 10
MIN_EXTRA_DF = 6  # degrees of freedom (windows less chains) an estimate of the extra variance needs
DEFAULT_EXTRA_SD = 0.01  # below them: an extra standard deviation of 1% of the baseline
NORMAL_DF = 1000  # from these degrees of freedom on, Student's t is the normal
ROBUST_EFFICIENCY = 0.37  # of a median-based spread against the variance, at the normal: its degrees of freedom
_NORMAL = NormalDist()
# Labels a slice's window needs to rank among the worst slices (the report, ``perfmon sql``) when
# no alert rule sets it (else the first rule's min_labeled).
MIN_SLICE_LABELS = 100


def class_gates(rule: AlertRule, problem_type: str) -> tuple[int, int]:
    """(min_positives, min_negatives) of a rule: as configured, else its problem type's
    ``class_gates`` (binary: ``problems.binary.CLASS_GATES``)."""
    default = problem(problem_type).class_gates.get(rule.metric, (0, 0))
    given = (rule.min_positives, rule.min_negatives)
    return tuple(d if g is None else g for g, d in zip(given, default))


@dataclass(frozen=True)
class RulePlan:
    """What ``evaluate_history`` needs of a rule, as plain picklable values."""

    rule: AlertRule
    larger_is_better: bool
    z_table: float  # z of the stored intervals (confidence_level), for rows without a stored standard error
    bucket_seconds: int = 86400  # the granularity
    step: int = 1  # the rule's window in buckets: windows this far apart share no bucket
    min_positives: int = 0
    min_negatives: int = 0
    labeled: bool = True  # False: a proxy metric, gated on predictions, maturity ignored
    extra: ExtraVariance = ExtraVariance.NONE  # how the extra variance is measured (NONE: not counted)

    @classmethod
    def build(
        cls,
        rule: AlertRule,
        larger_is_better: bool | None,
        confidence_level: float,
        granularity: Duration | None = None,
        min_positives: int = 0,
        min_negatives: int = 0,
        labeled: bool = True,
    ) -> RulePlan:
        """``larger_is_better`` is the metric's; absolute levels set their own (a ``max`` is an
        upper limit: smaller is better)."""
        bucket = granularity.seconds if granularity is not None else 86400
        step = max(parse_duration(rule.window, "window").seconds // bucket, 1) if rule.window else 1
        if rule.absolute is not None:
            larger_is_better = rule.absolute == "min"
        z = z_value(confidence_level)
        # a limit is exact and a point comparison has no variance: neither counts an extra one
        compared = rule.absolute is None and rule.confidence is not None
        extra = ExtraVariance(rule.extra_variance) if compared else ExtraVariance.NONE
        return cls(rule, larger_is_better, z, bucket, step, min_positives, min_negatives, labeled, extra)

    def target(self, level: LevelRule, baseline: float, baseline_se: float) -> tuple[float, float]:
        """What a change is measured from, with its standard error: the baseline, or an absolute
        level's limit (exact)."""
        return (level.limit, 0.0) if level.limit is not None else (baseline, baseline_se)

    def apart(self, first, later) -> bool:
        """Two windows share no bucket: their starts are a whole window apart."""
        return (pd.Timestamp(later) - pd.Timestamp(first)).total_seconds() >= self.step * self.bucket_seconds

    def chains(self, window_starts: pd.Series) -> np.ndarray:
        """Which chain of windows that share no bucket each window belongs to."""
        seconds = window_starts.to_numpy("datetime64[s]").astype(np.int64)
        return seconds // self.bucket_seconds % self.step

    @property
    def alpha(self) -> float | None:
        """The one-sided significance level of a drop; None compares point values."""
        return None if self.rule.confidence is None else 1 - self.rule.confidence

    def beyond(self, level: LevelRule, test: WindowTest) -> bool:
        """Whether a window is beyond a level (see the module docstring)."""
        threshold = self.threshold(test.baseline, level)
        if self.alpha is None:
            return self.worse(test.value, threshold)
        if level.within == 1:  # one window decides: its drop past the threshold must be beyond doubt
            threshold_se = self.threshold_se(test.baseline_se, level)
            return self.p_value(test.value, test.se, threshold, threshold_se, test.estimated()) < self.alpha
        # a persistent level: past the threshold, and a real change at persistent_alpha
        target, target_se = self.target(level, test.baseline, test.baseline_se)
        real = self.p_value(test.value, test.se, target, target_se, test.estimated()) < self.persistent_alpha(level)
        return self.worse(test.value, threshold) and real

    def persistent_alpha(self, level: LevelRule) -> float:
        """The test level of each window of a persistent level, and of their pooled change."""
        return self.alpha / (level.within * level.of)

    def pooled_real(self, level: LevelRule, tests: list[WindowTest]) -> bool:
        """A persistent level's windows (``tests``, the newest last) share one baseline, whose
        error would otherwise count once per window: their mean change from it must be significant
        too, the windows' noise (extra variance included) averaged and the baseline's counted once."""
        if self.alpha is None or level.within == 1:
            return True
        return self.pooled_p(level, tests) < self.persistent_alpha(level)

    def pooled_p(self, level: LevelRule, tests: list[WindowTest]) -> float:
        """The one-sided p of the mean change of windows that share no bucket (``tests``, the
        newest last) from the newest's baseline (or the level's limit)."""
        newest = tests[-1]
        mean = float(np.mean([t.value for t in tests]))
        se = float(np.sqrt(np.mean([t.se**2 for t in tests]) / len(tests)))
        target, target_se = self.target(level, newest.baseline, newest.baseline_se)
        return self.p_value(mean, se, target, target_se, newest.estimated(len(tests)))

    @property
    def family_level(self) -> LevelRule | None:
        """The rule's most severe persistent level, whose windows a series' p pools."""
        persistent = [lv for lv in self.rule.levels if lv.within > 1]
        return max(persistent, key=_rank) if persistent else None

    def series_p(self, chain: list[WindowTest]) -> float:
        """A series' p-value for the run's false-discovery family, from its newest window's chain
        (windows that share no bucket, the newest last): where the rule has a persistent level,
        the smaller of the newest window's p and that of the mean change of the level's last
        ``within`` windows, doubled (Bonferroni over the two), so that a one-window collapse and
        a steady moderate drop both stand out; else the newest window's p."""
        latest = self.change_p(chain[-1])
        level = self.family_level
        if level is None:
            return latest
        return min(1.0, 2 * min(latest, self.pooled_p(level, chain[-level.within :])))

    def change_p(self, test: WindowTest) -> float:
        """The one-sided p of a window's change from its baseline (or its lowest level's limit)."""
        return self.p_value(test.value, test.se, test.baseline, test.baseline_se, test.estimated())

    def threshold(self, baseline: float, level: LevelRule) -> float:
        """Where a level begins: its limit, or the baseline scaled by its ratio."""
        return level.limit if level.limit is not None else baseline * self.scale(level)

    def threshold_se(self, baseline_se: float, level: LevelRule) -> float:
        """The threshold's standard error: the baseline's, scaled as the threshold is (a limit is
        exact). For a smaller-is-better metric the threshold is ``baseline / ratio``, so its error
        is ``baseline_se / ratio``, larger than the baseline's, not smaller."""
        return 0.0 if level.limit is not None else baseline_se * self.scale(level)

    def scale(self, level: LevelRule) -> float:
        """The factor from the baseline to a ratio level's threshold: ``ratio`` for a
        larger-is-better metric, ``1 / ratio`` otherwise."""
        return level.ratio if self.larger_is_better else 1 / level.ratio

    def worse(self, a: float, b: float) -> bool:
        """``a`` is on the bad side of ``b``."""
        return a < b if self.larger_is_better else a > b

    def p_value(
        self, value: float, se: float, baseline: float, baseline_se: float, estimated: Estimated | None = None
    ) -> float:
        """One-sided p of "worse than the baseline" (both are estimates). Where part of the
        variance was ``estimated`` from a few windows, its own error would make small p-values
        too small: the p is then Student's t's, on the Welch-Satterthwaite degrees of freedom of
        the whole variance (the estimated part's, scaled up by how little of the whole it is)."""
        spread = float(np.hypot(se, baseline_se))
        if not spread > 0:
            return 0.0 if self.worse(value, baseline) else 1.0
        z = (value - baseline) / spread if self.larger_is_better else (baseline - value) / spread
        if estimated is None or not estimated.variance > 0:
            return _NORMAL.cdf(z)
        df = estimated.degrees * (spread * spread / estimated.variance) ** 2
        if df >= NORMAL_DF:
            return _NORMAL.cdf(z)
        tail = t_two_sided(z, int(df)) / 2
        return tail if z < 0 else 1 - tail


def rule_plans(cfg: MonitorConfig) -> dict[str, RulePlan]:
    """Each alert rule's ``RulePlan``, by rule name."""
    return {
        r.name: RulePlan.build(
            r,
            cfg.larger_is_better(r.metric),
            cfg.confidence_level,
            cfg.windows.granularity,
            *class_gates(r, cfg.problem_type),
            labeled=cfg.needs_labels(r.metric),
        )
        for r in cfg.alerts
    }


def _column(history: pd.DataFrame, name: str) -> np.ndarray:
    return history[name].to_numpy(dtype=float) if name in history else np.full(len(history), np.nan)


def evaluated(history: pd.DataFrame, plan: RulePlan) -> np.ndarray:
    """Mask of the windows a rule evaluates (see the module docstring)."""
    ok = measured(history, plan)
    return ok & history["baseline"].notna().to_numpy() if plan.rule.absolute is None else ok


def measured(history: pd.DataFrame, plan: RulePlan) -> np.ndarray:
    """Mask of the windows whose value the rule trusts, with or without a baseline: those it
    evaluates, and those it measures the extra variance on."""
    rule = plan.rule
    ok = history["value"].notna().to_numpy()
    if not plan.labeled:  # a proxy: every prediction counts, and no label is awaited
        return ok & (history["n_predictions"].fillna(0).to_numpy() >= rule.min_labeled) & _with_interval(history, plan)
    ok &= history["n_labeled"].fillna(0).to_numpy() >= rule.min_labeled
    if plan.min_positives:
        ok &= np.nan_to_num(_column(history, "n_positive")) >= plan.min_positives
    if plan.min_negatives:
        ok &= np.nan_to_num(_column(history, "n_negative")) >= plan.min_negatives
    mature = history["is_mature"].fillna(False).to_numpy().astype(bool)
    if rule.maturity.mode == "mature":
        ok &= mature
    elif rule.maturity.mode == "min_coverage":
        ok &= mature | (history["label_coverage"].fillna(0).to_numpy() >= rule.maturity.min_coverage)
    return ok & _with_interval(history, plan)


def _with_interval(history: pd.DataFrame, plan: RulePlan) -> np.ndarray:
    if plan.alpha is None:
        return np.ones(len(history), dtype=bool)
    return history["ci_lower"].notna().to_numpy() & history["ci_upper"].notna().to_numpy()


def standard_error(std_error, lower, upper, z: float) -> np.ndarray:
    """The standard error of stored values (scalars or arrays; None and NaN are missing): the
    stored ``std_error``, the metric's own by its interval's method. Where none is stored but an
    interval is (``perf_metrics`` rows written before the column existed, or a baseline table
    with ``ci_lower`` / ``ci_upper`` only), the interval's half-width / ``z``: the legacy path,
    exact for a symmetric normal interval and wrong for an asymmetric or clipped one (an
    estimate of 0.986 [0.913, 1.000] gives 0.022 where its own is 0.037). NaN with neither; the
    one place that fallback lives."""
    se, lo, hi = (np.asarray(x, dtype=float) for x in (std_error, lower, upper))
    return np.where(np.isnan(se), (hi - lo) / (2 * z), se)


def extra_variance(values: np.ndarray, ses: np.ndarray, chains: np.ndarray, method: ExtraVariance) -> tuple[float, int]:
    """The variance of window ``values`` beyond their sampling variances ``ses**2`` (all > 0),
    floored at 0, and its degrees of freedom. Each window is compared with the others of its chain
    (windows that share no bucket: overlapping windows would hide their spread), so the degrees
    of freedom are the windows less the chains.

    ``moments`` is Paule and Mandel's method-of-moments estimate of a random-effects model: the
    extra variance t at which the windows' squared deviations from their chain's weighted mean,
    each weighted by 1 / (se^2 + t), add up to their degrees of freedom (0 where they fall short
    at t = 0). With equal errors it is the observed variance less the sampling variance; with
    unequal ones (50 labels one day, 500 the next) each window counts by how much it says, so the
    noise of the imprecise ones does not pass for variation. ``robust`` takes the median squared
    deviation from each chain's median (scaled to a normal variance) less the mean sampling
    variance, which one outlying window barely moves, at the cost of about 2.7 times the windows
    for the same precision (its degrees of freedom are scaled by ``ROBUST_EFFICIENCY``).

    >>> values = np.array([0.80, 0.84, 0.82, 0.86, 0.78, 0.84, 0.80])
    >>> tau2, df = extra_variance(values, np.full(7, 0.01), np.zeros(7), ExtraVariance.MOMENTS)
    >>> round(tau2, 6), df  # observed 0.0008, sampling 0.0001
    (0.0007, 6)
    """
    groups = [(values[chains == c], ses[chains == c] ** 2) for c in np.unique(chains)]
    groups = [(x, v) for x, v in groups if len(x) > 1]  # a lone window has nothing to be compared with
    degrees = sum(len(x) - 1 for x, _ in groups)
    if not degrees:
        return 0.0, 0
    if method is ExtraVariance.ROBUST:
        squares = np.concatenate([(x - np.median(x)) ** 2 * len(x) / (len(x) - 1) for x, _ in groups])
        observed = float(np.median(squares)) / _NORMAL.inv_cdf(0.75) ** 2
        return max(observed - float(np.mean(ses**2)), 0.0), int(degrees * ROBUST_EFFICIENCY)

    def excess(tau2: float) -> float:  # generalised Q less its degrees of freedom: falls as tau2 grows
        weights = [1 / (v + tau2) for _, v in groups]
        return (
            sum(float((w * (x - np.average(x, weights=w)) ** 2).sum()) for (x, _), w in zip(groups, weights)) - degrees
        )

    if excess(0.0) <= 0:
        return 0.0, degrees
    low, high = 0.0, float(max(np.var(x, ddof=1) for x, _ in groups))
    while excess(high) > 0:
        low, high = high, 2 * high
    for _ in range(60):  # bisection to a relative precision far below the estimate's own error
        mid = (low + high) / 2
        low, high = (mid, high) if excess(mid) > 0 else (low, mid)
    return (low + high) / 2, degrees


@dataclass(frozen=True)
class ExtraVarianceEstimate:
    """A window's extra variance (see the module docstring), as its evidence shows it."""

    method: ExtraVariance
    value: float  # the variance, in the metric's units squared
    windows: int  # windows of the reference period it was measured on
    degrees: int  # their degrees of freedom
    baseline_share: float  # the share of it a baseline averaged over the reference period carries

    @property
    def estimated(self) -> bool:
        """Measured on enough windows; else ``value`` is the default."""
        return self.degrees >= MIN_EXTRA_DF

    def evidence(self) -> dict:
        out = {
            "method": self.method,
            "value": self.value,
            "windows": self.windows,
            "degrees_of_freedom": self.degrees,
            "baseline_share": self.baseline_share,
            "estimated": self.estimated,
        }
        if not self.estimated:
            out["default"] = (
                f"{self.degrees} degrees of freedom in the reference period, fewer than {MIN_EXTRA_DF}: "
                f"a standard deviation of {DEFAULT_EXTRA_SD:.0%} of the baseline"
            )
        return out


@dataclass(frozen=True)
class WindowTest:
    """An evaluated window as the tests see it: its value and the baseline (or an absolute
    level's limit), with standard errors that count the extra variance (``se``,
    ``baseline_se``: what the tests read) and the sampling ones alone (``std_error``,
    ``baseline_std_error``: ``standard_error`` of the stored columns; 0 for a value without an
    interval, a fixed baseline and a limit, which are exact)."""

    row: Any  # the history's row
    chain: int  # its chain of windows that share no bucket (``RulePlan.chains``)
    value: float
    se: float
    baseline: float
    baseline_se: float
    extra: ExtraVarianceEstimate | None  # None: not counted (the rule's choice, a limit, or no confidence)
    std_error: float
    baseline_std_error: float

    def estimated(self, windows: int = 1) -> Estimated | None:
        """The part of a test's variance that was estimated, for the mean of ``windows`` such
        windows against the baseline: the extra variance, the windows' averaged and the
        baseline's share once, with its degrees of freedom; None where every variance is known
        (sampling error) or a stated default."""
        if self.extra is None or not self.extra.estimated:
            return None
        return Estimated(self.extra.value * (1 / windows + self.extra.baseline_share), self.extra.degrees)


class Estimated(NamedTuple):
    """A variance estimated on ``degrees`` degrees of freedom."""

    variance: float
    degrees: int


_ERROR = ("std_error", "ci_lower", "ci_upper")  # a value's stored error, in ``standard_error``'s order


def window_tests(history: pd.DataFrame, plan: RulePlan) -> list[WindowTest | None]:
    """Per row of ``history``, in its order: what the tests compare, None where the rule does
    not evaluate the window. ``history`` has ``evaluate_history``'s columns; the extra variance
    reads ``window_end``, ``reference_start``, ``reference_end`` and ``baseline_from_reference``
    (whether the baseline averages the reference period), and takes the default without them."""
    rule = plan.rule
    ok = evaluated(history, plan)
    chains = plan.chains(history["window_start"])
    ses, baseline_ses = (
        np.nan_to_num(standard_error(*(_column(history, f"{prefix}{c}") for c in _ERROR), plan.z_table))
        for prefix in ("", "baseline_")
    )  # none: exact
    extras = _extra_variances(history, plan, chains, ses) if plan.extra is not ExtraVariance.NONE else None
    limit = min(rule.levels, key=_rank).limit  # an absolute rule's reference: its lowest level's limit
    out: list[WindowTest | None] = []
    for i, row in enumerate(history.itertuples(index=False)):
        if not ok[i]:
            out.append(None)
            continue
        value, std_error = float(row.value), float(ses[i])
        if limit is not None:
            out.append(WindowTest(row, int(chains[i]), value, std_error, limit, 0.0, None, std_error, 0.0))
            continue
        baseline, baseline_std_error = float(row.baseline), float(baseline_ses[i])
        se, baseline_se = std_error, baseline_std_error
        extra = None if extras is None else extras(i, baseline)
        if extra is not None:
            se = float(np.sqrt(se * se + extra.value))
            baseline_se = float(np.sqrt(baseline_se * baseline_se + extra.baseline_share * extra.value))
        test = WindowTest(row, int(chains[i]), value, se, baseline, baseline_se, extra, std_error, baseline_std_error)
        out.append(test)
    return out


def _rank(level: LevelRule) -> int:
    return Level(level.level).rank


def _extra_variances(history: pd.DataFrame, plan: RulePlan, chains: np.ndarray, ses: np.ndarray):
    """``(row, baseline) -> ExtraVarianceEstimate``: each reference period's windows measured
    once, each with its sampling standard error from ``ses`` (``window_tests`` names the
    columns; a missing one leaves the period unknown)."""
    unknown = np.full(len(history), np.datetime64("NaT", "ns"))
    starts, ends, first, last = (
        history[c].to_numpy("datetime64[ns]") if c in history else unknown
        for c in ("window_start", "window_end", "reference_start", "reference_end")
    )
    averaged = history.get("baseline_from_reference", pd.Series(False, index=history.index)).fillna(False)
    share = np.nan_to_num(np.where(averaged.to_numpy(dtype=bool), (ends - starts) / (last - first), 0.0))
    values = _column(history, "value")
    trusted = measured(history, plan) & (ses > 0)  # an exact value says nothing of sampling error
    measured_on: dict = {}

    def estimate(i: int, baseline: float) -> ExtraVarianceEstimate:
        period = None if np.isnat(first[i]) or np.isnat(last[i]) else (first[i], last[i])
        if period not in measured_on:
            inside = trusted & (starts >= first[i]) & (ends <= last[i])  # none where the period is unknown
            tau2, degrees = extra_variance(values[inside], ses[inside], chains[inside], plan.extra)
            measured_on[period] = (tau2, int(inside.sum()), degrees)
        tau2, windows, degrees = measured_on[period]
        if degrees < MIN_EXTRA_DF:
            tau2 = (DEFAULT_EXTRA_SD * baseline) ** 2
        return ExtraVarianceEstimate(plan.extra, tau2, windows, degrees, float(share[i]))

    return estimate


def evaluate_history(history: pd.DataFrame, plan: RulePlan) -> list[dict]:
    """Every alert episode of one history, oldest first.

    Args:
        history: one row per window with ``window_start``, ``value``, ``ci_lower``, ``ci_upper``,
            ``n_labeled``, ``label_coverage``, ``is_mature`` and ``baseline``; optionally
            ``std_error`` (without it, or null, the interval's half-width / z:
            ``standard_error``), ``baseline_ci_lower`` / ``baseline_ci_upper`` /
            ``baseline_std_error`` (a baseline estimated from data), ``n_positive`` /
            ``n_negative`` (for the class gates), and the reference period's columns of
            ``window_tests`` (for the extra variance).

    Returns:
        Episode dicts with the ``perf_alerts`` columns from ``metric`` on (the caller adds the key).
    """
    state = _Replay(plan)
    for _ in _replay(history, state):
        pass
    return state.episodes()


def replay(history: pd.DataFrame, plan: RulePlan) -> Iterator[tuple[dict, list[dict]]]:
    """After each evaluated window, oldest first: the window (value, p, the series' p, level,
    extra variance) and the episodes up to it, as ``evaluate_history`` returns them for the history that ends
    there (once the reference period has ended: the extra variance reads the whole period).
    One pass for what a run at each window would have found."""
    state = _Replay(plan)
    for window in _replay(history, state):
        yield window, state.episodes()


def evaluated_windows(history: pd.DataFrame, plan: RulePlan) -> list[dict]:
    """Every window the rule evaluates in ``history``, oldest first, as the rule saw and decided
    it: ``window_start``, ``window_end``, ``value`` and ``std_error`` (its sampling error),
    ``baseline`` and ``baseline_std_error``, ``extra_variance``, ``thresholds`` (by level),
    ``p_value`` (of the window's change), ``series_p_value`` (the series' p as of the window:
    ``RulePlan.series_p``) and ``level`` (the highest that holds there, None where none does)."""
    return list(_replay(history, _Replay(plan)))


class _Replay:
    """The episodes of a history as its windows are replayed (``_replay``)."""

    def __init__(self, plan: RulePlan):
        self.plan = plan
        self.closed: list[dict] = []
        self.episode: dict | None = None

    def episodes(self) -> list[dict]:
        """The episodes so far, the open one as it stands."""
        if self.episode is None:
            return list(self.closed)
        return [*self.closed, _episode_row(self.episode, self.plan, resolved=None)]


def _replay(history: pd.DataFrame, state: _Replay) -> Iterator[dict]:
    """Replay ``history`` into ``state``, yielding each evaluated window (see the module docstring)."""
    plan = state.plan
    history = history.sort_values("window_start").reset_index(drop=True)
    rule = plan.rule
    levels = sorted(rule.levels, key=_rank)
    # one record of beyond/not per level and per chain of windows that share no bucket
    hits = {lv.level: defaultdict(lambda lv=lv: deque(maxlen=lv.within)) for lv in levels}
    absolute = rule.absolute is not None
    family = plan.family_level
    persistent = {lv.level: lv.of >= 2 for lv in levels}  # holding already rests on independent windows
    for test in window_tests(history, plan):
        if test is None:
            continue
        row, value, base = test.row, test.value, test.baseline
        p = plan.change_p(test)
        thresholds = {lv.level: plan.threshold(base, lv) for lv in levels}
        holding = []
        for lv in levels:
            record = hits[lv.level][test.chain]
            record.append((plan.beyond(lv, test), test))
            if sum(hit for hit, _ in record) >= lv.of and plan.pooled_real(lv, [t for _, t in record]):
                holding.append(lv.level)
        current = holding[-1] if holding else None
        recovered = not plan.worse(value, thresholds[levels[0].level])
        pooled = [t for _, t in hits[family.level][test.chain]] if family is not None else [test]
        window = {
            "window_start": row.window_start,
            "window_end": getattr(row, "window_end", None),
            "value": value,
            "std_error": _num(test.std_error),
            "ci_lower": _num(row.ci_lower),
            "ci_upper": _num(row.ci_upper),
            "baseline": None if absolute else base,
            "baseline_ci_lower": None if absolute else _num(getattr(row, "baseline_ci_lower", None)),
            "baseline_ci_upper": None if absolute else _num(getattr(row, "baseline_ci_upper", None)),
            "baseline_std_error": None if absolute else _num(test.baseline_std_error),
            "thresholds": thresholds,
            "extra_variance": None if test.extra is None else test.extra.value,
            "p_value": p,
            "series_p_value": None if plan.alpha is None else plan.series_p(pooled),
            "level": current,
        }
        episode = state.episode
        if episode is None:
            if current is None:
                yield window
                continue
            episode = state.episode = {
                "opened_window_start": row.window_start,
                "level": current,
                "peak": current,
                "recovering": 0,
                "trail": [],
                "first_held": {},
                "confirmed": set(),
                "reached": {},
                "trigger": _trigger(window, current, thresholds[current]),
            }
        elif current is not None:
            if current != episode["level"]:
                episode["trigger"] = _trigger(window, current, thresholds[current])
            episode["level"] = current
            episode["recovering"] = 0
            if Level(current).rank > Level(episode["peak"]).rank:
                episode["peak"] = current
        elif recovered:
            episode["recovering"] += 1
        else:
            episode["recovering"] = 0
        if current is not None:
            episode["reached"].setdefault(current, pd.Timestamp(row.window_start).isoformat())
        for level in holding:  # confirmed: held on two windows of the episode that share no bucket
            first = episode["first_held"].setdefault(level, row.window_start)
            if persistent[level] or plan.apart(first, row.window_start):
                episode["confirmed"].add(level)
        episode["trail"].append({k: window[k] for k in _EVIDENCE_KEYS})
        episode["last"] = window
        episode["extra"] = test.extra
        episode["threshold"] = thresholds[episode["level"]]
        if episode["recovering"] >= rule.resolve_after:
            state.closed.append(_episode_row(episode, plan, resolved=row.window_start))
            state.episode = None
        yield window


# what an episode's evidence shows of each of its last windows
_EVIDENCE_KEYS = (
    "window_start",
    "value",
    "ci_lower",
    "ci_upper",
    "baseline",
    "baseline_ci_lower",
    "baseline_ci_upper",
    "std_error",
    "baseline_std_error",
    "extra_variance",
    "p_value",
    "series_p_value",
    "level",
)


def _trigger(window: dict, level: str, threshold: float) -> dict:
    """The window that set an episode's level, with its value and that level's threshold: what a
    notification of the episode's raise or change shows (its last window may have recovered)."""
    start = pd.Timestamp(window["window_start"]).isoformat()
    return {"window_start": start, "value": window["value"], "threshold": threshold, "level": level}


def _num(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _episode_row(episode: dict, plan: RulePlan, resolved) -> dict:
    last = episode["last"]
    rule = plan.rule
    evidence = {
        "peak_level": episode["peak"],
        "direction": "larger_is_better" if plan.larger_is_better else "smaller_is_better",
        "levels": {
            lv.level: {
                rule.absolute or "ratio": lv.ratio if lv.limit is None else lv.limit,
                "of": lv.of,
                "within": lv.within,
            }
            for lv in rule.levels
        },
        "confidence": rule.confidence,
        "estimate": rule.metric in ESTIMATES,  # an estimated metric (before labels), not a measured one
        "p_value": last["p_value"],
        "extra_variance": None if episode["extra"] is None else episode["extra"].evidence(),
        "confirmed": sorted(episode["confirmed"], key=lambda level: Level(level).rank),
        "reached": episode["reached"],  # the first window at which each level held
        "trigger": episode["trigger"],  # the window that set the current level
        "independent_windows_every": plan.step,
        "windows": [
            {**w, "window_start": pd.Timestamp(w["window_start"]).isoformat()}
            for w in episode["trail"][-EVIDENCE_WINDOWS:]
        ],
    }
    return {
        "metric": rule.metric,
        "level": episode["level"],
        "status": AlertStatus.OPEN if resolved is None else AlertStatus.RESOLVED,
        "action": Level(episode["level"]).action,
        "value": last["value"],
        "ci_lower": last["ci_lower"],
        "ci_upper": last["ci_upper"],
        "baseline": last["baseline"],
        "threshold": episode["threshold"],
        "opened_window_start": episode["opened_window_start"],
        "last_window_start": last["window_start"],
        "resolved_window_start": resolved,
        "evidence": json.dumps(evidence, sort_keys=True),
    }
