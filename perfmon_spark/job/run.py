"""The monitoring job: ``run_monitor`` is the one library call behind ``perfmon run`` and
``jobs/run_monitor.py``.

A run is a sequence of named steps over a ``RunContext`` (the config, the session, as_of and the
input snapshots pinned at their Delta versions):

1. ``_open``: read both inputs at pinned versions; ``_check_inputs``: their columns (an input
   error stops the run before any write); stop with exit 5 (or wait) while another run of the
   monitor holds it (``io.claims``, a read);
2. ``scope.plan``: every bucket, or only those touched since the last run, or a backfill's;
3. ``_aggregate``: the one pass: validate rows, resolve labels as of, aggregate states;
4. ``_take``: the run takes the monitor, its rows read and checked, just before its first write
   (exit 5, nothing written, if another run took it or ended meanwhile); it lets it go when it
   ends, however it ends;
5. ``_write_quarantine``, ``_write_states``, ``_write_metrics``: MERGEs on the contract keys;
   ``versions.write_version_comparison`` (with ``versions.champion``);
6. ``alerting.run_alerting`` (with alert rules or a KPI trigger);
7. the ``runs`` row, last: it is the next run's watermark.

Each stage (``vocabulary.Stage``) is timed by a ``progress.Stopwatch``: a progress line, and
``runs.stage_seconds``.

Every write rewrites only changed rows, so a re-run with the same as_of leaves the tables as they
were, and a run killed half-way is repaired by running it again.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from perfmon_spark import __version__
from perfmon_spark.alerts.baseline import check_baseline_table
from perfmon_spark.config import MonitorConfig, TableRef
from perfmon_spark.drift_windows import DriftPlan, compute_drift
from perfmon_spark.errors import ConcurrentRunError, StrictError
from perfmon_spark.ingest.columns import KIND, LABEL_TS, REASON, RECORD, STATUS, RowKind
from perfmon_spark.ingest.labels import resolve
from perfmon_spark.ingest.times import label_time
from perfmon_spark.ingest.validate import (
    check_input_columns,
    check_label_sample,
    require_known_labels,
    visible_predictions,
)
from perfmon_spark.io.caching import cached, released
from perfmon_spark.io.catalog import (
    DRIFT_METRICS,
    DRIFT_REFERENCE,
    DRIFT_STATS,
    PERF_METRICS,
    PERF_STATS,
    QUARANTINE,
    RUNS,
    C,
    OutputTable,
)
from perfmon_spark.io.claims import Claim, DeltaClaims, claimed, utc_now, wait_until_free
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import cell
from perfmon_spark.io.tables import Snapshot, read_snapshot
from perfmon_spark.job import label_deltas, run_warnings
from perfmon_spark.job import scope as planning
from perfmon_spark.job.alerting import run_alerting
from perfmon_spark.job.label_delay import LabelDelay, measure
from perfmon_spark.job.progress import Stopwatch
from perfmon_spark.job.run_warnings import RunWarning
from perfmon_spark.job.scope import Scope
from perfmon_spark.job.versions import write_version_comparison
from perfmon_spark.registry import Resolved, resolved
from perfmon_spark.session import get_spark, prepare_session
from perfmon_spark.states.build import RECORD_ID, ROWS, aggregate_rows, bucket_states, main_entries
from perfmon_spark.states.cells import binning, cell_counts
from perfmon_spark.states.drift import Binned, bins_frame, drift_states, fix_bins, stored_bins
from perfmon_spark.states.layout import STATE_VERSION
from perfmon_spark.vocabulary import Reason, RowStatus, RunMode, RunStatus, Source, Stage
from perfmon_spark.windows.finalise import Reference, WindowPlan
from perfmon_spark.windows.spark import compute_metrics, recent_summaries, with_version_starts

LOG = logging.getLogger("perfmon_spark")


@dataclass(frozen=True)
class RunResult:
    """What one run read and wrote: the ``runs`` row (``io.catalog.RUNS``), as returned."""

    run_id: str
    monitor: str
    as_of: datetime
    started_at: datetime
    finished_at: datetime
    status: RunStatus
    mode: str
    predictions_version: int
    labels_version: int
    config_hash: str
    config_sections: dict[str, str]
    predictions_table_id: str | None
    labels_table_id: str | None
    state_version: int
    package_version: str
    message: str
    stage_seconds: dict[str, float]
    rows_read_predictions: int | None = 0
    rows_read_labels: int | None = 0
    rows_quarantined: int | None = 0
    orphan_labels: int | None = 0
    late_labels_ignored: int | None = 0
    buckets_recomputed: int | None = 0
    metric_rows_written: int | None = 0
    warnings: tuple[tuple[str, str], ...] = ()
    label_delay: dict[str, float] | None = None
    registry_versions: dict[str, str] | None = None

    def frame(self, spark: SparkSession) -> DataFrame:
        """The result as the one row appended to ``runs``."""
        return spark.createDataFrame([tuple(cell(getattr(self, c), t) for c, t in RUNS.schema)], RUNS.ddl)


@dataclass(frozen=True)
class RunContext:
    """What every step of a run reads: fixed when the run starts."""

    cfg: MonitorConfig
    spark: SparkSession
    as_of: datetime
    run_id: str
    started_at: datetime
    predictions: Snapshot
    labels: Snapshot
    without_feed: tuple[TableRef, ...]  # input tables without the change data feed
    registry_versions: dict[str, str] | None  # the registry's aliases, resolved at the start

    @property
    def lake(self) -> Lake:
        """The monitor's output tables."""
        return Lake(self.spark, self.cfg)

    def stamped(self, df: DataFrame) -> DataFrame:
        """``df`` with ``monitor`` first and this run's ``as_of`` and ``run_id`` last."""
        monitor = F.lit(self.cfg.name).alias(C.monitor)
        return df.select(monitor, *df.columns, F.lit(self.as_of).alias(C.as_of), F.lit(self.run_id).alias(C.run_id))

    def result(self, status: RunStatus, mode: str, message: str, watch: Stopwatch, **counts) -> RunResult:
        """The ``runs`` row of this run, with the stages timed so far; counts not given are 0."""
        return RunResult(
            run_id=self.run_id,
            monitor=self.cfg.name,
            as_of=self.as_of,
            started_at=self.started_at,
            finished_at=to_utc(datetime.now(timezone.utc)),
            status=status,
            mode=mode,
            predictions_version=self.predictions.version,
            labels_version=self.labels.version,
            config_hash=self.cfg.source_hash,
            config_sections=self.cfg.section_hashes,
            predictions_table_id=self.predictions.table_id,
            labels_table_id=self.labels.table_id,
            state_version=STATE_VERSION,
            package_version=__version__,
            message=message,
            stage_seconds=dict(watch.seconds),
            registry_versions=self.registry_versions,
            **counts,
        )


