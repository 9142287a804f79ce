"""Which buckets a run must recompute: all of them, a backfill's, or only those touched since
the last run (``plan``), and which of those only need their states moved by label deltas.

The watermark is the last SUCCEEDED row of ``runs`` for this monitor (the row is appended after
every other table has committed, so a killed run leaves the previous watermark in place and the
next run recomputes a superset). A run is incremental when the config is unchanged, as_of did not
move back, and both input tables have the change data feed over the versions in between. It
recomputes from rows the buckets of:

- prediction rows inserted, updated or deleted since the recorded version (pre- and post-images);
- predictions stamped in (previous as_of, as_of] (rows that existed but were invisible before);
- predictions with a label event (changed since the recorded version, or arrived in
  (previous as_of, as_of], within max_delay after the prediction) whose id has prediction rows
  near the events in more than one bucket (a duplicate id: which row is kept decides the bucket).

The other buckets with such a label event keep their predictions, so their states move by what
the changed predictions contribute now minus what they contributed then (``job.label_deltas``),
unless the delta would not be exact: ranking (a request's values depend on all of its items),
states last written by a run that did not finish, or a watermark left by a backfill; or would not
pay: buckets holding fewer than ``LABEL_DELTA_MIN_PREDICTIONS`` predictions. Those are recomputed
from rows too, and the run's message says why.

An incremental run also finalises only the metric windows that can have changed (``Scope.since``):
those ending at or after the first recomputed or moved bucket, and those whose maturity could still
move (ending at or after the previous as_of minus max_delay). Every value of an older window is a
function of buckets that did not change and of an as_of past its maturity, so it stays as written
(``docs/internals.md`` walks through why, window kind by window kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.buckets import Buckets, seconds
from perfmon_spark.config import ALERTING_ONLY, MonitorConfig, TableRef, changed_sections
from perfmon_spark.errors import ConfigError
from perfmon_spark.ingest.columns import ID, REASON
from perfmon_spark.ingest.times import label_time, prediction_time, prediction_visible, visibility_lag
from perfmon_spark.ingest.validate import derive_predictions, label_key, prediction_key
from perfmon_spark.io.caching import cached, released
from perfmon_spark.io.catalog import PERF_STATS, RUNS, C
from perfmon_spark.io.claims import Claim
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.quoting import sql_table, table_name
from perfmon_spark.io.tables import Snapshot
from perfmon_spark.problems import problem
from perfmon_spark.states.cells import top_segment_values, values_seen
from perfmon_spark.states.layout import STATE_VERSION
from perfmon_spark.vocabulary import NULL_VALUE, OTHER, OVERALL, ROLLBACK_HOLDER, RunMode, RunStatus

BUCKET, HIT, SPLIT = "bucket", "_hit", "_split"  # columns of ``_hits``

# Label deltas cost a fixed number of Spark jobs (the labels read at two versions, two
# resolutions and aggregations, a cell count); a recompute costs the buckets' rows. Below this
# many predictions in the label-changed buckets re-reading them is faster: on 2 cores re-reading
# 3.1M still won by 11 s, a gap closing by about 2 s per million (bench/bench_label_deltas.py,
# docs/performance.md). A session setting overrides it (a cluster reads rows faster).
LABEL_DELTA_MIN_PREDICTIONS = 10_000_000
LABEL_DELTA_SETTING = "spark.perfmon.labelDeltas.minPredictions"


@dataclass(frozen=True)
class Watermark:
    """What the last successful run read."""

    as_of: datetime
    predictions_version: int
    labels_version: int
    config_hash: str
    state_version: int | None  # None: written before the runs table recorded it
    config_sections: dict[str, str] | None  # None: likewise
    mode: str
    finished_at: datetime
    predictions_table_id: str | None = None  # None: likewise
    labels_table_id: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Scope:
    """The buckets a run recomputes (``buckets is None``: all of them), and the metric windows it
    finalises again: those ending at or after ``since`` (None: every window)."""

    mode: RunMode
    buckets: tuple[datetime, ...] | None
    reason: str
    since: datetime | None = None
    delta: tuple[datetime, ...] = ()  # buckets whose states move by label deltas instead
    hits: DataFrame | None = field(default=None, compare=False, repr=False)  # ``_hits``, cached
    watermark: Watermark | None = None  # what the delta buckets' stored states reflect
    new_labels: bool = True  # a label event arrived or was written since the watermark

    @property
    def is_partial(self) -> bool:
        return self.buckets is not None

    @property
    def writes_states(self) -> bool:
        """Whether a state is recomputed or moved (a partial run may find neither)."""
        return self.buckets != () or bool(self.delta)

    def delta_ids(self) -> DataFrame:
        """``_id`` of each prediction whose states move by label deltas: its rows near the events
        lie in one bucket, a ``delta`` one, and an event falls in its window there."""
        listed = [F.lit(b) for b in self.delta]
        return self.hits.filter(F.col(HIT) & F.col(BUCKET).isin(*listed)).select(ID).distinct()


def last_watermark(spark: SparkSession, cfg: MonitorConfig) -> Watermark | None:
    runs = Lake(spark, cfg).read_if_exists(RUNS)
    if runs is None:
        return None
    layout = F.col(C.state_version) if C.state_version in runs.columns else F.lit(None).cast("int")
    # columns a runs table written by an older package lacks: None
    sections, *ids = (
        F.col(c) if c in runs.columns else F.lit(None).alias(c)
        for c in (C.config_sections, C.predictions_table_id, C.labels_table_id)
    )
    row = (
        runs.filter(F.col(C.status) == RunStatus.SUCCEEDED)
        .orderBy(F.desc(C.finished_at))
        .select(
            C.as_of,
            C.predictions_version,
            C.labels_version,
            C.config_hash,
            layout,
            sections,
            C.mode,
            C.finished_at,
            *ids,
            C.run_id,
        )
        .first()
    )
    return None if row is None else Watermark(*row)


def killed_run(spark: SparkSession, cfg: MonitorConfig, claim: Claim | None, mark: Watermark | None) -> Claim | None:
    """The claim of a run killed outright (SIGKILL, a lost driver): the monitor's last claim, if
    its run never let it go (``released_at`` null: it expired, or its ``expires_at`` was moved by
    hand, since this run found the monitor free) and wrote no ``runs`` row (a run that ends,
    failed or not, writes one before it lets the monitor go). None when the last claim is the
    watermark's run's (no read) or a rollback's (which writes no runs row). A run refused after it
    took the claim let it go: not killed."""
    if claim is None or claim.released_at is not None or claim.mode == ROLLBACK_HOLDER:
        return None
    if mark is not None and claim.run_id == mark.run_id:
        return None
    runs = Lake(spark, cfg).read_if_exists(RUNS)
    ended = runs is not None and runs.filter(F.col(C.run_id) == claim.run_id).limit(1).count() > 0
    return None if ended else claim


def killed_scope(killed: Claim) -> Scope:
    """A full recompute after a run killed outright: what it wrote before it died is unknown."""
    return full_scope(
        f"run {killed.run_id} ({killed.mode} as of {killed.as_of:%Y-%m-%dT%H:%M:%S}, host {killed.host}, pid "
        f"{killed.pid}) took the monitor at {killed.claimed_at:%Y-%m-%dT%H:%M:%S} and wrote no runs row (killed "
        "outright?): what it may have written is unknown"
    )


def config_edit(mark: Watermark, cfg: MonitorConfig) -> tuple[str | None, str]:
    """What an edit of the config since the watermark's run means: (why the run must be full, or
    None; what the run's message says of the edit, or ""). An edit of ``ALERTING_ONLY`` sections
    alone keeps the states (every run evaluates every rule again); any other, or one the watermark
    cannot tell apart (no ``config_sections``), makes a full run, naming the sections it can."""
    if mark.config_hash == cfg.source_hash:
        return None, ""
    changed = changed_sections(mark.config_sections, cfg.section_hashes)
    if changed is None:
        return "config changed since the last run", ""
    if set(changed) - set(ALERTING_ONLY):
        return f"config changed since the last run ({', '.join(changed)})", ""
    return None, f"; config edited ({', '.join(changed)}): states kept, every rule evaluated again"


def _changes(spark: SparkSession, ref: TableRef, start: int, end: int) -> DataFrame:
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
    )
    return reader.load(ref.text) if ref.is_path else reader.table(table_name(ref))


def _cdf_on(snapshot: Snapshot) -> bool:
    """Whether the table has the change data feed on (table metadata only: no file listing)."""
    properties = {
        r["key"]: r["value"]
        for r in snapshot.df.sparkSession.sql(f"SHOW TBLPROPERTIES {sql_table(snapshot.ref)}").collect()
    }
    return str(properties.get("delta.enableChangeDataFeed", "false")).lower() == "true"


def without_feed(*snapshots: Snapshot) -> tuple[TableRef, ...]:
    """The input tables without the change data feed (read once per run: the warning and the
    plan both use it)."""
    return tuple(s.ref for s in snapshots if not _cdf_on(s))


def feed_warning(off: tuple[TableRef, ...]) -> str | None:
    """One line naming the input tables without the change data feed and the statement that turns
    it on, or None: without the feed every run is a full recompute."""
    if not off:
        return None
    fixes = "; ".join(
        f"ALTER TABLE {sql_table(ref)} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)" for ref in off
    )
    names = " and ".join(repr(ref.text) for ref in off)
    return f"change data feed is off on {names}, so every run recomputes every bucket; turn it on with: {fixes}"


def plan(
    spark: SparkSession,
    cfg: MonitorConfig,
    predictions: Snapshot,
    labels: Snapshot,
    as_of: datetime,
    mode: RunMode,
    backfill: tuple[datetime, datetime] | None = None,
    off: tuple[TableRef, ...] = (),
) -> Scope:
    """The scope of a run: a backfill's buckets, every bucket (``full``), or for an incremental
    run the buckets touched since the watermark, unless something forces a full run.

    Args:
        off: the input tables without the change data feed (``without_feed``).
    """
    if backfill is not None:
        return backfill_scope(cfg, *backfill)
    if mode is RunMode.FULL:
        return full_scope("full refresh requested")
    least = label_delta_min_predictions(spark)
    mark = last_watermark(spark, cfg)
    if mark is None:
        return full_scope("first run of this monitor")
    full_because, edit = config_edit(mark, cfg)
    if full_because is not None:
        return full_scope(full_because)
    if mark.state_version != STATE_VERSION:
        return full_scope(f"state layout changed (version {mark.state_version} to {STATE_VERSION})")
    if cfg.labels.join.mode == "entity_horizon":
        return full_scope("entity_horizon joins are recomputed in full")
    if as_of < mark.as_of:
        return full_scope(f"as_of moved back from {mark.as_of:%Y-%m-%dT%H:%M:%S}")
    failed = _uncovered_failure(spark, cfg, mark, as_of)
    if failed is not None:
        return full_scope(
            f"a run as of {failed:%Y-%m-%dT%H:%M:%S} failed after the last successful one, "
            "and what it may have written is outside this run's scope"
        )
    for snap, version, table_id in (
        (predictions, mark.predictions_version, mark.predictions_table_id),
        (labels, mark.labels_version, mark.labels_table_id),
    ):
        if table_id is not None and snap.table_id != table_id:
            return full_scope(f"{snap.ref.text} is another table than the last run read (dropped and created again?)")
        if snap.version < version:
            return full_scope(f"{snap.ref.text} is older than the last run read (restored?)")
        if snap.version > version and snap.ref in off:
            return full_scope(f"change data feed is off on {snap.ref.text}")
    try:
        rebuild, hits = _affected_buckets(spark, cfg, predictions, labels, as_of, mark)
        if hits is not None:
            hits = cached(hits)
        rebuild, delta, why = _label_scope(spark, cfg, hits, rebuild, as_of, mark, least)
    except Exception as e:
        if _files_gone(e):
            return full_scope(
                "change data feed unavailable: files of the versions since the last run are gone "
                "(an OPTIMIZE, then a VACUUM, removed them)"
            )
        if "change" not in str(e).lower() and "cdc" not in str(e).lower():
            raise
        return full_scope(f"change data feed unavailable: {str(e).splitlines()[0][:200]}")
    if hits is not None and not delta:
        hits = released(hits)
    since = min([*rebuild, *delta, mark.as_of - cfg.labels.max_delay.delta])
    return Scope(
        RunMode.INCREMENTAL,
        tuple(sorted(rebuild)),
        f"{len(rebuild)} buckets recomputed from rows{why}, {len(delta)} moved by label deltas, "
        f"windows ending from {since:%Y-%m-%d %H:%M} finalised{edit}",
        since,
        tuple(sorted(delta)),
        hits if delta else None,
        mark,
        new_labels=hits is not None,
    )


def _files_gone(e: Exception) -> bool:
    """Whether reading the change data feed failed on a data file that no longer exists: an OPTIMIZE
    rewrote the files the versions since the last run added, and a VACUUM deleted them, so their
    changes cannot be read. The error's text names the JVM's exception (a classic session) or
    Spark's error class (``FAILED_READ_FILE.FILE_NOT_EXIST``, through Spark Connect)."""
    return any(name in str(e) for name in ("java.io.FileNotFoundException", "FILE_NOT_EXIST"))


