"""Retraining decisions and model status, from the open alert episodes (pure Python).

Retraining is controlled, not reactive: a trigger (for ``sustained``, an open SUSTAINED-or-worse
episode whose level is confirmed on two windows that share no bucket; for ``critical``, an open
CRITICAL one, confirmed the same way; for ``kpi``, a KPI whose interval is wholly beyond its
``max`` or ``min`` in its latest two mature windows of the overall slice) only recommends RETRAIN
when no control blocks it; otherwise the decision is COOLDOWN, with the blocking control among the
reasons. One bad bucket may therefore block or roll back (CRITICAL), but never retrains.

Controls: ``cooldown`` (time since the version's last RETRAIN), ``min_new_labels`` (labels of the
version gained since its last RETRAIN, or all of them before the first) and ``max_one_per`` (at
most one RETRAIN across the monitor's versions in any trailing period of that length; in one run
the worst version goes first). ``drift_and_decay`` fires when a rule's metric, in the overall
slice, has an open episode that the ``sustained`` trigger would take (SUSTAINED or worse, confirmed
on two windows that share no bucket) and is classed DRIFT_AND_DECAY (``drift_performance``:
decayed by the rule's own test, with a feature drifted by the size-aware decision) in its latest
two classified windows that share no bucket. Its evidence names the features with the largest PSI
in those windows, and as ``correlated`` only those whose drift moves with the drop by the test
that allows for trending windows (``alerts.decay.comovement_p``), after Benjamini-Hochberg over
the metric's features at ``drift.fdr``: evidence of a relation, not proof of a cause.

Status per version: CRITICAL (an open CRITICAL episode: action BLOCK_OR_ROLLBACK), DEGRADED (open
SUSTAINED: ALERT; only MINOR: OBSERVE), HEALTHY (NONE), or INACTIVE (no recent prediction). A
CRITICAL version gets a rollback target: the healthy other version with enough labels whose
pessimistic bound of the critical rule's metric, in the same window and slice, is best, with the
difference and a z-test of it (on the stored standard errors, ``perf_metrics.std_error``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.alerts.rules import standard_error
from perfmon_spark.config import MonitorConfig
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.metrics.significance import bh_adjusted
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL, Action, Decision, DriftClass, Level, ModelStatus, Trigger

_DAY = 86400


@dataclass(frozen=True)
class VersionFacts:
    """What the decisions need to know of one model version (timestamps in epoch seconds)."""

    version: str
    labels_total: int
    last_retrain_as_of: int | None = None
    labels_at_last_retrain: int = 0


@dataclass(frozen=True)
class RetrainDecision:
    """A ``retrain_decisions`` row without the columns the alerting stage adds (monitor, as_of,
    run_id)."""

    model_version: str
    decision: Decision
    reasons: list[str]
    evidence: str
    new_labels_since_last: int
    labels_total: int

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VersionStatus:
    """A ``model_status`` row without the columns the alerting stage adds."""

    model_version: str
    status: ModelStatus
    action: Action
    rollback_target: str | None = None
    comparison: str | None = None

    def row(self) -> dict:
        return asdict(self)

    def gate(self) -> dict:
        """Its ``serving_gate`` row without the columns the alerting stage adds: a version is
        allowed unless its action is BLOCK_OR_ROLLBACK; the reason names the rule that blocked
        it and where to roll back."""
        reason = f"{self.status}: {self.action}"
        if self.action is Action.BLOCK_OR_ROLLBACK:
            worst = json.loads(self.comparison) if self.comparison else {}
            where = ", ".join(str(worst[k]) for k in ("metric", "window", "slice_key", "slice_value") if k in worst)
            target = f"roll back to {self.rollback_target}" if self.rollback_target else "no rollback target"
            reason = f"{reason}: rule {worst.get('rule')} ({where}); {target}"
        return {
            "model_version": self.model_version,
            "allowed": self.action is not Action.BLOCK_OR_ROLLBACK,
            "reason": reason,
        }


def _where(ep: Episode) -> str:
    where = "overall" if ep.slice_key == OVERALL else f"{ep.slice_key}={ep.slice_value}"
    return f"rule {ep.rule} ({ep.metric}, {ep.window}, {where})"


def _evidence(ep: Episode) -> dict:
    keys = (
        "rule",
        "metric",
        "window",
        "slice_key",
        "slice_value",
        "level",
        "value",
        "ci_lower",
        "ci_upper",
        "baseline",
        "threshold",
        "opened_window_start",
        "last_window_start",
    )
    return {k: getattr(ep, k) for k in keys}


def _confirmed(ep: Episode) -> set[Level]:
    """The levels an episode's evidence shows beyond in two windows that share no bucket: a
    retrain needs that much; one bad bucket may block, never retrain."""
    return {Level(level) for level in json.loads(ep.evidence or "{}").get("confirmed", ())}


def _sustained(ep: Episode) -> bool:
    """The ``sustained`` trigger's test: an episode at SUSTAINED or worse, confirmed at such a
    level on two windows that share no bucket."""
    return ep.level.rank >= Level.SUSTAINED.rank and any(c.rank >= Level.SUSTAINED.rank for c in _confirmed(ep))


def _kpi_breach(kpi, row: Mapping) -> str | None:
    """How a KPI window is beyond its limit, with its whole interval and enough labels; else None."""
    if row["value"] is None or (row.get("n_labeled") or 0) < kpi.min_labeled:
        return None
    lower = row["value"] if row.get("ci_lower") is None else row["ci_lower"]
    upper = row["value"] if row.get("ci_upper") is None else row["ci_upper"]
    if kpi.max is not None and lower > kpi.max:
        return f"> max {kpi.max:g}"
    if kpi.min is not None and upper < kpi.min:
        return f"< min {kpi.min:g}"
    return None


def _kpi_breaches(cfg: MonitorConfig, kpi_rows: list[Mapping]) -> list[tuple[str, dict, int]]:
    """The KPIs beyond their limit in their latest mature window and the one a window before it
    (two windows that share no bucket), each with its interval wholly beyond and enough labels."""
    limits = {k.name: k for k in cfg.kpis}
    fired = []
    for name in sorted({r["metric"] for r in kpi_rows}):
        windows = sorted((r for r in kpi_rows if r["metric"] == name), key=lambda r: r["window_start"])
        kpi, latest = limits[name], windows[-1]
        breaches = [_kpi_breach(kpi, r) for r in windows]
        if len(windows) < 2 or not all(breaches):
            continue
        evidence = {
            "kpi": name,
            "max": kpi.max,
            "min": kpi.min,
            "window": latest["window"],
            "windows": [
                {k: r.get(k) for k in ("window_start", "value", "ci_lower", "ci_upper", "n_labeled")} for r in windows
            ],
        }
        reason = f"{Trigger.KPI}: {name} {latest['value']:.4g} {breaches[-1]} in two {latest['window']} windows"
        fired.append((reason, evidence, Level.SUSTAINED.rank))
    return fired


def _drift_and_decay(
    drift_rows: list[Mapping], correlations: list[Mapping], open_episodes: list[Episode], fdr: float
) -> list[tuple[str, dict, int]]:
    """Rule metrics with an open SUSTAINED-or-worse episode (overall slice, confirmed: ``_sustained``)
    whose two latest classified windows (overall slice, sharing no bucket) are both
    DRIFT_AND_DECAY, with the features: those on top in the windows, and those whose drift moves
    with the drop (``_correlated``)."""
    fired = []
    for metric, window in sorted({(r["metric"], r["window"]) for r in drift_rows}):
        windows = sorted(
            (r for r in drift_rows if (r["metric"], r["window"]) == (metric, window)), key=lambda r: r["window_start"]
        )
        episode = next(
            (
                ep
                for ep in sorted(open_episodes, key=lambda e: (-e.level.rank, e.rule))
                if (ep.metric, ep.window, ep.slice_key) == (metric, window, OVERALL) and _sustained(ep)
            ),
            None,
        )
        if episode is None or len(windows) < 2 or any(r["class"] != DriftClass.DRIFT_AND_DECAY for r in windows):
            continue
        top = sorted({r["top_feature"] for r in windows if r["top_feature"]})
        evidence = {
            "metric": metric,
            "window": window,
            "episode": _evidence(episode),
            "windows": [
                {
                    k: r.get(k)
                    for k in ("window_start", "value", "baseline", "top_feature", "top_feature_psi", "score_psi")
                }
                for r in windows
            ],
            "features": top,
            "correlated": _correlated([c for c in correlations if c["metric"] == metric], fdr),
        }
        reason = f"{Trigger.DRIFT_AND_DECAY}: {metric} ({window}, overall) decayed with drift in {', '.join(top)}"
        fired.append((reason, evidence, Level.SUSTAINED.rank))
    return fired


def _correlated(correlations: list[Mapping], fdr: float) -> list[dict]:
    """The features whose drift moves with the drop: ``p_comovement`` through
    Benjamini-Hochberg at ``fdr`` over the metric's features that have one (strongest first).
    ``spearman_rho`` rides along, descriptive."""
    tested = [c for c in correlations if c.get("p_comovement") is not None]
    passed = [
        {**{k: c[k] for k in ("feature", "spearman_rho", "windows_used", "p_comovement")}, "q": q}
        for c, q in zip(tested, bh_adjusted([c["p_comovement"] for c in tested]))
        if q <= fdr
    ]
    return sorted(passed, key=lambda c: (c["q"], c["feature"]))


def triggers_of(
    cfg: MonitorConfig,
    open_episodes: list[Episode],
    kpi_rows: list[Mapping] = (),
    drift_rows: list[Mapping] = (),
    correlations: list[Mapping] = (),
) -> list[tuple[str, dict, int]]:
    """(reason, evidence, rank) for every open episode, KPI breach and drift-with-decay that fires
    a configured trigger, worst first. ``kpi_rows``: the latest mature window of each KPI (overall
    slice); ``drift_rows``: the two latest classified windows of each rule metric
    (``drift_performance``, overall slice); ``correlations``: ``drift_correlation``'s overall rows,
    each with its ``p_comovement``."""
    fired = []
    for ep in sorted(open_episodes, key=lambda e: (-e.level.rank, e.rule, e.slice_key, e.slice_value)):
        level, confirmed = ep.level, _confirmed(ep)
        if Trigger.CRITICAL in cfg.retrain.triggers and level is Level.CRITICAL and Level.CRITICAL in confirmed:
            fired.append((f"{Trigger.CRITICAL}: {_where(ep)}", _evidence(ep), level.rank))
        elif Trigger.SUSTAINED in cfg.retrain.triggers and _sustained(ep):
            fired.append((f"{Trigger.SUSTAINED}: {_where(ep)} at {level}", _evidence(ep), level.rank))
    if Trigger.KPI in cfg.retrain.triggers:
        fired += _kpi_breaches(cfg, kpi_rows)
    if Trigger.DRIFT_AND_DECAY in cfg.retrain.triggers:
        fired += _drift_and_decay(drift_rows, correlations, open_episodes, cfg.drift.fdr)
    return sorted(fired, key=lambda f: -f[2])


def retrain_decisions(
    cfg: MonitorConfig,
    as_of: int,
    facts: list[VersionFacts],
    open_episodes: list[Episode],
    last_monitor_retrain: int | None,
    kpi_rows: list[Mapping] = (),
    drift_rows: list[Mapping] = (),
    correlations: list[Mapping] = (),
) -> list[RetrainDecision]:
    """One decision per version: RETRAIN / COOLDOWN / NO_ACTION, with reasons and evidence."""

    def of(rows, version):
        return [r for r in rows if r["model_version"] == version]

    fired = {
        f.version: triggers_of(
            cfg,
            [e for e in open_episodes if e.model_version == f.version],
            of(kpi_rows, f.version),
            of(drift_rows, f.version),
            of(correlations, f.version),
        )
        for f in facts
    }
    order = sorted(facts, key=lambda f: (-max((rank for *_, rank in fired[f.version]), default=0), f.version))
    rc = cfg.retrain
    decisions = []
    for f in order:
        reasons = [r for r, *_ in fired[f.version]]
        new_labels = f.labels_total - f.labels_at_last_retrain
        blockers = []
        if f.last_retrain_as_of is not None and as_of - f.last_retrain_as_of < rc.cooldown.seconds:
            blockers.append(
                f"cooldown: last RETRAIN {(as_of - f.last_retrain_as_of) / _DAY:.1f} days ago, cooldown {rc.cooldown.text}"
            )
        if new_labels < rc.min_new_labels:
            blockers.append(f"min_new_labels: {new_labels} new labels since the last RETRAIN, need {rc.min_new_labels}")
        if (
            rc.max_one_per is not None
            and last_monitor_retrain is not None
            and as_of - last_monitor_retrain < rc.max_one_per.seconds
        ):
            blockers.append(
                f"max_one_per: a RETRAIN of this monitor {(as_of - last_monitor_retrain) / _DAY:.1f} days ago, at most one per {rc.max_one_per.text}"
            )
        decision = Decision.NO_ACTION if not reasons else (Decision.COOLDOWN if blockers else Decision.RETRAIN)
        if decision is Decision.RETRAIN:
            last_monitor_retrain = as_of
        evidence = {
            "triggers": [e for _, e, _ in fired[f.version]],
            "controls": {
                "cooldown": rc.cooldown.text,
                "last_retrain_as_of": f.last_retrain_as_of,
                "min_new_labels": rc.min_new_labels,
                "max_one_per": rc.max_one_per.text if rc.max_one_per else None,
            },
        }
        decisions.append(
            RetrainDecision(
                model_version=f.version,
                decision=decision,
                reasons=reasons + (blockers if reasons else []),
                evidence=json.dumps(evidence, sort_keys=True, default=str),
                new_labels_since_last=new_labels,
                labels_total=f.labels_total,
            )
        )
    return sorted(decisions, key=lambda d: d.model_version)


def status_of(open_episodes: list[Episode]) -> tuple[ModelStatus, Action]:
    """(status, action) of a version from its open episodes."""
    worst = max((e.level for e in open_episodes), key=lambda level: level.rank, default=None)
    if worst is Level.CRITICAL:
        return ModelStatus.CRITICAL, Action.BLOCK_OR_ROLLBACK
    if worst is Level.SUSTAINED:
        return ModelStatus.DEGRADED, Action.ALERT
    if worst is Level.MINOR:
        return ModelStatus.DEGRADED, Action.OBSERVE
    return ModelStatus.HEALTHY, Action.NONE


def rollback_target(
    cfg: MonitorConfig, critical: Episode, candidates: list[Mapping], healthy: set[str]
) -> tuple[str | None, dict]:
    """The best healthy other version in the critical episode's last window, and the comparison.

    A target must be better than the critical version, healthy, and judged on at least the rule's
    ``min_labeled`` labels in that window; among those, the one whose pessimistic bound (the lower
    end for larger-is-better metrics) is best wins, so a version with 30 labels and a lucky point
    value does not.

    Args:
        critical: the version's worst open CRITICAL episode.
        candidates: perf_metrics rows (model_version, value, ci_lower, ci_upper, std_error,
            n_labeled) of the same metric, window, slice and window_start, any version; the
            critical version's own row gives its standard error (without it, or without
            ``std_error``, the interval's half-width / z: ``rules.standard_error``).
        healthy: versions with no open SUSTAINED or CRITICAL episode.
    """
    larger = bool(cfg.larger_is_better(critical.metric))
    min_labeled = next((r.min_labeled for r in cfg.alerts if r.name == critical.rule), 0)
    z = z_value(cfg.confidence_level)
    own = next((c for c in candidates if c["model_version"] == critical.model_version), {})
    mine = {
        "value": critical.value,
        "ci_lower": critical.ci_lower,
        "ci_upper": critical.ci_upper,
        "std_error": own.get("std_error"),
    }
    rows = []
    for c in candidates:
        if c["model_version"] in (critical.model_version, ALL_VERSIONS) or c["value"] is None:
            continue
        diff = c["value"] - mine["value"]
        se = math.hypot(_se(c, z), _se(mine, z))
        z_diff = diff / se if se and not math.isnan(se) else None
        better = diff > 0 if larger else diff < 0
        rows.append(
            {
                "model_version": c["model_version"],
                "value": c["value"],
                "ci_lower": c["ci_lower"],
                "ci_upper": c["ci_upper"],
                "std_error": c.get("std_error"),
                "difference": diff,
                "z": z_diff,
                "significant": bool(better and z_diff is not None and abs(z_diff) > z),
                "healthy": c["model_version"] in healthy,
                "n_labeled": c.get("n_labeled"),
                "enough_labels": (c.get("n_labeled") or 0) >= min_labeled,
                "bound": _pessimistic(c, larger),
            }
        )
    rows.sort(key=lambda r: (-r["bound"] if larger else r["bound"], r["model_version"]))
    eligible = (r for r in rows if r["healthy"] and r["enough_labels"] and r["difference"] != 0)
    target = next((r["model_version"] for r in eligible if (r["difference"] > 0) == larger), None)
    comparison = {
        "rule": critical.rule,
        "metric": critical.metric,
        "window": critical.window,
        "slice_key": critical.slice_key,
        "slice_value": critical.slice_value,
        "window_start": critical.last_window_start,
        "this": mine,
        "candidates": rows,
    }
    return target, comparison


def _pessimistic(row: Mapping, larger: bool) -> float:
    """The interval's worse end (the point where there is no interval)."""
    bound = row.get("ci_lower") if larger else row.get("ci_upper")
    return float(row["value"] if bound is None or math.isnan(bound) else bound)