@dataclass(frozen=True)
class Counts:
    """Rows of the run by (kind, status, reason), and the latest arrival of a label row it read,
    from the one aggregation."""

    rows: tuple[tuple[int, str, str | None, int], ...]
    latest_label: datetime | None = None

    @classmethod
    def of(cls, aggregated: DataFrame) -> Counts:
        grouped = (
            main_entries(aggregated)
            .groupBy(KIND, STATUS, REASON)
            .agg(F.sum(ROWS).alias("n"), F.max(LABEL_TS).alias("latest"))
            .collect()
        )
        latest = max((r["latest"] for r in grouped if r["latest"] is not None), default=None)
        return cls(tuple((r[KIND], r[STATUS], r[REASON], r["n"]) for r in grouped), latest)

    def _sum(self, kind: int | None = None, status: str | None = None, reason: str | None = None) -> int:
        return sum(n for k, s, r, n in self.rows if kind in (None, k) and status in (None, s) and reason in (None, r))

    @property
    def predictions(self) -> int:
        return self._sum(kind=RowKind.PREDICTION)

    @property
    def labels(self) -> int:
        return self._sum(kind=RowKind.LABEL)

    @property
    def quarantined(self) -> int:
        return self._sum(status=RowStatus.QUARANTINED)

    @property
    def bad_labels(self) -> int:
        return self._sum(kind=RowKind.LABEL, reason=Reason.BAD_LABEL)

    def of_status(self, status: RowStatus) -> int:
        """Label rows of a status."""
        return self._sum(kind=RowKind.LABEL, status=status)


