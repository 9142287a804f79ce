"""Drift states: per (version, slice, bucket, feature) histograms on bins fixed once.

The bins come from the first reference period of the monitor's data (``fix_bins``: numeric
features at its quantiles, categorical ones at its top values) and are stored in
``drift_reference``, so that they never move between runs, incremental runs and backfills: a
stored histogram stays comparable with every later one. The first baseline period is the
version-independent one: ``baseline.window`` from the first prediction (``rolling.length`` for a
rolling baseline, whose own periods move); each window is still compared with its own reference
period (``windows.Reference``), on these bins.

The histograms are built in the one pass (``states.build.aggregate_rows``): a usable prediction
adds one (feature, bin) entry per feature beside its main entry, and the aggregation's map-side
combine shrinks them before the shuffle, so drift adds no scan of the raw tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import MonitorConfig
from perfmon_spark.errors import InputError
from perfmon_spark.ingest.columns import STATUS
from perfmon_spark.ingest.times import prediction_time
from perfmon_spark.io.catalog import DRIFT_REFERENCE, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.rows import collect_rows, rows_to_frame
from perfmon_spark.metrics.drift import value_bins
from perfmon_spark.states.cells import KEY, cell_names, to_groups
from perfmon_spark.states.layout import STATE_VERSION
from perfmon_spark.vocabulary import FeatureKind, RowStatus

FEATURE, BIN = "_feature", "_bin"  # a drift entry of the one aggregation (null on the main entry)
MIN_ROWS_PER_BIN = 10  # reference values needed per numeric bin (categorical: per feature) to fix bins
QUANTILE_ACCURACY = 10_000  # percentile_approx's accuracy: edges within 1/10,000 of the rank


@dataclass(frozen=True)
class Binned:
    """One feature's fixed bins: a ``drift_reference`` row."""

    feature: str
    kind: str
    edges: tuple[float, ...] = ()  # numeric
    categories: tuple[str, ...] = ()  # categorical
    reference_start: int | None = None  # epoch seconds (``io.rows``: zone-proof)
    reference_end: int | None = None
    n_reference: int = 0

    @property
    def size(self) -> int:
        """Bins in a histogram, the null bin (last) included."""
        if self.kind == FeatureKind.NUMERIC:
            return value_bins(self.edges) + 1
        return len(self.categories) + 2  # the top values, __other__, null

    def column(self) -> Column:
        """The bin of each row's value (Spark built-ins; numeric twin: ``metrics.drift.bin_index``)."""
        value = F.col(f"`{self.feature}`")
        if self.kind == FeatureKind.NUMERIC:
            v = value.cast("double")
            inner = F.array(*[F.lit(float(e)) for e in self.edges[1:-1]]).cast("array<double>")
            found = F.size(F.filter(inner, lambda e: e < v))
            return F.when(v.isNull() | F.isnan(v), F.lit(self.size - 1)).otherwise(found)
        v = value.cast("string")
        position = F.array_position(F.array(*[F.lit(c) for c in self.categories]).cast("array<string>"), v)
        other = len(self.categories)
        return F.when(v.isNull(), F.lit(other + 1)).when(position > 0, position - 1).otherwise(F.lit(other))


def drift_entries(reference: tuple[Binned, ...]) -> Column:
    """The (feature, bin) entries of a row, after its main entry (feature and bin null)."""
    main = F.struct(F.lit(None).cast("string").alias(FEATURE), F.lit(None).cast("int").alias(BIN))
    return F.array(
        main, *[F.struct(F.lit(b.feature).alias(FEATURE), b.column().cast("int").alias(BIN)) for b in reference]
    )


def drift_states(aggregated: DataFrame, cfg: MonitorConfig, reference: tuple[Binned, ...], rows: str) -> DataFrame:
    """``drift_stats`` rows (without monitor / as_of / run_id): per ``KEY`` and feature, the bin
    counts as a dense array in the feature's bin order, from the drift entries of the one
    aggregation (``rows`` counts each group's rows)."""
    names = cell_names(cfg)
    usable = aggregated.filter((F.col(STATUS) == RowStatus.USABLE) & F.col(FEATURE).isNotNull())
    cells = usable.groupBy(*names, FEATURE, BIN).agg(F.sum(rows).alias(rows))
    grouped = to_groups(cells, cfg, FEATURE, BIN, rows).groupBy(*KEY, FEATURE, BIN).agg(F.sum(rows).alias(rows))
    sizes = F.create_map(*[x for b in reference for x in (F.lit(b.feature), F.lit(b.size))])
    dense = grouped.groupBy(*KEY, FEATURE).agg(F.map_from_entries(F.collect_list(F.struct(BIN, rows))).alias("_m"))
    counts = F.transform(
        F.sequence(F.lit(0), F.element_at(sizes, F.col(FEATURE)) - 1),
        lambda i: F.coalesce(F.element_at(F.col("_m"), i), F.lit(0)).cast("long"),
    )
    return dense.select(
        *KEY,
        F.col(FEATURE).alias("feature"),
        Buckets(cfg.windows.granularity).end_column(F.col("bucket_start")).alias("bucket_end"),
        counts.alias("bin_counts"),
        F.lit(STATE_VERSION).alias("state_version"),
    )


