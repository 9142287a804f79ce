"""Alert rules evaluated over one metric history (pure pandas/numpy, no Spark).

A rule's history is the ordered windows of one (rule, model version, slice, window length).
``evaluate_history`` replays it from the first window every run, so the episodes it returns are a
function of the metric values alone: late labels that revise a past window revise its alerts too,
and a re-run with the same inputs returns the same episodes. (The run-level false-discovery step,
``alerts.fdr``, then looks at all of a run's episodes together.)

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
  interval with the baseline's own (zero for fixed ``values``), so a baseline estimated from a
  few hundred labels is not taken as exact.
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
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from perfmon_spark.config import AlertRule, Duration, LevelRule, parse_duration
from perfmon_spark.metrics.estimated import ESTIMATES
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.vocabulary import AlertStatus, Level

EVIDENCE_WINDOWS = 10
_NORMAL = NormalDist()
# Binary metrics that condition on a class, and the (positives, negatives) a window needs before a
# rule on them evaluates it, unless the rule sets min_positives / min_negatives: an AUC or a
# recall of one or two positives is noise, whatever the label count.
CLASS_GATES = {"roc_auc": (10, 10), "pr_auc": (10, 10), "recall": (10, 0), "precision": (10, 0), "f1": (10, 0)}


def class_gates(rule: AlertRule, problem_type: str) -> tuple[int, int]:
    """(min_positives, min_negatives) of a rule: as configured, else ``CLASS_GATES``."""
    default = CLASS_GATES.get(rule.metric, (0, 0)) if problem_type == "binary" else (0, 0)
    given = (rule.min_positives, rule.min_negatives)
    return tuple(d if g is None else g for g, d in zip(given, default))


@dataclass(frozen=True)
class RulePlan:
    """What ``evaluate_history`` needs of a rule, as plain picklable values."""

    rule: AlertRule
    larger_is_better: bool
    z_table: float  # z of the stored intervals (confidence_level): their half-width / z is a standard error
    bucket_seconds: int = 86400  # the granularity
    step: int = 1  # the rule's window in buckets: windows this far apart share no bucket
    min_positives: int = 0
    min_negatives: int = 0
    labeled: bool = True  # False: a proxy metric, gated on predictions, maturity ignored

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
        return cls(rule, larger_is_better, z, bucket, step, min_positives, min_negatives, labeled)

    def target(self, level: LevelRule, baseline: float, baseline_se: float) -> tuple[float, float]:
        """What a change is measured from, with its standard error: the baseline, or an absolute
        level's limit (exact)."""
        return (level.limit, 0.0) if level.limit is not None else (baseline, baseline_se)

    def apart(self, first, later) -> bool:
        """Two windows share no bucket: their starts are a whole window apart."""
        return (pd.Timestamp(later) - pd.Timestamp(first)).total_seconds() >= self.step * self.bucket_seconds

    def chain(self, window_start) -> int:
        """Which chain of windows that share no bucket a window belongs to."""
        return int(pd.Timestamp(window_start).timestamp()) // self.bucket_seconds % self.step

    @property
    def alpha(self) -> float | None:
        """The one-sided significance level of a drop; None compares point values."""
        return None if self.rule.confidence is None else 1 - self.rule.confidence

    def beyond(self, level: LevelRule, value: float, se: float, baseline: float, baseline_se: float) -> bool:
        """Whether a window is beyond a level (see the module docstring)."""
        threshold = self.threshold(baseline, level)
        if self.alpha is None:
            return self.worse(value, threshold)
        if level.within == 1:  # one window decides: its drop past the threshold must be beyond doubt
            threshold_se = 0.0 if level.limit is not None else baseline_se * level.ratio
            return self.p_value(value, se, threshold, threshold_se) < self.alpha
        # a persistent level: past the threshold, and a real change at persistent_alpha
        target, target_se = self.target(level, baseline, baseline_se)
        return self.worse(value, threshold) and self.p_value(value, se, target, target_se) < self.persistent_alpha(
            level
        )

    def persistent_alpha(self, level: LevelRule) -> float:
        """The test level of each window of a persistent level, and of their pooled change."""
        return self.alpha / (level.within * level.of)

    def pooled_real(self, level: LevelRule, record, baseline: float, baseline_se: float) -> bool:
        """A persistent level's windows share one baseline, whose error would otherwise count once
        per window: their mean change from it must be significant too, the windows' noise
        averaged and the baseline's counted once."""
        if self.alpha is None or level.within == 1:
            return True
        values = np.array([v for _, v, _ in record])
        se = float(np.sqrt(np.mean([e * e for _, _, e in record]) / len(record)))
        target, target_se = self.target(level, baseline, baseline_se)
        return self.p_value(float(values.mean()), se, target, target_se) < self.persistent_alpha(level)

    def threshold(self, baseline: float, level: LevelRule) -> float:
        """Where a level begins: its limit, or the baseline scaled by its ratio."""
        if level.limit is not None:
            return level.limit
        return baseline * level.ratio if self.larger_is_better else baseline / level.ratio

    def worse(self, a: float, b: float) -> bool:
        """``a`` is on the bad side of ``b``."""
        return a < b if self.larger_is_better else a > b

    def p_value(self, value: float, se: float, baseline: float, baseline_se: float) -> float:
        """One-sided p of "worse than the baseline" (both are estimates)."""
        spread = float(np.hypot(se, baseline_se))
        if not spread > 0:
            return 0.0 if self.worse(value, baseline) else 1.0
        z = (value - baseline) / spread
        return _NORMAL.cdf(z) if self.larger_is_better else 1 - _NORMAL.cdf(z)