@dataclass(frozen=True)
class Aggregation:
    """What the one pass yields: its grouped rows (states' building blocks, counts and bad rows),
    the bucket states, the drift features' bins (those this run fixed among them) and
    histograms, and the scope (a partial run may have turned full)."""

    aggregated: DataFrame | None  # None: a partial run with no bucket to recompute
    counts: Counts
    states: DataFrame | None
    scope: Scope
    bins: tuple[Binned, ...] = ()
    fixed: tuple[Binned, ...] = ()
    drift: DataFrame | None = None
    visible: DataFrame | None = None  # the predictions visible at as_of, unevaluated


def to_utc(ts: datetime) -> datetime:
    """Naive timestamps are read as UTC; aware ones are converted. Returned naive, in UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc)
    return ts.replace(tzinfo=None)


def run_monitor(
    cfg: MonitorConfig,
    as_of: datetime,
    mode: RunMode | str = RunMode.INCREMENTAL,
    spark: SparkSession | None = None,
    backfill: tuple[datetime, datetime] | None = None,
    strict: bool = False,
    wait: float = 0.0,
) -> RunResult:
    """Run the monitor once as of ``as_of`` and write its tables.

    Args:
        cfg: the validated config.
        as_of: the instant the run sees: rows stamped later do not exist for it (UTC if naive).
        mode: ``incremental`` (default: recompute only the buckets touched since the last run,
            see ``job.scope.plan``) or ``full`` (recompute every bucket).
        spark: a session to use; default: ``session.get_spark(cfg.spark)``.
        backfill: recompute the buckets starting in [from, to) from raw rows instead.
        strict: a run with warnings ends FAILED before alerting (also ``strict: true`` in the
            config): its states and metrics are written, no alert or decision acts on them.
        wait: seconds to wait for another run of the monitor to end (default: stop at once).

    Raises:
        InputError: a missing input table or column, an unusable column type, or labels that are
            mostly not valid labels (before any write).
        ConcurrentRunError: another run holds the monitor (``io.claims``): this one wrote nothing,
            not even a FAILED ``runs`` row (SPEC: "nothing written by it"); the holder's row is
            the record of what ran.
        StrictError: ``strict`` and the run had warnings (after its FAILED ``runs`` row).
    """
    mode = RunMode(mode)
    if mode not in (RunMode.FULL, RunMode.INCREMENTAL):
        raise ValueError(f"mode must be full or incremental (a backfill is asked with backfill=), got {mode!r}")
    found = resolved(cfg, "perfmon run")  # before Spark: a registry that cannot answer fails at once
    spark = spark or get_spark(cfg.spark)  # started before the clock: the stages time the run itself
    watch = Stopwatch()
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        with watch.stage(Stage.READ) as note:
            ctx = _open(found, to_utc(as_of), spark)
            note(f"predictions at Delta version {ctx.predictions.version}, labels at {ctx.labels.version}")
        with ExitStack() as held:  # the claim, let go when the run ends, after its runs row
            try:
                with watch.stage(Stage.VALIDATE) as note:
                    _check_inputs(ctx)
                    free = wait_until_free(DeltaClaims(ctx.lake), deadline - time.monotonic())
                    if free.waited:
                        note(f"waited {free.waited:.0f} s for another run of the monitor")
                    scope = planning.plan(
                        ctx.spark, ctx.cfg, ctx.predictions, ctx.labels, ctx.as_of, mode, backfill, ctx.without_feed
                    )
                    killed = planning.killed_run(ctx.spark, ctx.cfg, free.last, scope.watermark)
                    if killed is not None and scope.mode is RunMode.INCREMENTAL:
                        if scope.hits is not None:
                            released(scope.hits)
                        scope = planning.killed_scope(killed)
                    note(f"{scope.mode}: {scope.reason}")
                claim = functools.partial(_take, held, ctx, _claim(ctx, mode, backfill), killed)
                result = _compute_and_write(ctx, scope, watch, strict or ctx.cfg.strict, claim)
            except ConcurrentRunError:
                if time.monotonic() < deadline:
                    continue  # another run took the monitor after this one planned: plan again after it
                raise  # this run wrote nothing, not even its failure; the holder's rows say what ran
            except Exception as e:
                _record_failure(ctx, e, watch)
                raise
            with watch.stage(Stage.WRITE) as note:
                ctx.lake.append(result.frame(ctx.spark), RUNS)
                note(f"run {result.run_id} {result.status}")
        break
    if result.status is RunStatus.FAILED:
        codes = ", ".join(code for code, _ in result.warnings)
        raise StrictError(
            f"run {result.run_id} FAILED: {len(result.warnings)} warnings under strict mode ({codes}); "
            "nothing was alerted or decided (see runs.warnings)"
        )
    return result


def _open(found: Resolved, as_of: datetime, spark: SparkSession) -> RunContext:
    """The run's context: its session, its config with the registry's versions, and both inputs,
    pinned at their current Delta versions."""
    cfg = found.cfg
    prepare_session(spark)
    started_at = to_utc(datetime.now(timezone.utc))
    predictions = read_snapshot(spark, cfg.predictions.table, Source.PREDICTIONS)
    labels = read_snapshot(spark, cfg.labels.table, Source.LABELS)
    run_id = f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    return RunContext(
        cfg,
        spark,
        as_of,
        run_id,
        started_at,
        predictions,
        labels,
        planning.without_feed(predictions, labels),
        found.aliases,
    )


def _claim(ctx: RunContext, mode: RunMode, backfill: tuple[datetime, datetime] | None) -> Claim:
    """This run's claim on the monitor, held ``run_timeout`` at most."""
    what = RunMode.BACKFILL if backfill is not None else mode
    return Claim.new(ctx.cfg.name, ctx.run_id, what, ctx.as_of, utc_now(), ctx.cfg.run_timeout.delta)