def _uncovered_failure(spark: SparkSession, cfg: MonitorConfig, mark: Watermark, as_of: datetime) -> datetime | None:
    """The as_of of a run that failed after the watermark and whose writes an incremental run
    as of ``as_of`` would not repair, or None.

    A failed run may have written states and windows before it stopped. An incremental run
    recomputes every bucket changed since the watermark or stamped up to its as_of, a superset of
    what a failed run with the same config and an as_of in [watermark, as_of] touched; a failed run
    with an earlier as_of (a full rerun of the past) or a later one, or with another config, may
    have written anywhere."""
    row = (
        Lake(spark, cfg)
        .read(RUNS)
        .filter(
            (F.col(C.status) == RunStatus.FAILED)
            & (F.col(C.finished_at) > F.lit(mark.finished_at))
            & (
                (F.col(C.as_of) < F.lit(mark.as_of))
                | (F.col(C.as_of) > F.lit(as_of))
                | (F.col(C.config_hash) != F.lit(cfg.source_hash))
            )
        )
        .select(C.as_of)
        .first()
    )
    return None if row is None else row[C.as_of]


def full_scope(reason: str) -> Scope:
    return Scope(RunMode.FULL, None, reason)


def backfill_scope(cfg: MonitorConfig, start: datetime, end: datetime) -> Scope:
    """Every bucket that begins in [floor(start), end), as a partial scope."""
    if end <= start:
        raise ConfigError(f"--to {end:%Y-%m-%d} must be after --from {start:%Y-%m-%d}")
    buckets = Buckets(cfg.windows.granularity).between(start, end - timedelta(microseconds=1))
    return Scope(
        RunMode.BACKFILL,
        tuple(buckets),
        f"backfill of {len(buckets)} buckets in [{start:%Y-%m-%d}, {end:%Y-%m-%d})",
    )


