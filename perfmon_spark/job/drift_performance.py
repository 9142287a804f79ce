"""Drift related to performance (the alerting stage, with drift features and alert rules):
``drift_performance`` classes each window of each rule's metric by its decay and its drift (the
size-aware ``drift_metrics.is_drifted`` of its features), and ``drift_correlation`` ranks each
feature by how its drift follows the metric's drop.

Everything reads the small output tables: the rules' histories with their baselines (shared with
the alert evaluation), ``drift_metrics`` and ``perf_metrics``. The decay test runs in one
``applyInPandas`` over the histories, the correlations in another over each (version, slice,
metric, feature)'s recent windows; only their per-group results reach the driver. The table keeps
the descriptive Spearman figures; the rows handed to the decisions add ``p_comovement``,
the test that allows for trending windows (``alerts.decay.comovement_p``).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.alerts.baseline import with_baseline
from perfmon_spark.alerts.decay import comovement_p, decayed, drift_class, spearman_p, spearman_rho
from perfmon_spark.alerts.evaluate import rule_rows
from perfmon_spark.alerts.lifecycle import SERIES
from perfmon_spark.alerts.rules import RulePlan
from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.caching import cached, released
from perfmon_spark.io.catalog import DRIFT_CORRELATION, DRIFT_METRICS, DRIFT_PERFORMANCE, C, ddl
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows, rows_to_frame
from perfmon_spark.vocabulary import OVERALL, DriftClass, DriftMeasure

_WINDOW = (C.model_version, C.slice_key, C.slice_value, C.window, C.window_start)
_DECAY = (*_WINDOW, C.metric, C.value, C.ci_lower, C.ci_upper, C.baseline)  # what the decay test passes on
_CLASSES = [(d, x, drift_class(d, x)) for d in (True, False, None) for x in (True, False, None)]
_CORRELATION = (C.model_version, C.slice_key, C.slice_value, C.metric, C.feature)  # a drift_correlation row's group
_FIGURES = (C.windows_used, C.spearman_rho, C.p_value)


def _relevant(cfg: MonitorConfig, plans: dict[str, RulePlan]) -> dict[str, RulePlan]:
    """One rule per (metric, window): the first, of the rules on a labeled metric."""
    kept: dict[tuple[str, str], str] = {}
    for rule in cfg.alerts:
        if cfg.needs_labels(rule.metric):
            kept.setdefault((rule.metric, rule.window), rule.name)
    return {name: plans[name] for name in kept.values()}


def _psi(lake: Lake) -> DataFrame | None:
    rows = lake.read_if_exists(DRIFT_METRICS)
    if rows is None:
        return None
    rows = rows.filter(F.col(C.measure) == DriftMeasure.PSI)
    return rows.filter(F.col(C.value).isNotNull()).select(*_WINDOW, C.feature, C.value, C.is_drifted)


def performance_rows(
    cfg: MonitorConfig, histories: DataFrame, plans: dict[str, RulePlan], metrics: DataFrame, psi: DataFrame
) -> DataFrame:
    """``drift_performance`` rows (without monitor / as_of / run_id)."""
    relevant = _relevant(cfg, plans)
    schema = ddl((c, t) for c, t in DRIFT_PERFORMANCE.schema if c in _DECAY) + ", `_decay` boolean"

    def decide(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.sort_values(C.window_start).reset_index(drop=True)
        out = pdf[list(_DECAY)].copy()
        out["_decay"] = pd.array(decayed(pdf, relevant[pdf[C.rule].iloc[0]]), dtype="boolean")
        return out

    decays = histories.filter(F.col(C.rule).isin(*relevant)).groupBy(*SERIES).applyInPandas(decide, schema)
    top = psi.groupBy(*_WINDOW).agg(
        F.max_by(C.feature, F.struct(C.value, F.col(C.feature))).alias(C.top_feature),
        F.max(C.value).alias(C.top_feature_psi),
        F.bool_or(C.is_drifted).alias("_drifted"),  # null where no feature could be tested
    )
    score = metrics.filter(F.col(C.metric) == "score_psi").select(*_WINDOW, F.col(C.value).alias(C.score_psi))
    joined = decays.join(top, list(_WINDOW), "left").join(score, list(_WINDOW), "left")
    drifted = F.col("_drifted")
    label = F.lit(str(DriftClass.UNKNOWN))
    for decay, drift, cls in _CLASSES:
        d = F.col("_decay").isNull() if decay is None else F.col("_decay") == F.lit(decay)
        x = drifted.isNull() if drift is None else drifted == F.lit(drift)
        label = F.when(d & x, F.lit(str(cls))).otherwise(label)
    return joined.select(*[label.alias(c) if c == C.class_ else F.col(c) for c in DRIFT_PERFORMANCE.names[1:-2]])


def correlation_rows(
    cfg: MonitorConfig, metrics: DataFrame, stats: DataFrame, as_of: datetime, psi: DataFrame, plans: dict
) -> tuple[DataFrame, list[dict]]:
    """Per (version, slice, rule metric, feature), over the last ``drift.correlation_windows``
    tumbling windows that have both the feature's PSI and the metric's drop and pass the rule's
    maturity policy (``_correlate``): as the ``drift_correlation`` frame, and as rows that add
    ``p_comovement``."""
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
    rows = with_baseline(rows, stats, cfg, as_of).filter(F.col(C.value).isNotNull() & F.col(C.baseline).isNotNull())
    sign = F.create_map(*[x for m in by_metric for x in (F.lit(m), F.lit(1.0 if cfg.larger_is_better(m) else -1.0))])
    drops = rows.select(
        *_WINDOW, C.metric, ((F.col(C.baseline) - F.col(C.value)) * sign[F.col(C.metric)]).alias("drop")
    )
    pairs = drops.join(psi.select(*_WINDOW, C.feature, F.col(C.value).alias("psi")), list(_WINDOW))
    latest = Window.partitionBy(*_CORRELATION).orderBy(F.desc(C.window_start))
    pairs = pairs.withColumn("_n", F.row_number().over(latest)).filter(F.col("_n") <= cfg.drift.correlation_windows)
    columns = tuple((c, t) for c, t in DRIFT_CORRELATION.schema if c in (*_CORRELATION, *_FIGURES))
    found = (
        pairs.select(*_CORRELATION, C.window_start, "drop", "psi")
        .groupBy(*_CORRELATION)
        .applyInPandas(_correlate, ddl(columns) + ", `p_comovement` double")
    )
    out = collect_rows(found, (*columns, ("p_comovement", "double")))
    return rows_to_frame(stats.sparkSession, out, columns), out


def _correlate(pdf: pd.DataFrame) -> pd.DataFrame:
    """One group's figures, its windows in time order: Spearman's rho of the levels with its
    t-approximation p-value (descriptive: trending windows are not independent), and the test
    that allows for that (``comovement_p``, one-sided: drift rising with the drop)."""
    pdf = pdf.sort_values(C.window_start)
    rho = spearman_rho(pdf["drop"], pdf["psi"])
    figures = {
        C.windows_used: len(pdf),
        C.spearman_rho: rho,
        C.p_value: spearman_p(rho, len(pdf)),
        "p_comovement": comovement_p(pdf["drop"], pdf["psi"]),
    }
    return pd.DataFrame([{**{c: pdf[c].iloc[0] for c in _CORRELATION}, **figures}])


def _mature_enough(policy) -> F.Column:
    """A rule's maturity policy (``alerts.rules.evaluated``) as a filter on perf_metrics rows."""
    if policy.mode == "mature":
        return F.col(C.is_mature)
    if policy.mode == "min_coverage":
        return F.col(C.is_mature) | (F.col(C.label_coverage) >= F.lit(policy.min_coverage))
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
    lake = Lake(spark, cfg)
    psi = _psi(lake)
    if psi is None or not _relevant(cfg, plans):
        return [], []
    owned = lake.owned()
    performance = cached(performance_rows(cfg, histories, plans, metrics, psi))
    try:
        lake.merge(stamp(performance), DRIFT_PERFORMANCE, owned=owned)
        correlations, rows = correlation_rows(cfg, metrics, stats, as_of, psi, plans)
        lake.merge(stamp(correlations), DRIFT_CORRELATION, owned=owned)
        return _latest_classes(cfg, performance), [r for r in rows if r[C.slice_key] == OVERALL]
    finally:
        released(performance)


