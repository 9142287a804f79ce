"""``version_comparison``: each challenger against the champion on every time window both have, for
each compared metric, standardised to the champion's mix of the stratum column's values
(``metrics.comparison`` says how and why).

It reads ``perf_metrics`` only: the champion's and the challengers' rows of the compared metrics on
the overall slice and the stratum column's slices, aggregated rows (versions x metrics x windows x
strata), collected once. Every run compares every window again and MERGEs the rows that changed
(it owns all of the monitor's rows, so a window or version no longer compared goes). Label-count
windows end where each version's labels fall, not on the same time: they are not compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import VERSION_COMPARISON, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows, rows_to_frame
from perfmon_spark.metrics.comparison import Stratum, compare
from perfmon_spark.vocabulary import OVERALL

# What is read of perf_metrics for each side and stratum
READ = (
    (C.model_version, "string"),
    (C.slice_key, "string"),
    (C.slice_value, "string"),
    (C.metric, "string"),
    (C.window, "string"),
    (C.window_start, "timestamp"),
    (C.window_end, "timestamp"),
    (C.value, "double"),
    (C.std_error, "double"),
    (C.n_labeled, "long"),
    (C.n_predictions, "long"),
)
WRITTEN = VERSION_COMPARISON.select(*(c for c in VERSION_COMPARISON.names if c not in (C.monitor, C.as_of, C.run_id)))


def comparison_rows(cfg: MonitorConfig, metrics: list[dict]) -> list[dict]:
    """The ``version_comparison`` rows (without monitor, as_of and run_id) of ``metrics``, rows of
    ``perf_metrics`` as ``READ`` has them. A window is compared where both sides have its overall
    row; the family the intervals are adjusted over is every challenger, metric and window length
    of the config."""
    v = cfg.versions
    column = cfg.stratum_column
    windows = {w.text for w in cfg.window_lengths}
    sides: dict[tuple, dict[str, dict[str, Stratum]]] = defaultdict(lambda: defaultdict(dict))
    overall: dict[tuple, dict[str, float | None]] = defaultdict(dict)
    ends: dict[tuple, int] = {}
    for r in metrics:
        if r[C.window] not in windows:
            continue
        at = (r[C.metric], r[C.window], r[C.window_start])
        ends[at] = r[C.window_end]
        if r[C.slice_key] == OVERALL:
            overall[at][r[C.model_version]] = r[C.value]
        if r[C.slice_key] == (column or OVERALL):
            stratum = Stratum(r[C.value], r[C.std_error], r[C.n_labeled] or 0, r[C.n_predictions] or 0)
            sides[at][r[C.model_version]][r[C.slice_value]] = stratum
    family = len(v.challengers) * len(cfg.compared_metrics) * len(windows)
    rows = []
    for at, values in sorted(overall.items()):
        metric, window, start = at
        if v.champion not in values:
            continue
        for challenger in (c for c in v.challengers if c in values):
            found = compare(
                sides[at][v.champion],
                sides[at][challenger],
                (values[v.champion], values[challenger]),
                larger_is_better=bool(cfg.larger_is_better(metric)),
                margin=v.margin,
                confidence=cfg.confidence_level,
                family=family,
                min_labeled=v.min_labeled,
            )
            rows.append(
                {
                    C.champion: v.champion,
                    C.challenger: challenger,
                    C.metric: metric,
                    C.window: window,
                    C.window_start: start,
                    C.window_end: ends[at],
                    C.difference: found.difference,
                    C.ci_lower: found.ci_lower,
                    C.ci_upper: found.ci_upper,
                    C.unadjusted_difference: found.unadjusted_difference,
                    C.n_labeled_champion: found.n_labeled_champion,
                    C.n_labeled_challenger: found.n_labeled_challenger,
                    C.verdict: str(found.verdict),
                }
            )
    return rows


def compared(cfg: MonitorConfig, metrics: DataFrame) -> list[dict]:
    """``comparison_rows`` of ``cfg.versions`` from ``metrics`` (the monitor's ``perf_metrics``),
    reading only the rows they need, collected once."""
    v = cfg.versions
    column = cfg.stratum_column
    read = metrics.filter(
        F.col(C.model_version).isin(v.champion, *v.challengers)
        & F.col(C.metric).isin(*cfg.compared_metrics)
        & F.col(C.slice_key).isin(OVERALL, column or OVERALL)
    )
    return comparison_rows(cfg, collect_rows(read, READ))


def write_version_comparison(lake: Lake, metrics: DataFrame, stamp: Callable[[DataFrame], DataFrame]) -> int:
    """Compare and MERGE ``version_comparison`` (``metrics``: the monitor's ``perf_metrics``);
    returns the rows changed."""
    rows = compared(lake.cfg, metrics)
    return lake.merge(stamp(rows_to_frame(lake.spark, rows, WRITTEN)), VERSION_COMPARISON, owned=lake.owned())


def latest_comparisons(lake: Lake) -> list[dict]:
    """Per challenger, metric and window length, its row of ``version_comparison`` at the latest
    window start with a difference (labels on both sides: the newest day often has none), what
    ``perfmon status``, the summary and the report show; sorted, none before the table exists.
    Timestamps as epoch seconds (``io.rows``)."""
    if not lake.exists(VERSION_COMPARISON):
        return []
    series = (C.challenger, C.metric, C.window)
    rows = lake.read(VERSION_COMPARISON).filter(F.col(C.difference).isNotNull())
    newest = rows.withColumn("_newest", F.max(C.window_start).over(Window.partitionBy(*series)))
    latest = collect_rows(newest.filter(F.col(C.window_start) == F.col("_newest")), VERSION_COMPARISON.schema)
    order = {w.text: i for i, w in enumerate(lake.cfg.window_lengths)}
    return sorted(latest, key=lambda r: (r[C.challenger], r[C.metric], order.get(r[C.window], len(order))))