def _se(row: Mapping, z: float) -> float:
    """A row's standard error (``rules.standard_error``: the stored one, else the interval's
    half-width / z); NaN without either."""
    return float(standard_error(row.get("std_error"), row.get("ci_lower"), row.get("ci_upper"), z))


def model_statuses(
    cfg: MonitorConfig, versions: list[str], open_episodes: list[Episode], candidates: list[Mapping]
) -> list[VersionStatus]:
    """One status per version."""
    per = {v: [e for e in open_episodes if e.model_version == v] for v in versions}
    state = {v: status_of(per[v]) for v in versions}
    healthy = {v for v, (_, action) in state.items() if action in (Action.NONE, Action.OBSERVE)}
    out = []
    for v in versions:
        status, action = state[v]
        target, comparison = None, None
        if status is ModelStatus.CRITICAL:
            worst = sorted(
                (e for e in per[v] if e.level is Level.CRITICAL), key=lambda e: (e.rule, e.slice_key, e.slice_value)
            )[0]
            same = [
                c
                for c in candidates
                if all(c[k] == getattr(worst, k) for k in ("rule", "slice_key", "slice_value", "window"))
                and c["window_start"] == worst.last_window_start
            ]
            target, comparison = rollback_target(cfg, worst, same, healthy)
        text = json.dumps(comparison, sort_keys=True, default=str) if comparison else None
        out.append(VersionStatus(v, status, action, target, text))
    return out


def inactive_statuses(versions) -> list[VersionStatus]:
    """INACTIVE for versions with no prediction within ``inactive_after``: a paused model stays
    visible in ``model_status``, with nothing to act on."""
    return [VersionStatus(v, ModelStatus.INACTIVE, Action.NONE) for v in sorted(versions)]