def _take(held: ExitStack, ctx: RunContext, claim: Claim, killed: Claim | None) -> None:
    """Take the monitor just before the run's first write (``io.claims``; let go when ``held``
    closes), once the checks that read the rows have passed: a run stopped by bad input writes
    nothing, not even a claim. Then record a run killed outright (``killed``, found by
    ``job.scope.killed_run``) with the FAILED row it could not write.

    The run planned from the watermark it read before: a run of the monitor that ended since then
    wrote tables this plan does not know of.

    Raises:
        ConcurrentRunError: another run holds the monitor, or one ended since this run started;
            nothing written.
    """
    held.enter_context(claimed(ctx.lake, claim))
    ended = (
        ctx.lake.read(RUNS).filter(F.col(C.finished_at) >= F.lit(ctx.started_at)).select(C.run_id).first()
        if ctx.lake.exists(RUNS)
        else None
    )
    if ended is not None:
        raise ConcurrentRunError(
            f"monitor {ctx.cfg.name!r}: run {ended[C.run_id]} ended while this run read its inputs; "
            "this run stopped before writing anything (--wait SECONDS waits for it)"
        )
    if killed is not None:
        ctx.lake.append(_killed_row(ctx, killed).frame(ctx.spark), RUNS)


def _killed_row(ctx: RunContext, killed: Claim) -> RunResult:
    """The FAILED ``runs`` row of a run killed outright, from its claim: what it read and wrote
    is unknown (null), and its end is when this run found it."""
    return RunResult(
        run_id=killed.run_id,
        monitor=killed.monitor,
        as_of=killed.as_of,
        started_at=killed.claimed_at,
        finished_at=ctx.started_at,
        status=RunStatus.FAILED,
        mode=killed.mode if killed.mode in set(RunMode) else RunMode.UNKNOWN,
        predictions_version=None,
        labels_version=None,
        config_hash=None,
        config_sections=None,
        predictions_table_id=None,
        labels_table_id=None,
        state_version=None,
        package_version=None,
        message=f"killed outright (host {killed.host}, pid {killed.pid}): it never let the monitor go and wrote no "
        f"runs row; recorded by run {ctx.run_id}, which recomputed in full",
        stage_seconds={},
        rows_read_predictions=None,
        rows_read_labels=None,
        rows_quarantined=None,
        orphan_labels=None,
        late_labels_ignored=None,
        buckets_recomputed=None,
        metric_rows_written=None,
    )


