"""Drift related to performance (the alerting stage, with drift features and alert rules):
``drift_performance`` classes each window of each rule's metric by its decay and its drift, and
``drift_correlation`` ranks each feature by how its drift follows the metric's drop.

Everything reads the small output tables: the rules' histories with their baselines (shared with
the alert evaluation), ``drift_metrics`` and ``perf_metrics``. The decay test runs in one
``applyInPandas`` over the histories; the correlation is ranks and ``corr`` in Spark SQL, and only
its per-(version, slice, metric, feature) result reaches the driver, for the p-value.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.alerts.baseline import with_baseline
from perfmon_spark.alerts.decay import decayed, drift_class, spearman_p
from perfmon_spark.alerts.evaluate import rule_rows
from perfmon_spark.alerts.lifecycle import SERIES
from perfmon_spark.alerts.rules import RulePlan
from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import DRIFT_CORRELATION, DRIFT_METRICS, DRIFT_PERFORMANCE
from perfmon_spark.io.rows import collect_rows, rows_to_frame
from perfmon_spark.io.tables import merge_into, read_table, table_exists
from perfmon_spark.vocabulary import OVERALL, DriftClass, DriftMeasure

_WINDOW = ("model_version", "slice_key", "slice_value", "window", "window_start")
_DECAY = (*_WINDOW, "metric", "value", "ci_lower", "ci_upper", "baseline")  # what the decay test passes on
_CLASSES = [(d, x, drift_class(d, x)) for d in (True, False, None) for x in (True, False, None)]


def _relevant(cfg: MonitorConfig, plans: dict[str, RulePlan]) -> dict[str, RulePlan]:
    """One rule per (metric, window): the first, of the rules on a labeled metric."""
    kept: dict[tuple[str, str], str] = {}
    for rule in cfg.alerts:
        if cfg.needs_labels(rule.metric):
            kept.setdefault((rule.metric, rule.window), rule.name)
    return {name: plans[name] for name in kept.values()}


def _psi(spark: SparkSession, cfg: MonitorConfig) -> DataFrame | None:
    ref = cfg.output.table(DRIFT_METRICS.name)
    if not table_exists(spark, ref):
        return None
    rows = read_table(spark, ref).filter((F.col("monitor") == cfg.name) & (F.col("measure") == DriftMeasure.PSI))
    return rows.filter(F.col("value").isNotNull()).select(*_WINDOW, "feature", "value")


def performance_rows(
    cfg: MonitorConfig, histories: DataFrame, plans: dict[str, RulePlan], metrics: DataFrame, psi: DataFrame
) -> DataFrame:
    """``drift_performance`` rows (without monitor / as_of / run_id)."""
    relevant = _relevant(cfg, plans)
    schema = ", ".join(f"`{c}` {t}" for c, t in DRIFT_PERFORMANCE.schema if c in _DECAY) + ", `_decay` boolean"

    def decide(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.sort_values("window_start").reset_index(drop=True)
        out = pdf[list(_DECAY)].copy()
        out["_decay"] = pd.array(decayed(pdf, relevant[pdf["rule"].iloc[0]]), dtype="boolean")
        return out

    decays = histories.filter(F.col("rule").isin(*relevant)).groupBy(*SERIES).applyInPandas(decide, schema)
    top = psi.groupBy(*_WINDOW).agg(
        F.max_by("feature", F.struct("value", F.col("feature"))).alias("top_feature"),
        F.max("value").alias("top_feature_psi"),
    )
    score = metrics.filter(F.col("metric") == "score_psi").select(*_WINDOW, F.col("value").alias("score_psi"))
    joined = decays.join(top, list(_WINDOW), "left").join(score, list(_WINDOW), "left")
    largest = F.greatest("top_feature_psi", "score_psi")
    drifted = F.when(largest.isNotNull(), largest > F.lit(cfg.drift.psi_threshold))
    label = F.lit(str(DriftClass.UNKNOWN))
    for decay, drift, cls in _CLASSES:
        d = F.col("_decay").isNull() if decay is None else F.col("_decay") == F.lit(decay)
        x = drifted.isNull() if drift is None else drifted == F.lit(drift)
        label = F.when(d & x, F.lit(str(cls))).otherwise(label)
    return joined.select(*[label.alias(c) if c == "class" else F.col(c) for c in DRIFT_PERFORMANCE.names[1:-2]])


def correlation_rows(
    cfg: MonitorConfig, metrics: DataFrame, stats: DataFrame, as_of: datetime, psi: DataFrame, plans: dict
) -> tuple[DataFrame, list[dict]]:
    """Per (version, slice, rule metric, feature): the Spearman correlation of the feature's PSI
    with the metric's drop over the last ``drift.correlation_windows`` tumbling windows that have
    both and pass the rule's maturity policy (ties take their mean rank, as scipy's ``spearmanr``),
    and its p-value; as a frame and as rows."""
    granularity = cfg.windows.granularity.text
    relevant = _relevant(cfg, plans)
    by_metric: dict = {}
    for rule in cfg.alerts:
        if rule.name in relevant:
            by_metric.setdefault(rule.metric, rule)
    rows = None
    for rule in by_metric.values():
        found = rule_rows(metrics, rule, granularity).filter(_mature_enough(rule.maturity))
        rows = found if rows is None else rows.unionByName(found)
    rows = with_baseline(rows, stats, cfg, as_of).filter(F.col("value").isNotNull() & F.col("baseline").isNotNull())
    sign = F.create_map(*[x for m in by_metric for x in (F.lit(m), F.lit(1.0 if cfg.larger_is_better(m) else -1.0))])
    drops = rows.select(
        *_WINDOW, "metric", ((F.col("baseline") - F.col("value")) * sign[F.col("metric")]).alias("drop")
    )
    pairs = drops.join(psi.withColumnRenamed("value", "psi"), list(_WINDOW))
    group = ["model_version", "slice_key", "slice_value", "metric", "feature"]
    latest = Window.partitionBy(*group).orderBy(F.desc("window_start"))
    pairs = pairs.withColumn("_n", F.row_number().over(latest)).filter(F.col("_n") <= cfg.drift.correlation_windows)
    for column in ("drop", "psi"):
        tied = F.count(F.lit(1)).over(Window.partitionBy(*group, column))
        pairs = pairs.withColumn(
            f"_r_{column}", F.rank().over(Window.partitionBy(*group).orderBy(column)) + (tied - 1) / 2
        )
    found = pairs.groupBy(*group).agg(
        F.count(F.lit(1)).alias("windows_used"),
        F.try_divide(F.covar_pop("_r_drop", "_r_psi"), F.stddev_pop("_r_drop") * F.stddev_pop("_r_psi")).alias(
            "spearman_rho"
        ),
    )
    columns = tuple(
        (c, t) for c, t in DRIFT_CORRELATION.schema if c in (*group, "windows_used", "spearman_rho", "p_value")
    )
    out = [
        {**r, "p_value": spearman_p(r["spearman_rho"], r["windows_used"])}
        for r in collect_rows(found, tuple((c, t) for c, t in columns if c != "p_value"))
    ]
    return rows_to_frame(stats.sparkSession, out, columns), out


def _mature_enough(policy) -> F.Column:
    """A rule's maturity policy (``alerts.rules.evaluated``) as a filter on perf_metrics rows."""
    if policy.mode == "mature":
        return F.col("is_mature")
    if policy.mode == "min_coverage":
        return F.col("is_mature") | (F.col("label_coverage") >= F.lit(policy.min_coverage))
    return F.lit(True)