def in_scope(cfg: MonitorConfig, visible: DataFrame, scope: Scope) -> DataFrame:
    """The visible predictions of the buckets a run recomputes."""
    return in_buckets(cfg, visible, scope.buckets) if scope.is_partial else visible


def in_buckets(cfg: MonitorConfig, visible: DataFrame, buckets: tuple[datetime, ...]) -> DataFrame:
    """The visible predictions of some buckets."""
    return visible.filter(bucket_filter(prediction_time(cfg), buckets, cfg.windows.granularity.delta))


def segment_values(
    spark: SparkSession, cfg: MonitorConfig, everything: DataFrame, counts: DataFrame, scope: Scope
) -> tuple[dict[str, tuple[str, ...]], Scope]:
    """The values each segment column keeps (the rest become ``__other__``), and the scope, which
    becomes full when a partial run would see a different set than the stored states used.

    Args:
        everything: ``cells.cell_counts`` of every visible prediction.
        counts: ``cells.cell_counts`` of the predictions in scope.

    A full run ranks every visible value. A partial run reuses the values in ``perf_stats``:
    when no column was cut at ``max_values`` (no ``__other__`` stored), new values in the
    recomputed buckets are simply added while there is room, without a scan of all rows;
    otherwise the ranking over every visible prediction is recomputed and compared.
    """
    columns = list(cfg.segment_columns)
    if not columns:
        return {}, scope
    if not scope.is_partial:
        return top_segment_values(everything, cfg), scope
    stats = Lake(spark, cfg).read_if_exists(PERF_STATS)
    if stats is None:
        return top_segment_values(everything, cfg), full_scope("no stored states")
    stored: dict[str, set[str]] = {c: set() for c in columns}
    cut = False
    for row in (
        stats.filter(F.col(C.slice_key).isin(*columns) & (F.col(C.slice_value) != NULL_VALUE))
        .select(C.slice_key, C.slice_value)
        .distinct()
        .collect()
    ):
        if row[C.slice_value] == OTHER:
            cut = True
        else:
            stored[row[C.slice_key]].add(row[C.slice_value])
    if cut:
        top = top_segment_values(everything, cfg)
        if any(set(top[c]) != stored[c] for c in columns):
            return top, full_scope("the top segment values changed")
        return top, scope
    for column, values in values_seen(counts, cfg).items():
        stored[column] |= values
    if any(len(values) > cfg.segments.max_values for values in stored.values()):
        return top_segment_values(everything, cfg), full_scope("a segment column reached max_values")
    return {c: tuple(sorted(v)) for c, v in stored.items()}, scope