def _check_inputs(ctx: RunContext) -> None:
    """Columns, the baseline table and where the run writes (``Lake.check``), before any write
    (a failing check writes at most the FAILED ``runs`` row of a monitor that has run before)."""
    check_input_columns(ctx.cfg, ctx.predictions, ctx.labels)
    check_baseline_table(ctx.spark, ctx.cfg)
    ctx.lake.check()
    warning = planning.feed_warning(ctx.without_feed)
    if warning is not None:
        LOG.warning(warning)


def _compute_and_write(
    ctx: RunContext, scope: Scope, watch: Stopwatch, strict: bool, claim: Callable[[], None]
) -> RunResult:
    kept: list[DataFrame] = []
    planned = scope

    def keep(df: DataFrame) -> DataFrame:
        kept.append(cached(df))
        return kept[-1]

    try:
        with watch.stage(Stage.STATES) as note:
            agg = _aggregate(ctx, scope, keep)
            counts, scope = agg.counts, agg.scope
            recomputes = scope.writes_states
            n_states = agg.states.count() if recomputes else 0
            claim()  # the rows are read and checked: the first write follows
            quarantined = _write_quarantine(ctx, agg.aggregated) if counts.quarantined else 0
            delay = None if agg.aggregated is None else measure(main_entries(agg.aggregated), F.col(ROWS))
            orphans = counts.of_status(RowStatus.ORPHAN)
            if scope.is_partial:
                orphans = planning.orphan_labels(ctx.spark, ctx.cfg, agg.visible, ctx.labels, ctx.as_of, scope)
            if agg.fixed:
                fixed = bins_frame(ctx.spark, ctx.cfg.name, agg.fixed, ctx.run_id)
                ctx.lake.merge(fixed, DRIFT_REFERENCE)
            if recomputes:
                _write_states(ctx, agg.states, scope.buckets, PERF_STATS, scope.delta)
                if agg.drift is not None:  # a label changes no drift state
                    _write_states(ctx, agg.drift, scope.buckets, DRIFT_STATS)
            note(
                f"{counts.predictions} predictions and {counts.labels} labels read, "
                f"{quarantined} newly quarantined, {n_states} bucket states written"
            )
        with watch.stage(Stage.METRICS) as note:
            written = _write_metrics(ctx, agg.bins, scope.since)
            compared = ""
            if ctx.cfg.versions.enabled:
                changed = write_version_comparison(ctx.lake, ctx.lake.read(PERF_METRICS), ctx.stamped)
                compared = f", {changed} version_comparison rows"
            note(f"{written} perf_metrics rows changed{compared}")
    finally:
        for df in kept:
            released(df)
        if planned.hits is not None:
            released(planned.hits)

    with watch.stage(Stage.CHECKS) as note:
        warnings = _warnings(ctx, counts, delay, not scope.is_partial)
        for w in warnings:
            LOG.warning(f"[{ctx.cfg.name}] {w.code}: {w.message}")
        note(f"{len(warnings)} warnings" + (f"; {delay.describe()}" if delay is not None else ""))
    outcome = {
        "rows_read_predictions": counts.predictions,
        "rows_read_labels": counts.labels,
        "rows_quarantined": quarantined,
        "orphan_labels": orphans,
        "late_labels_ignored": counts.of_status(RowStatus.LATE),
        "buckets_recomputed": n_states,
        "metric_rows_written": written,
        "warnings": tuple(w.row() for w in warnings),
        "label_delay": None if delay is None else delay.as_map(),
    }
    message = scope.reason
    if strict and warnings:
        return ctx.result(RunStatus.FAILED, scope.mode, f"{message}; stopped by strict mode", watch, **outcome)
    if ctx.cfg.decides:
        with watch.stage(Stage.ALERTS) as note:
            summary = run_alerting(ctx.spark, ctx.cfg, ctx.as_of, ctx.run_id, ctx.stamped).summary
            note(summary)
        message += "; " + summary
    return ctx.result(RunStatus.SUCCEEDED, scope.mode, message, watch, **outcome)


def _warnings(ctx: RunContext, counts: Counts, delay: LabelDelay | None, complete: bool) -> list[RunWarning]:
    """The run's warnings, in the order of ``WarningCode`` (``complete``: the run read every label row)."""
    cfg = ctx.cfg
    found = [
        run_warnings.late_labels(cfg, delay),
        run_warnings.label_arrivals(cfg, ctx.labels, ctx.as_of, counts.latest_label, complete),
    ]
    found = [w for w in found if w is not None]
    return found + run_warnings.from_states(cfg, run_warnings.bucket_coverage(ctx.spark, cfg), ctx.as_of)


