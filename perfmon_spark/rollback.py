"""``perfmon rollback [--apply]``: move the registry's champion alias back to the rollback target
when the champion is CRITICAL and every control lets it (``rollback_controls``).

It reads what the last run wrote (``model_status``, ``perf_metrics``), the monitor's ``rollbacks``
and its claim, and the registry's aliases; it computes no metric. The target's evidence is compared
here, the same way ``version_comparison`` compares challengers (``job.versions``), because the
target is rarely a configured challenger.

A dry run (the default) prints what it would do and writes nothing. ``--apply`` holds the monitor
(``io.claims``, so that no run reads the alias while it moves), judges again with what the table
says then, moves the alias, and appends a ``rollbacks`` row; a refused rollback is a row too, with
the control that refused it. Exit codes (SPEC §6): 0 nothing due, 10 rolled back (or would), 11
due and refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import ConcurrentRunError, ConfigError, PerfmonError
from perfmon_spark.io.catalog import MODEL_STATUS, PERF_METRICS, ROLLBACKS, C
from perfmon_spark.io.claims import Claim, DeltaClaims, claimed
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows, epoch, rows_to_frame
from perfmon_spark.job.versions import compared
from perfmon_spark.registry import Registry, resolved
from perfmon_spark.rollback_controls import Finding, RollbackCase, judge
from perfmon_spark.vocabulary import ROLLBACK_HOLDER

NOTHING_DUE, ROLLED_BACK, REFUSED = 0, 10, 11
HOLD = timedelta(minutes=10)  # how long --apply holds the monitor at most (it takes seconds)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    line: str


def rollback(spark: SparkSession, cfg: MonitorConfig, apply: bool = False, now: datetime | None = None) -> Outcome:
    """Judge a rollback of the champion and, with ``apply``, act on it.

    Raises:
        ConfigError: no ``versions`` section, or ``apply`` without ``versions.registry``.
        InputError: the registry cannot be read or its champion alias is not set.
    """
    if not cfg.versions.enabled:
        raise ConfigError("versions: perfmon rollback needs versions.champion or versions.registry")
    if not cfg.decides:
        raise ConfigError("alerts: perfmon rollback reads model_status, which only a monitor with alert rules writes")
    if apply and cfg.versions.registry is None:
        raise ConfigError(
            "versions.registry: perfmon rollback --apply moves a registry alias; configure versions.registry "
            "(pip install 'perfmon-spark[mlflow]'), or run without --apply to see what it would do"
        )
    now = (now or datetime.now(timezone.utc)).replace(tzinfo=None, microsecond=0)
    cfg = resolved(cfg, "perfmon rollback").cfg
    lake = Lake(spark, cfg)
    finding = judge(_case(lake, now))
    if not finding.due:
        return Outcome(NOTHING_DUE, f"nothing to do: {finding.why}")
    alias = cfg.versions.registry.champion_alias if cfg.versions.registry else None
    moves = f"{alias or 'the champion'}: {cfg.versions.champion} -> {finding.to_version}"
    if not apply:
        if finding.goes_ahead and cfg.versions.registry is not None:  # a target --apply could not name fails now
            Registry.connect(cfg.versions.registry, "perfmon rollback").number(finding.to_version)
        if finding.goes_ahead:
            act = "--apply moves the alias" if alias else "--apply needs versions.registry, whose alias it moves"
            return Outcome(ROLLED_BACK, f"would roll back {moves} ({finding.why}); {act}")
        return Outcome(REFUSED, f"rollback due, refused: {finding.why} (dry run: nothing written)")
    return _apply(lake, alias, now)


def _case(lake: Lake, now: datetime, holder: str | None = None, *, read_claim: bool = True) -> RollbackCase:
    """What the controls read, as the tables hold it now."""
    cfg = lake.cfg
    champion = cfg.versions.champion
    status = None
    if lake.exists(MODEL_STATUS):
        rows = collect_rows(lake.read(MODEL_STATUS).filter(F.col(C.model_version) == champion), MODEL_STATUS.schema)
        status = rows[0] if rows else None
        if status is not None:  # as a datetime, as in the evidence's other times
            status[C.as_of] = datetime.fromtimestamp(status[C.as_of], timezone.utc).replace(tzinfo=None)
    target = status and status[C.rollback_target]
    comparison = []
    if target and lake.exists(PERF_METRICS):
        comparison = compared(cfg.comparing(champion, (target,)), lake.read(PERF_METRICS))
    if read_claim:
        claim = DeltaClaims(lake).read()
        holder = claim.refusal() if claim is not None and claim.held(now) else None
    return RollbackCase(
        champion=champion,
        status=status,
        comparison=comparison,
        longest_window=max(cfg.window_lengths).text,
        metrics=cfg.compared_metrics,
        last_applied=_last_applied(lake),
        holder=holder,
        now=now,
        cooldown=cfg.versions.rollback_cooldown.delta,
    )


def _last_applied(lake: Lake) -> dict | None:
    """The monitor's latest applied rollback (``at`` as a naive-UTC datetime), None if never."""
    if not lake.exists(ROLLBACKS):
        return None
    rows = collect_rows(
        lake.read(ROLLBACKS).filter(F.col(C.applied)), ROLLBACKS.select(C.at, C.from_version, C.to_version)
    )
    last = max(rows, key=lambda r: r[C.at], default=None)
    return (
        None if last is None else {**last, C.at: datetime.fromtimestamp(last[C.at], timezone.utc).replace(tzinfo=None)}
    )


