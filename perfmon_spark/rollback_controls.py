"""Whether a rollback is due and whether it may go ahead (pure Python; ``perfmon rollback`` reads
the tables and acts).

A rollback is due when the version serving (the champion) is CRITICAL in ``model_status``, whose
action is BLOCK_OR_ROLLBACK. It goes ahead only when every control lets it, checked in the order of
``RollbackControl``:

- ``no_target``: ``model_status`` names a rollback target (a healthy version better than the
  champion in the critical rule's window: ``decisions.rollback_target``).
- ``evidence``: on the same traffic, the target is BETTER or NOT_WORSE than the champion on every
  compared metric (``versions.metrics``, else the alert rules'), in the latest window of the longest
  time window (the one with the most labels), standardised to the champion's mix and judged on at
  least ``versions.min_labeled`` labels a side (``metrics.comparison``). A rule's single window says
  the champion is bad; this says the target is not worse where the champion serves.
- ``cooldown``: the monitor's last applied rollback is older than ``versions.rollback_cooldown``,
  so that two bad versions never flip the alias back and forth.
- ``in_flight``: no run and no other rollback holds the monitor (``io.claims``), so that the
  alias never moves under a run that is deciding from it.

Why refuse rather than pick another target: a rollback is the one action the monitor takes on
production by itself; a refused one is a row of ``rollbacks`` with its evidence and an exit code
(11) for people to act on, which is what "controlled rather than reactive" asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from perfmon_spark.vocabulary import Action, RollbackControl, Verdict

SUPPORTING = (Verdict.BETTER, Verdict.NOT_WORSE)  # what the target must be on every compared metric


@dataclass(frozen=True)
class RollbackCase:
    """What the controls read, gathered by ``perfmon rollback``.

    Attributes:
        status: the champion's ``model_status`` row (None: no run has judged it).
        comparison: ``version_comparison``-shaped rows of the target (as challenger) against the
            champion, every metric, window length and window start both have.
        longest_window: the longest time window's text (the evidence is read there).
        metrics: the compared metrics.
        last_applied: the monitor's latest applied ``rollbacks`` row (None: never).
        holder: the refusal line of a run or rollback holding the monitor (None: free).
    """

    champion: str
    status: Mapping[str, Any] | None
    comparison: list[Mapping[str, Any]]
    longest_window: str
    metrics: tuple[str, ...]
    last_applied: Mapping[str, Any] | None
    holder: str | None
    now: datetime
    cooldown: timedelta


@dataclass(frozen=True)
class Finding:
    """What the controls found."""

    due: bool
    to_version: str | None = None
    refused_by: RollbackControl | None = None
    why: str = ""  # one line: why due, or why nothing is
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def goes_ahead(self) -> bool:
        return self.due and self.refused_by is None


def latest_comparison(case: RollbackCase) -> dict[str, Mapping[str, Any] | None]:
    """Per compared metric, its comparison in the latest window start of the longest window
    (None where the two versions share no such window)."""
    latest: dict[str, Mapping[str, Any] | None] = dict.fromkeys(case.metrics)
    for row in case.comparison:
        if row["window"] != case.longest_window or row["metric"] not in latest:
            continue
        seen = latest[row["metric"]]
        if seen is None or row["window_start"] > seen["window_start"]:
            latest[row["metric"]] = row
    return latest


def judge(case: RollbackCase) -> Finding:
    """Whether a rollback of ``case.champion`` is due, to where, and the first control that
    refuses it (None: it may go ahead)."""
    status = case.status
    if status is None:
        return Finding(False, why=f"no model_status row for the champion {case.champion!r} yet (no run has judged it)")
    if status["action"] != Action.BLOCK_OR_ROLLBACK:
        return Finding(False, why=f"the champion {case.champion} is {status['status']} ({status['action']})")
    target = status.get("rollback_target")
    latest = latest_comparison(case)
    evidence = {
        "champion": case.champion,
        "status": {k: status.get(k) for k in ("status", "action", "rollback_target", "as_of", "run_id")},
        "critical": status.get("comparison"),
        "comparison": {m: None if r is None else dict(r) for m, r in latest.items()},
        "last_applied": None if case.last_applied is None else dict(case.last_applied),
        "holder": case.holder,
    }
    due = f"the champion {case.champion} is {status['status']} ({status['action']})"

    def refused(control: RollbackControl, why: str) -> Finding:
        return Finding(True, target, control, f"{due}; refused by {control}: {why}", evidence)

    if target is None:
        return refused(RollbackControl.NO_TARGET, "model_status names no healthy version better than it")
    weak = {m: r for m, r in latest.items() if r is None or r["verdict"] not in SUPPORTING}
    if weak:
        said = "; ".join(
            f"{m}: no {case.longest_window} window with both" if r is None else f"{m}: {r['verdict']}"
            for m, r in weak.items()
        )
        return refused(
            RollbackControl.EVIDENCE,
            f"{target} is not BETTER or NOT_WORSE than {case.champion} in the latest {case.longest_window} window "
            f"({said})",
        )
    if case.last_applied is not None and case.now - case.last_applied["at"] < case.cooldown:
        last = case.last_applied
        return refused(
            RollbackControl.COOLDOWN,
            f"the last rollback ({last['from_version']} -> {last['to_version']}) was at {last['at']:%Y-%m-%d %H:%M}, "
            f"within versions.rollback_cooldown; next allowed after {last['at'] + case.cooldown:%Y-%m-%d %H:%M}",
        )
    if case.holder is not None:
        return refused(RollbackControl.IN_FLIGHT, case.holder)
    shown = "; ".join(
        f"{m}: {r['verdict']} ({r['difference']:+.4f} [{r['ci_lower']:+.4f}, {r['ci_upper']:+.4f}], "
        f"{r['n_labeled_champion']} / {r['n_labeled_challenger']} labels)"
        for m, r in latest.items()
        if r is not None
    )
    return Finding(True, target, None, f"{due}; {target} in the latest {case.longest_window} window: {shown}", evidence)