def _affected_buckets(
    spark, cfg, predictions: Snapshot, labels: Snapshot, as_of: datetime, mark: Watermark
) -> tuple[set[datetime], DataFrame | None]:
    """The buckets a prediction change or the passing of time touched (recomputed from rows), and
    the ``hits`` of label events since the watermark, unevaluated (``_hits``), or None."""
    pred_ts = prediction_time(cfg)
    lag = visibility_lag(cfg)
    rebuild: set[datetime] = set()
    if predictions.version > mark.predictions_version:
        changed = _changes(spark, predictions.ref, mark.predictions_version + 1, predictions.version)
        floor = Buckets(cfg.windows.granularity).floor_column(pred_ts).alias(BUCKET)
        rebuild = {r[BUCKET] for r in _bucket_rows(changed.select(floor), as_of - lag).collect()}
    if as_of > mark.as_of:
        rebuild |= set(Buckets(cfg.windows.granularity).between(mark.as_of - lag, as_of - lag))
    return rebuild, _hits(spark, cfg, predictions, labels, as_of, mark)


def _bucket_rows(df: DataFrame, as_of: datetime) -> DataFrame:
    return df.filter(F.col(BUCKET).isNotNull() & (F.col(BUCKET) <= F.lit(as_of))).distinct()


def _hits(spark, cfg, predictions: Snapshot, labels: Snapshot, as_of: datetime, mark: Watermark) -> DataFrame | None:
    """Where the prediction rows of every id with a label event changed since the watermark (in
    the labels' change data feed, or arrived in (previous as_of, as_of]) lie: ``_id``, ``bucket``,
    ``_hit`` (an event fell within max_delay after a row of the id there: only then can its state
    change) and ``_split`` (the id has rows near the events in more than one bucket: a duplicate
    id whose kept row is chosen across buckets)."""
    lab = cfg.labels
    label_ts = label_time(cfg)
    events: list[DataFrame] = []
    if labels.version > mark.labels_version:
        changed = _changes(spark, labels.ref, mark.labels_version + 1, labels.version)
        events.append(changed.select(label_key(cfg).alias(ID), label_ts.alias("_lts")))
    if as_of > mark.as_of:
        arrived = labels.df.filter((label_ts > F.lit(mark.as_of)) & (label_ts <= F.lit(as_of)))
        events.append(arrived.select(label_key(cfg).alias(ID), label_ts.alias("_lts")))
    if not events:
        return None
    union = events[0]
    for more in events[1:]:
        union = union.unionByName(more)
    union = union.filter(F.col("_lts") <= F.lit(as_of))
    earliest = union.agg(F.min("_lts")).first()[0]
    if earliest is None:
        return None
    # Only an event within max_delay after its prediction changes a state; predictions older
    # than the earliest event minus max_delay are skipped by Delta's file statistics.
    pred_ts = prediction_time(cfg)
    candidates = predictions.df.filter(
        (pred_ts >= F.lit(earliest - lab.max_delay.delta)) & prediction_visible(cfg, as_of)
    )
    candidates = candidates.select(
        prediction_key(cfg).alias(ID),
        pred_ts.alias("_pts"),
        Buckets(cfg.windows.granularity).floor_column(pred_ts).alias(BUCKET),
    )
    delay = seconds(lab.max_delay.seconds)
    in_window = (F.col("_lts") >= F.col("_pts")) & (F.col("_lts") <= F.col("_pts") + delay)
    rows = union.join(candidates, ID).groupBy(ID, BUCKET).agg(F.max(in_window).alias(HIT))
    per_id = Window.partitionBy(ID)
    rows = rows.withColumn(SPLIT, F.min(BUCKET).over(per_id) != F.max(BUCKET).over(per_id))
    return rows.filter(F.col(HIT) | F.col(SPLIT)).select(ID, BUCKET, SPLIT, HIT)