def stored_bins(lake: Lake) -> dict[str, Binned]:
    """The stored bins of the configured features, by feature (a feature now configured as the
    other kind is left out: its bins are fixed again)."""
    stored = lake.read_if_exists(DRIFT_REFERENCE)
    if stored is None:
        return {}
    cfg = lake.cfg
    kinds = dict.fromkeys(cfg.drift.features, FeatureKind.NUMERIC)
    kinds |= dict.fromkeys(cfg.drift.categorical, FeatureKind.CATEGORICAL)
    rows = collect_rows(stored.filter(F.col(C.feature).isin(*kinds)), DRIFT_REFERENCE.schema)
    return {
        r["feature"]: Binned(
            r["feature"],
            r["kind"],
            tuple(r["edges"] or ()),
            tuple(r["categories"] or ()),
            r["reference_start"],
            r["reference_end"],
            r["n_reference"],
        )
        for r in rows
        if r["kind"] == kinds[r["feature"]]
    }


def bins_frame(spark, monitor: str, bins: tuple[Binned, ...], run_id: str) -> DataFrame:
    """``drift_reference`` rows of ``bins``."""
    rows = [
        {
            "monitor": monitor,
            "feature": b.feature,
            "kind": str(b.kind),
            "edges": list(b.edges),
            "categories": list(b.categories),
            "reference_start": b.reference_start,
            "reference_end": b.reference_end,
            "n_reference": b.n_reference,
            "created_run_id": run_id,
        }
        for b in bins
    ]
    return rows_to_frame(spark, rows, DRIFT_REFERENCE.schema)


def first_period(cfg: MonitorConfig):
    """The length of the period the bins are fixed from, from the first prediction on."""
    b = cfg.baseline
    return b.rolling_length if b.source == "rolling" else b.window


def fix_bins(cfg: MonitorConfig, visible: DataFrame, features: tuple[str, ...]) -> tuple[Binned, ...]:
    """Bins of ``features`` from the first reference period of the visible predictions (two
    small jobs: the first timestamp, then one aggregation per kind over the period's rows).

    Raises:
        InputError: a feature with too few non-null values in the period to fix its bins.
    """
    if not features:
        return ()
    ts = prediction_time(cfg)
    first = Buckets(cfg.windows.granularity).floor_column(F.min(ts))
    start = visible.agg(F.unix_timestamp(first)).first()[0]
    if start is None:
        raise InputError("drift: no visible prediction to fix the features' bins from")
    end = start + first_period(cfg).seconds
    period = visible.filter((ts >= F.timestamp_seconds(F.lit(start))) & (ts < F.timestamp_seconds(F.lit(end))))
    numeric = [f for f in cfg.drift.features if f in features]
    categorical = [f for f in cfg.drift.categorical if f in features]
    found: list[Binned] = []
    if numeric:
        bins = cfg.drift.bins
        quantiles = [i / bins for i in range(bins + 1)]
        aggs = []
        for f in numeric:
            v = F.col(f"`{f}`").cast("double")
            v = F.when(~F.isnan(v), v)
            aggs += [F.percentile_approx(v, quantiles, QUANTILE_ACCURACY), F.count(v)]
        row = period.agg(*aggs).first()
        for i, f in enumerate(numeric):
            edges, n = row[2 * i], row[2 * i + 1]
            if n < MIN_ROWS_PER_BIN * bins:
                raise InputError(_too_few(f, n, MIN_ROWS_PER_BIN * bins, start, end, f"{bins} bins"))
            found.append(Binned(f, FeatureKind.NUMERIC, tuple(sorted(set(edges))), (), start, end, n))
    if categorical:
        pairs = F.explode(
            F.array(*[F.struct(F.lit(f).alias("f"), F.col(f"`{f}`").cast("string").alias("v")) for f in categorical])
        )
        counted = period.select(pairs.alias("p")).select("p.f", "p.v").filter(F.col("v").isNotNull())
        counted = counted.groupBy("f", "v").count()
        rank = F.row_number().over(Window.partitionBy("f").orderBy(F.desc("count"), F.asc("v")))
        total = F.sum("count").over(Window.partitionBy("f"))
        rows = counted.select("f", "v", rank.alias("r"), total.alias("n")).filter(
            F.col("r") <= cfg.drift.max_categories
        )
        kept: dict[str, list[tuple[int, str]]] = {f: [] for f in categorical}
        totals: dict[str, int] = dict.fromkeys(categorical, 0)
        for r in rows.collect():
            kept[r["f"]].append((r["r"], r["v"]))
            totals[r["f"]] = r["n"]
        for f in categorical:
            if totals[f] < MIN_ROWS_PER_BIN:
                raise InputError(_too_few(f, totals[f], MIN_ROWS_PER_BIN, start, end, "its categories"))
            categories = tuple(v for _, v in sorted(kept[f]))
            found.append(Binned(f, FeatureKind.CATEGORICAL, (), categories, start, end, totals[f]))
    return tuple(found)


def _too_few(feature: str, n: int, needed: int, start: int, end: int, what: str) -> str:
    period = " to ".join(f"{datetime.fromtimestamp(t, timezone.utc):%Y-%m-%d %H:%M}" for t in (start, end))
    return (
        f"drift: column {feature!r} has {n} non-null values in the reference period ({period} UTC); "
        f"at least {needed} are needed to fix {what}"
    )
