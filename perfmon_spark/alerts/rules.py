"""Alert rules evaluated over one metric history (pure pandas/numpy, no Spark).

A rule's history is the ordered windows of one (rule, model version, slice, window length).
``evaluate_history`` replays it from the first window every run, so the episodes it returns are a
function of the metric values alone: late labels that revise a past window revise its alerts too,
and a re-run with the same inputs returns the same episodes.

Semantics (the README has a worked example):

- A window is *evaluated* when it has a value and a baseline, at least ``min_labeled`` labels and
  passes the maturity policy (and, with ``confidence``, has an interval). Other windows are
  skipped: they neither count against the model nor towards recovery.
- A window is *beyond* a level when it is worse than ``baseline x ratio`` (larger-is-better
  metrics) or ``baseline / ratio`` (smaller-is-better). With ``confidence`` the whole interval
  must be beyond (the interval stored at ``confidence_level``, rescaled to the rule's level), so a
  noisy point alone never counts.
- A level *holds* when at least ``of`` of the last ``within`` evaluated windows were beyond it
  (``consecutive: N`` is N of N). The current level is the highest that holds.
- An episode opens at the first window where some level holds, follows the current level while it
  holds, and resolves after ``resolve_after`` consecutive evaluated windows whose point value is
  back on the good side of the lowest level's threshold (hysteresis). A window in between (no
  level holds, point still on the bad side) keeps the episode open and restarts the count.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perfmon_spark.config import AlertRule
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.vocabulary import Level

ACTIONS = {"MINOR": "LOG", "SUSTAINED": "ALERT", "CRITICAL": "BLOCK_OR_ROLLBACK"}
RANK = {level.value: level.rank for level in Level}
EVIDENCE_WINDOWS = 10

EPISODE_COLUMNS = (
    ("rule", "string"),
    ("model_version", "string"),
    ("slice_key", "string"),
    ("slice_value", "string"),
    ("window", "string"),
    ("opened_window_start", "timestamp"),
    ("metric", "string"),
    ("level", "string"),
    ("status", "string"),
    ("action", "string"),
    ("value", "double"),
    ("ci_lower", "double"),
    ("ci_upper", "double"),
    ("baseline", "double"),
    ("threshold", "double"),
    ("last_window_start", "timestamp"),
    ("resolved_window_start", "timestamp"),
    ("evidence", "string"),
)


@dataclass(frozen=True)
class RulePlan:
    """What ``evaluate_history`` needs of a rule, as plain picklable values."""

    rule: AlertRule
    larger_is_better: bool
    widen: float | None  # rule z / table z; None: compare point values

    @classmethod
    def build(cls, rule: AlertRule, larger_is_better: bool, confidence_level: float) -> RulePlan:
        widen = None if rule.confidence is None else z_value(rule.confidence) / z_value(confidence_level)
        return cls(rule=rule, larger_is_better=larger_is_better, widen=widen)

    def threshold(self, baseline: float, ratio: float) -> float:
        return baseline * ratio if self.larger_is_better else baseline / ratio

    def worse(self, a: float, b: float) -> bool:
        """``a`` is on the bad side of ``b``."""
        return a < b if self.larger_is_better else a > b


def evaluated(history: pd.DataFrame, plan: RulePlan) -> np.ndarray:
    """Mask of the windows a rule evaluates (see the module docstring)."""
    rule = plan.rule
    ok = history["value"].notna().to_numpy() & history["baseline"].notna().to_numpy()
    ok &= history["n_labeled"].fillna(0).to_numpy() >= rule.min_labeled
    mature = history["is_mature"].fillna(False).to_numpy().astype(bool)
    if rule.maturity.mode == "mature":
        ok &= mature
    elif rule.maturity.mode == "min_coverage":
        ok &= mature | (history["label_coverage"].fillna(0).to_numpy() >= rule.maturity.min_coverage)
    if plan.widen is not None:
        ok &= history["ci_lower"].notna().to_numpy() & history["ci_upper"].notna().to_numpy()
    return ok


def evaluate_history(history: pd.DataFrame, plan: RulePlan) -> list[dict]:
    """Every alert episode of one history, oldest first.

    Args:
        history: one row per window with ``window_start``, ``value``, ``ci_lower``, ``ci_upper``,
            ``n_labeled``, ``label_coverage``, ``is_mature`` and ``baseline``.

    Returns:
        Episode dicts with the ``EPISODE_COLUMNS`` from ``metric`` on (the caller adds the key).
    """
    history = history.sort_values("window_start").reset_index(drop=True)
    rule = plan.rule
    levels = sorted(rule.levels, key=lambda lv: RANK[lv.level])
    hits = {lv.level: deque(maxlen=lv.within) for lv in levels}
    episodes: list[dict] = []
    episode: dict | None = None
    mask = evaluated(history, plan)
    for row in history[mask].itertuples(index=False):
        value, base = float(row.value), float(row.baseline)
        lo, hi = value, value
        if plan.widen is not None:
            lo = value - (value - float(row.ci_lower)) * plan.widen
            hi = value + (float(row.ci_upper) - value) * plan.widen
        optimistic = hi if plan.larger_is_better else lo  # the interval's best end
        thresholds = {lv.level: plan.threshold(base, lv.ratio) for lv in levels}
        holding = []
        for lv in levels:
            hits[lv.level].append(plan.worse(optimistic, thresholds[lv.level]))
            if sum(hits[lv.level]) >= lv.of:
                holding.append(lv.level)
        current = holding[-1] if holding else None
        recovered = not plan.worse(value, thresholds[levels[0].level])
        window = {
            "window_start": row.window_start,
            "value": value,
            "ci_lower": _num(row.ci_lower),
            "ci_upper": _num(row.ci_upper),
            "baseline": base,
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
            }
        elif current is not None:
            episode["level"] = current
            episode["recovering"] = 0
            if RANK[current] > RANK[episode["peak"]]:
                episode["peak"] = current
        elif recovered:
            episode["recovering"] += 1
        else:
            episode["recovering"] = 0
        episode["trail"].append(window)
        episode["last"] = window
        episode["threshold"] = thresholds[episode["level"]]
        if episode["recovering"] >= rule.resolve_after:
            episodes.append(_episode_row(episode, plan, resolved=row.window_start))
            episode = None
    if episode is not None:
        episodes.append(_episode_row(episode, plan, resolved=None))
    return episodes


def _num(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _episode_row(episode: dict, plan: RulePlan, resolved) -> dict:
    last = episode["last"]
    rule = plan.rule
    evidence = {
        "peak_level": episode["peak"],
        "direction": "larger_is_better" if plan.larger_is_better else "smaller_is_better",
        "levels": {lv.level: {"ratio": lv.ratio, "of": lv.of, "within": lv.within} for lv in rule.levels},
        "confidence": rule.confidence,
        "windows": [
            {**w, "window_start": pd.Timestamp(w["window_start"]).isoformat()}
            for w in episode["trail"][-EVIDENCE_WINDOWS:]
        ],
    }
    return {
        "metric": rule.metric,
        "level": episode["level"],
        "status": "OPEN" if resolved is None else "RESOLVED",
        "action": ACTIONS[episode["level"]],
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