def _column(history: pd.DataFrame, name: str) -> np.ndarray:
    return history[name].to_numpy(dtype=float) if name in history else np.full(len(history), np.nan)


def evaluated(history: pd.DataFrame, plan: RulePlan) -> np.ndarray:
    """Mask of the windows a rule evaluates (see the module docstring)."""
    rule = plan.rule
    ok = history["value"].notna().to_numpy()
    if rule.absolute is None:
        ok &= history["baseline"].notna().to_numpy()
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


def standard_error(lower, upper, z: float) -> float:
    """A standard error from an interval's half-width; 0 without an interval (an exact value)."""
    if lower is None or upper is None or pd.isna(lower) or pd.isna(upper):
        return 0.0
    return (float(upper) - float(lower)) / (2 * z)


def evaluate_history(history: pd.DataFrame, plan: RulePlan) -> list[dict]:
    """Every alert episode of one history, oldest first.

    Args:
        history: one row per window with ``window_start``, ``value``, ``ci_lower``, ``ci_upper``,
            ``n_labeled``, ``label_coverage``, ``is_mature`` and ``baseline``; optionally
            ``baseline_ci_lower`` / ``baseline_ci_upper`` (a baseline estimated from data) and
            ``n_positive`` / ``n_negative`` (for the class gates).

    Returns:
        Episode dicts with the ``perf_alerts`` columns from ``metric`` on (the caller adds the key).
    """
    history = history.sort_values("window_start").reset_index(drop=True)
    rule = plan.rule
    levels = sorted(rule.levels, key=lambda lv: Level(lv.level).rank)
    # one record of beyond/not per level and per chain of windows that share no bucket
    hits = {lv.level: defaultdict(lambda lv=lv: deque(maxlen=lv.within)) for lv in levels}
    persistent = {lv.level: lv.of >= 2 for lv in levels}  # holding already rests on independent windows
    episodes: list[dict] = []
    episode: dict | None = None
    mask = evaluated(history, plan)
    for row in history[mask].itertuples(index=False):
        value = float(row.value)
        base = float(row.baseline) if rule.absolute is None else levels[0].limit
        baseline_lo, baseline_hi = getattr(row, "baseline_ci_lower", None), getattr(row, "baseline_ci_upper", None)
        se, baseline_se = (
            standard_error(row.ci_lower, row.ci_upper, plan.z_table),
            standard_error(baseline_lo, baseline_hi, plan.z_table),
        )
        if rule.absolute is not None:
            baseline_lo = baseline_hi = None
            baseline_se = 0.0
        p = plan.p_value(value, se, base, baseline_se)
        chain = plan.chain(row.window_start)
        thresholds = {lv.level: plan.threshold(base, lv) for lv in levels}
        holding = []
        for lv in levels:
            record = hits[lv.level][chain]
            record.append((plan.beyond(lv, value, se, base, baseline_se), value, se))
            if sum(hit for hit, _, _ in record) >= lv.of and plan.pooled_real(lv, record, base, baseline_se):
                holding.append(lv.level)
        current = holding[-1] if holding else None
        recovered = not plan.worse(value, thresholds[levels[0].level])
        window = {
            "window_start": row.window_start,
            "value": value,
            "ci_lower": _num(row.ci_lower),
            "ci_upper": _num(row.ci_upper),
            "baseline": base if rule.absolute is None else None,
            "baseline_ci_lower": _num(baseline_lo),
            "baseline_ci_upper": _num(baseline_hi),
            "p_value": p,
            "level": current,
        }
        if episode is None:
            if current is None:
                continue
            episode = {
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
        episode["trail"].append(window)
        episode["last"] = window
        episode["threshold"] = thresholds[episode["level"]]
        if episode["recovering"] >= rule.resolve_after:
            episodes.append(_episode_row(episode, plan, resolved=row.window_start))
            episode = None
    if episode is not None:
        episodes.append(_episode_row(episode, plan, resolved=None))
    return episodes


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