def _latest_classes(cfg: MonitorConfig, performance: DataFrame) -> list[dict]:
    known = performance.filter((F.col(C.slice_key) == OVERALL) & (F.col(C.class_) != str(DriftClass.UNKNOWN)))
    series = Window.partitionBy(C.model_version, C.metric, C.window)
    rows = known.withColumn("_latest", F.max(C.window_start).over(series))
    length = {w.text: w.seconds for w in cfg.window_lengths}
    span = F.element_at(F.create_map(*[x for t, s in length.items() for x in (F.lit(t), F.lit(s))]), F.col(C.window))
    earlier = rows.filter(F.unix_timestamp(C.window_start) <= F.unix_timestamp("_latest") - span)
    earlier = earlier.withColumn("_r", F.row_number().over(series.orderBy(F.desc(C.window_start)))).filter("_r = 1")
    picked = (
        rows.filter(F.col(C.window_start) == F.col("_latest"))
        .drop("_latest")
        .unionByName(earlier.drop("_latest", "_r"))
    )
    return collect_rows(
        picked,
        DRIFT_PERFORMANCE.select(
            C.model_version,
            C.window,
            C.window_start,
            C.metric,
            C.value,
            C.baseline,
            C.top_feature,
            C.top_feature_psi,
            C.score_psi,
            C.class_,
        ),
    )