def _aggregate(ctx: RunContext, scope: Scope, keep) -> Aggregation:
    """The one pass over the rows in scope. ``keep`` caches a frame until the run's writes end.

    Persisting is lazy: the cell counts of every visible row are scanned only when used (a full
    run, or a partial one that must rank the segment values again), and then only once.
    """
    cfg = ctx.cfg
    visible = visible_predictions(cfg, ctx.predictions, ctx.as_of)
    bins, fixed, scope = _drift_bins(ctx, visible, scope)
    if not scope.writes_states:  # a partial run with nothing to recompute reads no row
        return Aggregation(None, Counts(()), None, scope, bins, visible=visible)
    all_cells = keep(cell_counts(visible, cfg))
    scoped = keep(cell_counts(planning.in_scope(cfg, visible, scope), cfg)) if scope.is_partial else all_cells
    top, scope = planning.segment_values(ctx.spark, cfg, all_cells, scoped, scope)
    aggregated = states = drift = None
    if scope.buckets != ():
        cells = scoped if scope.is_partial else all_cells  # a partial run may have turned full
        label_rows = ctx.labels.df
        if scope.is_partial:
            label_rows = label_rows.filter(label_time(cfg) >= F.lit(min(scope.buckets)))
        rows = resolve(cfg, planning.in_scope(cfg, visible, scope), label_rows, ctx.as_of, partial=scope.is_partial)
        binned = binning(cells, cfg, top)
        aggregated = keep(aggregate_rows(rows, cfg, top, binned, bins))
        states = ctx.stamped(bucket_states(aggregated, cfg, binned))
        drift = ctx.stamped(drift_states(aggregated, cfg, bins, ROWS)) if bins else None
    if scope.delta:
        moved, resolved = label_deltas.moved(ctx, scope, visible, top, keep)
        states = moved if states is None else states.unionByName(moved)
        aggregated = resolved if aggregated is None else aggregated.unionByName(resolved, allowMissingColumns=True)
    counts = Counts.of(aggregated)
    require_known_labels(cfg, ctx.labels, counts.bad_labels, counts.labels)
    return Aggregation(aggregated, counts, keep(states), scope, bins, fixed, drift, visible)


def _drift_bins(
    ctx: RunContext, visible: DataFrame, scope: Scope
) -> tuple[tuple[Binned, ...], tuple[Binned, ...], Scope]:
    """Every drift feature's bins (stored in ``drift_reference``, else fixed now from the
    visible predictions), those fixed now, and the scope: a partial run that must fix bins turns
    full, so that every stored histogram of a feature is on the same bins."""
    cfg = ctx.cfg
    if not cfg.drift.columns:
        return (), (), scope
    stored = stored_bins(ctx.lake)
    fixed = fix_bins(cfg, visible, tuple(f for f in cfg.drift.columns if f not in stored))
    if fixed and scope.is_partial:
        scope = planning.full_scope(f"drift bins fixed for {', '.join(b.feature for b in fixed)}")
    found = {**stored, **{b.feature: b for b in fixed}}
    return tuple(found[f] for f in cfg.drift.columns), fixed, scope


def _write_quarantine(ctx: RunContext, aggregated: DataFrame) -> int:
    """Bad rows (one group each in the aggregation: identical rows are one record, with their
    count), inserted once per record; returns the records new to the table (a bucket re-read by a
    later run finds its bad rows there already)."""
    record = F.col(RECORD)
    rows = aggregated.filter(record.isNotNull()).select(
        F.lit(ctx.cfg.name).alias(C.monitor),
        F.when(F.col(KIND) == RowKind.PREDICTION, F.lit(Source.PREDICTIONS))
        .otherwise(F.lit(Source.LABELS))
        .alias(C.source),
        F.col(REASON).alias(C.reason),
        record.alias(C.record),
        F.col(RECORD_ID).alias(C.record_id),
        F.sha2(record, 256).alias(C.record_hash),
        F.lit(ctx.run_id).alias(C.first_seen_run),
        F.lit(ctx.as_of).cast("timestamp").alias(C.as_of),
        F.col(ROWS).alias(C.n_rows),
    )
    return ctx.lake.merge(rows, QUARANTINE)