def orphan_labels(
    spark: SparkSession, cfg: MonitorConfig, visible: DataFrame, labels: Snapshot, as_of: datetime, scope: Scope
) -> int:
    """Label events of a partial run with no valid visible prediction of their id (``runs.orphan_labels``;
    a full run counts them in its one pass). A partial run resolves only the predictions of its
    buckets, so it cannot tell an orphan from an event of another bucket there; it counts here the
    events it reads for the first time: for an incremental run, those arrived in (previous as_of,
    as_of] and those written since the last run's labels version with an earlier time (late-written
    events and corrections; pre-images and deletes are not events); for a backfill, those from its
    first bucket on. One anti join with the visible predictions' ids."""
    ts = label_time(cfg)
    key = label_key(cfg).alias(ID)
    if scope.watermark is not None:
        if not scope.new_labels:
            return 0
        mark = scope.watermark
        events = labels.df.filter((ts > F.lit(mark.as_of)) & (ts <= F.lit(as_of))).select(key)
        if labels.version > mark.labels_version:
            written = _changes(spark, labels.ref, mark.labels_version + 1, labels.version).filter(
                F.col("_change_type").isin("insert", "update_postimage") & (ts <= F.lit(mark.as_of))
            )
            events = events.unionByName(written.select(key))
    else:
        events = labels.df.filter((ts >= F.lit(min(scope.buckets or (as_of,)))) & (ts <= F.lit(as_of))).select(key)
    rows = derive_predictions(cfg, visible.withColumn(ID, prediction_key(cfg)))  # row checks only: no shuffle
    known = rows.filter(F.col(REASON).isNull()).select(ID)
    return events.filter(F.col(ID).isNotNull()).join(known, ID, "left_anti").count()


