"""The Spark half of the window pass: ``compute_metrics`` runs the pure finaliser
(``windows.finalise.finalise_slice``) once per slice with one ``applyInPandas``, so the number of
Spark jobs does not grow with versions, slices or windows; the ranking coverage comes from the
``perf_stats`` sketches in the same query (``with_coverage``). Also what the job reads from
``perf_stats`` before it: each version's first bucket (``first_buckets``) and the score
summaries the kept windows need (``recent_summaries``).
"""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import functions as F

from perfmon_spark.metrics.ranking import SKETCHED
from perfmon_spark.metrics.registry import split_k
from perfmon_spark.states.layout import SPARSE, sketch_fields
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL
from perfmon_spark.windows.finalise import (
    METRIC_COLUMNS,
    Reference,
    WindowPlan,
    finalise_slice,
    lookback_seconds,
    seconds_of,
)


def metrics_schema() -> str:
    return ", ".join(f"`{c}` {t}" for c, t in METRIC_COLUMNS)


def with_coverage(metrics, stats, plan: WindowPlan):
    """``catalog_coverage@k`` rows filled in from the sketches of ``perf_stats``: every bucket
    state goes to each time window it lies in, and the window's sketches are unions of its
    buckets' (with ``*``: of every version's), in the same query as the metrics (no job of its own)."""
    wanted = [(m, split_k(m)[1]) for m in plan.metrics if split_k(m)[0] in SKETCHED]
    if not wanted:
        return metrics
    g = plan.granularity_seconds
    names = sketch_fields(plan.problem_type, plan.ks)
    top = dict(zip(plan.ks, names[1:]))
    unions = [F.hll_union_agg(n).alias(n) for n in sorted({names[0], *(top[k] for _, k in wanted)})]
    # each bucket state to every (window, end) it lies in, and to its version and to *: one aggregation
    windows = F.array(*[F.struct(F.lit(t).alias("window"), F.lit(sec // g).alias("k")) for t, sec in plan.windows])
    spread = (
        stats.select(
            "model_version", "slice_key", "slice_value", "bucket_start", *names, F.explode(windows).alias("_w")
        )
        .withColumn("_i", F.explode(F.sequence(F.lit(1), F.col("_w.k"))))
        .select(
            F.explode(F.array(F.col("model_version"), F.lit(ALL_VERSIONS))).alias("model_version"),
            "slice_key",
            "slice_value",
            F.col("_w.window").alias("window"),
            (F.col("bucket_start") + F.make_dt_interval(secs=F.col("_i") * g)).alias("window_end"),
            *names,
        )
    )
    sketched = spread.groupBy("model_version", "slice_key", "slice_value", "window", "window_end").agg(*unions)
    ratios = [
        F.struct(
            F.lit(m).alias("metric"),
            F.try_divide(F.hll_sketch_estimate(top[k]), F.hll_sketch_estimate(names[0])).alias("_coverage"),
        )
        for m, k in wanted
    ]
    coverage = sketched.select(
        "model_version", "slice_key", "slice_value", "window", "window_end", F.explode(F.array(*ratios)).alias("_c")
    )
    coverage = coverage.select(*coverage.columns[:5], "_c.metric", "_c._coverage")
    joined = metrics.join(
        coverage, ["model_version", "slice_key", "slice_value", "window", "window_end", "metric"], "left"
    )
    return joined.withColumn("value", F.coalesce(F.col("_coverage"), F.col("value"))).drop("_coverage")


def first_buckets(stats) -> dict[str, int]:
    """The start (epoch seconds) of each version's first bucket with predictions (overall slice),
    and ``*``'s: the first of all; one small aggregation over ``perf_stats``, collected. The fixed
    reference periods of the windows and of the alert baselines both begin there."""
    overall = stats.filter((F.col("slice_key") == OVERALL) & (F.col("n_predictions") > 0))
    rows = overall.groupBy("model_version").agg(F.min("bucket_start").alias("start")).collect()
    starts = {r["model_version"]: int(seconds_of([r["start"]])[0]) for r in rows}
    if starts:
        starts[ALL_VERSIONS] = min(starts.values())
    return starts


def with_version_starts(reference: Reference, stats) -> Reference:
    """The reference with each version's first bucket (``first_buckets``), where its period needs them."""
    if reference.lag_seconds is not None:
        return reference
    return replace(reference, version_starts=tuple(sorted(first_buckets(stats).items())))


def recent_summaries(stats, plan: WindowPlan):
    """``stats`` with the score summaries (the sparse columns) of the states no kept window reads
    set to null, so that a run's metrics stage stays flat in history: only the states of the last
    ``lookback_seconds`` before ``plan.since`` and those of fixed reference periods keep theirs.

    Every state keeps its scalar fields: they are a few numbers per bucket, ``expected_coverage``
    reads them from a version's first bucket on, and rolling windows begin at that bucket. What
    grows with history is merging the summaries, and no kept window merges an older one. The
    rows stay in place, so the query has no shuffle (and no Spark job) more than before.
    """
    lookback = lookback_seconds(plan)
    sparse = SPARSE.get(plan.problem_type)
    if lookback is None or sparse is None:
        return stats
    start = F.col("bucket_start")
    recent = (start >= F.timestamp_seconds(F.lit(plan.since - lookback))) | _in_fixed_reference(plan.reference)
    return stats.withColumns({c: F.when(recent, F.col(c)) for c in sparse.columns})


def _in_fixed_reference(reference: Reference | None):
    """States inside a fixed reference period: each version's first ``baseline.window`` and, for
    ``*``, the first one of all versions (whichever version a state is of)."""
    if reference is None or reference.lag_seconds is not None:
        return F.lit(False)
    start, version = F.col("bucket_start"), F.col("model_version")
    inside = F.lit(False)
    for name, first in reference.version_starts:
        before_end = start < F.timestamp_seconds(F.lit(first + reference.length_seconds))
        inside = inside | (before_end if name == ALL_VERSIONS else (version == name) & before_end)
    return inside


def compute_metrics(stats, plan: WindowPlan):
    """perf_metrics rows (without monitor/as_of/run_id) from perf_stats rows, NaN -> null."""
    sketches = sketch_fields(plan.problem_type, plan.ks)
    df = (
        stats.drop(*sketches)
        .groupBy("slice_key", "slice_value")
        .applyInPandas(lambda pdf: finalise_slice(pdf, plan), metrics_schema())
    )
    df = with_coverage(df, stats, plan)
    cleaned = [F.when(~F.isnan(F.col(c)), F.col(c)).alias(c) if t == "double" else F.col(c) for c, t in METRIC_COLUMNS]
    return df.select(*cleaned)