def write_drift_performance(
    spark: SparkSession,
    cfg: MonitorConfig,
    histories: DataFrame,
    plans: dict[str, RulePlan],
    metrics: DataFrame,
    stats: DataFrame,
    as_of: datetime,
    stamp,
) -> tuple[list[dict], list[dict]]:
    """Write ``drift_performance`` and ``drift_correlation``; returns what the ``drift_and_decay``
    trigger reads: per version and rule metric / window, its two latest classified windows of the
    overall slice that share no bucket; and the overall slice's correlations."""
    psi = _psi(spark, cfg)
    if psi is None or not _relevant(cfg, plans):
        return [], []
    owned = f"t.monitor = '{cfg.name}'"
    performance = performance_rows(cfg, histories, plans, metrics, psi).persist()
    try:
        merge_into(stamp(performance), cfg.output.table(DRIFT_PERFORMANCE.name), DRIFT_PERFORMANCE, owned=owned)
        correlations, rows = correlation_rows(cfg, metrics, stats, as_of, psi, plans)
        merge_into(stamp(correlations), cfg.output.table(DRIFT_CORRELATION.name), DRIFT_CORRELATION, owned=owned)
        return _latest_classes(cfg, performance), [r for r in rows if r["slice_key"] == OVERALL]
    finally:
        performance.unpersist()


def _latest_classes(cfg: MonitorConfig, performance: DataFrame) -> list[dict]:
    known = performance.filter((F.col("slice_key") == OVERALL) & (F.col("class") != str(DriftClass.UNKNOWN)))
    series = Window.partitionBy("model_version", "metric", "window")
    rows = known.withColumn("_latest", F.max("window_start").over(series))
    length = {w.text: w.seconds for w in cfg.window_lengths}
    span = F.element_at(F.create_map(*[x for t, s in length.items() for x in (F.lit(t), F.lit(s))]), F.col("window"))
    earlier = rows.filter(F.unix_timestamp("window_start") <= F.unix_timestamp("_latest") - span)
    earlier = earlier.withColumn("_r", F.row_number().over(series.orderBy(F.desc("window_start")))).filter("_r = 1")
    picked = (
        rows.filter(F.col("window_start") == F.col("_latest"))
        .drop("_latest")
        .unionByName(earlier.drop("_latest", "_r"))
    )
    return collect_rows(
        picked,
        tuple(
            (c, t)
            for c, t in DRIFT_PERFORMANCE.schema
            if c
            in (
                "model_version",
                "metric",
                "window",
                "window_start",
                "value",
                "baseline",
                "top_feature",
                "top_feature_psi",
                "score_psi",
                "class",
            )
        ),
    )