def _label_scope(
    spark,
    cfg: MonitorConfig,
    hits: DataFrame | None,
    rebuild: set[datetime],
    as_of: datetime,
    mark: Watermark,
    least: int,
) -> tuple[set[datetime], set[datetime], str]:
    """Split the buckets of label events into those recomputed from rows (added to ``rebuild``)
    and those whose states move by label deltas (``job.label_deltas``), and say why any fell back.

    A delta is exact only if the bucket's states are those the watermark's run wrote and its
    predictions did not change: the buckets of a duplicate id with rows in several, a ranking request
    (its values depend on every item's feedback), states written since by a run that did not
    finish, and states after a backfill (which does not move every bucket to its versions) are
    recomputed from rows. So are buckets holding fewer than ``least`` predictions in all, where
    re-reading them costs less than the delta path's fixed work.
    """
    if hits is None:
        return rebuild, set(), ""
    found = _bucket_rows(hits.select(BUCKET, SPLIT), as_of).collect()
    duplicated = {r[BUCKET] for r in found if r[SPLIT]} - rebuild
    delta = {r[BUCKET] for r in found} - duplicated - rebuild
    rebuild = rebuild | duplicated
    why = f" ({len(duplicated)} for duplicate ids)" if duplicated else ""
    if not delta:
        return rebuild, delta, why
    unsafe = None
    if problem(cfg.problem_type).per_request:
        unsafe = "ranking requests"
    elif mark.mode == RunMode.BACKFILL:
        unsafe = "the last run was a backfill"
    else:
        unfinished, predictions = _stored_buckets(spark, cfg, delta)
        if unfinished:
            unsafe = "states written by a run that did not finish"
        elif predictions < least:
            unsafe = f"{predictions:,} predictions in those buckets, fewer than {LABEL_DELTA_SETTING} ({least:,})"
    if unsafe:
        rebuild, delta, why = rebuild | delta, set(), f"{why} (label deltas not used: {unsafe})"
    return rebuild, delta, why