def _apply(lake: Lake, alias: str, now: datetime) -> Outcome:
    """Hold the monitor, read the aliases and judge again (the claim is then this command's, so
    ``in_flight`` is whether taking it failed), move the alias if every control lets it, and
    record the outcome."""
    cfg = lake.cfg
    registry = Registry.connect(cfg.versions.registry, "perfmon rollback")
    claim = Claim.new(cfg.name, f"rollback-{uuid.uuid4().hex[:8]}", ROLLBACK_HOLDER, now, now, HOLD)
    try:
        with claimed(lake, claim):
            # the champion again, as the registry says it now that no run or rollback can move it
            lake = Lake(lake.spark, resolved(cfg, "perfmon rollback").cfg)
            finding = judge(_case(lake, now, read_claim=False))
            if finding.goes_ahead:
                registry.move(alias, finding.to_version)
            _record(lake, finding, alias, now, moved=finding.goes_ahead)
    except ConcurrentRunError as e:  # the claim refuses it, if every other control lets it
        finding = judge(_case(lake, now, holder=str(e), read_claim=False))
        _record(lake, finding, alias, now)
    moves = f"{alias}: {lake.cfg.versions.champion} -> {finding.to_version}"
    if not finding.due:
        return Outcome(NOTHING_DUE, f"nothing to do: {finding.why}")
    if finding.goes_ahead:
        return Outcome(ROLLED_BACK, f"rolled back {moves} ({finding.why}); recorded in rollbacks")
    return Outcome(REFUSED, f"rollback due, refused: {finding.why}; recorded in rollbacks")


def _record(lake: Lake, finding: Finding, alias: str, now: datetime, moved: bool = False) -> None:
    """Append the ``rollbacks`` row of a due rollback, applied or refused (nothing when none is due).

    Raises:
        PerfmonError: the alias was moved (``moved``) and the row could not be written: one line
            that says so, since the cooldown reads the row.
    """
    if not finding.due:
        return
    cfg = lake.cfg
    status = finding.evidence.get("status") or {}
    row = {
        C.monitor: cfg.name,
        C.at: epoch(now),
        C.from_version: cfg.versions.champion,
        C.to_version: finding.to_version,
        C.alias: alias,
        C.applied: finding.goes_ahead,
        C.refused_by: None if finding.refused_by is None else str(finding.refused_by),
        C.evidence: json.dumps(finding.evidence, sort_keys=True, default=str),
        C.run_id: status.get(C.run_id),
    }
    try:
        lake.append(rows_to_frame(lake.spark, [row], ROLLBACKS.schema), ROLLBACKS)
    except Exception as e:
        if not moved:
            raise
        raise PerfmonError(
            f"rolled back {alias}: {cfg.versions.champion} -> {finding.to_version}, but its rollbacks row was not "
            f"written ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); append it by hand, "
            "or the cooldown will not see this rollback"
        ) from e