def _write_states(
    ctx: RunContext,
    states: DataFrame,
    buckets: tuple[datetime, ...] | None,
    table: OutputTable,
    moved: tuple[datetime, ...] = (),
) -> None:
    """MERGE the states of the recomputed ``buckets`` (None: all) and of the ``moved`` ones
    (``perf_stats`` or ``drift_stats``); a state of those buckets that no longer exists goes."""
    owned = ctx.lake.owned(table, at=None if buckets is None else (*buckets, *moved))
    ctx.lake.merge(states, table, owned=owned)


def _write_metrics(ctx: RunContext, bins: tuple[Binned, ...], since: datetime | None) -> int:
    """The windows ending at or after ``since`` (None: every window) from the stored states,
    MERGEd over the same windows, then the drift metrics of ``bins``' features likewise; returns
    the ``perf_metrics`` rows changed."""
    cfg, lake = ctx.cfg, ctx.lake
    stats = lake.read(PERF_STATS)
    plan = WindowPlan.from_config(cfg, ctx.as_of, since)
    reference = Reference.from_config(cfg)
    if plan.reference is not None or bins:
        reference = with_version_starts(reference, stats)
    if plan.reference is not None:
        plan = replace(plan, reference=reference)
    metrics = ctx.stamped(compute_metrics(recent_summaries(stats, plan), plan))
    written = lake.merge(metrics, PERF_METRICS, owned=lake.owned(PERF_METRICS, since=since))
    if bins:
        histograms = lake.read(DRIFT_STATS)
        drift = ctx.stamped(compute_drift(histograms, DriftPlan.from_config(cfg, bins, reference, since)))
        lake.merge(drift, DRIFT_METRICS, owned=lake.owned(DRIFT_METRICS, since=since))
    return written


def _record_failure(ctx: RunContext, error: Exception, watch: Stopwatch) -> None:
    """Best effort: a FAILED row in ``runs`` (only where the table already exists, so that a run
    failing before its first write leaves no table behind). It never moves the watermark."""
    try:
        if not ctx.lake.exists(RUNS):
            return
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:1000]
        ctx.lake.append(ctx.result(RunStatus.FAILED, RunMode.UNKNOWN, message, watch).frame(ctx.spark), RUNS)
    except Exception:  # noqa: BLE001  (the original error is what the user must see)
        pass


def check_tables(cfg: MonitorConfig, as_of: datetime, spark: SparkSession | None = None) -> list[str]:
    """What ``perfmon validate --check-tables`` checks, without running the job: the inputs'
    columns and types, a sample of label values, the baseline table, the output location and
    tables (``Lake.check``); and how late the labels arrive (one resolution of every label event
    as of ``as_of``, as a full run makes), so that ``labels.max_delay`` can be chosen before the
    first run. Returns lines to print: the label delay and warnings prefixed ``warning:``, then the
    output checks.

    Raises:
        InputError: the first problem found.
    """
    aliases = resolved(cfg, "perfmon validate").aliases
    spark = spark or get_spark(cfg.spark)
    predictions = read_snapshot(spark, cfg.predictions.table, Source.PREDICTIONS)
    labels = read_snapshot(spark, cfg.labels.table, Source.LABELS)
    check_input_columns(cfg, predictions, labels)
    check_label_sample(cfg, labels)
    check_baseline_table(spark, cfg)
    outputs = Lake(spark, cfg).check()
    warning = planning.feed_warning(planning.without_feed(predictions, labels))
    lines = [] if warning is None else [f"warning: {warning}"]
    delay = None
    if cfg.labels.join.mode != "entity_horizon":
        delay = measure(resolve(cfg, visible_predictions(cfg, predictions, as_of), labels.df, as_of), F.lit(1))
    lines.append(
        "label delay: none measured (no label event matched a prediction)" if delay is None else delay.describe()
    )
    late = run_warnings.late_labels(cfg, delay)
    if late is not None:
        lines.append(f"warning: {late.code}: {late.message}")
    if aliases is not None:
        lines.append("registry: " + ", ".join(f"{alias} -> {version}" for alias, version in aliases.items()))
    return lines + outputs