def label_delta_min_predictions(spark: SparkSession) -> int:
    """How many predictions the label-changed buckets must hold for their states to move by label
    deltas: ``LABEL_DELTA_MIN_PREDICTIONS`` unless the session sets ``LABEL_DELTA_SETTING``."""
    value = spark.conf.get(LABEL_DELTA_SETTING, None)
    if value is None:
        return LABEL_DELTA_MIN_PREDICTIONS
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{LABEL_DELTA_SETTING} must be a whole number of predictions, got {value!r}") from None


def _stored_buckets(spark, cfg: MonitorConfig, buckets: set[datetime]) -> tuple[bool, int]:
    """Whether a state of ``buckets`` was last written by a run with no SUCCEEDED row (a killed
    run, whose label deltas must not be added twice), and how many predictions their states
    hold (the rows a recompute would re-read)."""
    lake = Lake(spark, cfg)
    stats = lake.read_if_exists(PERF_STATS)
    if stats is None:
        return True, 0
    listed = [F.lit(b) for b in sorted(buckets)]
    overall = F.when(F.col(C.slice_key) == OVERALL, F.col(C.n_predictions))
    writers = (
        stats.filter(F.col(C.bucket_start).isin(*listed)).groupBy(C.run_id).agg(F.sum(overall).alias("n")).collect()
    )
    ids = [r[C.run_id] for r in writers]
    done = (
        lake.read(RUNS)
        .filter((F.col(C.status) == RunStatus.SUCCEEDED) & F.col(C.run_id).isin(ids))
        .select(C.run_id)
        .distinct()
        .count()
    )
    return done < len(ids), sum(r["n"] or 0 for r in writers)


def bucket_filter(ts: Column, buckets: tuple[datetime, ...], step: timedelta) -> Column:
    """Rows whose timestamp falls in one of the buckets, as few ts ranges as possible (so that
    Delta's file statistics and partition pruning apply)."""
    ranges: list[list[datetime]] = []
    for b in sorted(buckets):
        if ranges and ranges[-1][1] == b:
            ranges[-1][1] = b + step
        else:
            ranges.append([b, b + step])
    condition = F.lit(False)
    for start, end in ranges:
        condition = condition | ((ts >= F.lit(start)) & (ts < F.lit(end)))
    return condition
