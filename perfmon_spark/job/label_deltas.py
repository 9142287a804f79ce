"""Label deltas: in the buckets where only labels changed since the last run (``Scope.delta``),
the states move by what the changed predictions contribute now minus what they contributed then
(``states.deltas``), instead of being recomputed from every row of those buckets.

Only the rows of the changed ids are read: their predictions (in the delta buckets, so Delta skips
by file statistics; a semi join with the ids), their label events now, and their label events at
the watermark's labels version (Delta time travel), each resolved as the run that saw them did
(``labels.resolve`` at that as_of). Predictions in those buckets did not change, so the cells'
sizes (and with them where the score summary is binned) are those the stored states were built on.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from perfmon_spark.ingest.columns import ID
from perfmon_spark.ingest.labels import resolve
from perfmon_spark.ingest.times import label_time
from perfmon_spark.ingest.validate import label_key, prediction_key
from perfmon_spark.io.catalog import PERF_STATS, C
from perfmon_spark.io.tables import read_version
from perfmon_spark.job.scope import Scope, in_buckets
from perfmon_spark.states.build import aggregate_rows, bucket_states
from perfmon_spark.states.cells import binning, cell_counts
from perfmon_spark.states.deltas import moved_states


def moved(
    ctx, scope: Scope, visible: DataFrame, top: dict[str, tuple[str, ...]], keep: Callable
) -> tuple[DataFrame, DataFrame]:
    """The states of ``scope.delta``'s buckets moved by their label changes (stamped
    ``perf_stats`` rows), and the aggregated rows of the changed ids as resolved now (for the
    run's counts and the quarantine of their bad label rows). ``ctx`` is the run's
    ``RunContext``; ``keep`` caches a frame until the run's writes end."""
    cfg, mark = ctx.cfg, scope.watermark
    ids = keep(scope.delta_ids())
    buckets = in_buckets(cfg, visible, scope.delta)
    predictions = _of_ids(buckets, prediction_key(cfg), ids)
    # the cells' sizes, and so where the score summaries are binned: one narrow count over the
    # buckets' rows, only for a problem type with a binned summary (``cells.binning``)
    binned = binning(keep(cell_counts(buckets, cfg)), cfg, top)
    # an event before the first delta bucket precedes every prediction there: it moves no state
    since = label_time(cfg) >= F.lit(min(scope.delta))
    then = _of_ids(read_version(ctx.spark, cfg.labels.table, mark.labels_version).filter(since), label_key(cfg), ids)
    now = _of_ids(ctx.labels.df.filter(since), label_key(cfg), ids)
    new = keep(aggregate_rows(resolve(cfg, predictions, now, ctx.as_of, partial=True), cfg, top, binned))
    old = keep(aggregate_rows(resolve(cfg, predictions, then, mark.as_of, partial=True), cfg, top, binned))
    # pinned: the moved states must not be recomputed from a version this run wrote
    listed = [F.lit(b) for b in scope.delta]
    stored = ctx.lake.read(PERF_STATS, pinned=True).filter(F.col(C.bucket_start).isin(*listed))
    states = moved_states(stored, bucket_states(new, cfg, binned), bucket_states(old, cfg, binned), cfg)
    return ctx.stamped(states), new


def _of_ids(rows: DataFrame, key: Column, ids: DataFrame) -> DataFrame:
    """The rows whose key is one of ``ids``' ``_id`` (a semi join: no column added)."""
    return rows.join(ids, key == ids[ID], "left_semi")
