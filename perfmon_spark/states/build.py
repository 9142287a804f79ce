"""Bucket states from row-level data in one aggregation (Spark built-ins only, no Python UDF).

``aggregate_rows`` is the one pass over raw rows: each usable prediction adds its state fields to
its (cell, score summary key) group, where a cell is (model version, bucket, value of every
segment column). ``bucket_states`` then works on those small groups only: cells are exploded
into their slices (overall, each segment column, each crossed group) and summed per
(model version, slice, bucket). The score summary of a group is exact while the group has at
most ``histogram.EXACT_LIMIT`` prediction rows in the bucket and on the grid beyond
(``cells.Binning``).
"""

from __future__ import annotations

import functools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest.columns import (
    DECISION,
    DELAY,
    ID,
    ITEM,
    KIND,
    LABEL_TS,
    PRED,
    PROBS,
    RANK,
    REASON,
    RECORD,
    REQUEST,
    SCORE,
    STATUS,
    TS,
    VERSION,
    RowKind,
    Y,
)
from perfmon_spark.metrics import histogram
from perfmon_spark.metrics.histogram import scale_of
from perfmon_spark.metrics.kpi import kpi_fields
from perfmon_spark.problems import Sparse, problem
from perfmon_spark.states.cells import KEY, Binning, cell_names, located, to_groups
from perfmon_spark.states.drift import BIN, FEATURE, Binned, drift_entries
from perfmon_spark.states.layout import SPARSE, STATE_VERSION, scalar_fields, sketch_fields
from perfmon_spark.vocabulary import ProblemType, RowStatus

ROWS = "_n"  # rows in a group of the one aggregation
RECORD_ID = "_rid"  # a quarantined row's id
_EPS = 2.220446049250313e-16  # float64 machine epsilon: scikit-learn's log_loss clip


def score_key(score: Column, scale: str) -> Column:
    """Spark twin of ``histogram.transform``: logit or asinh, clipped to the grid's range."""
    half = histogram.TRANSFORM_RANGE[scale]
    if scale == "probability":
        t = F.when(score <= 0, F.lit(-half)).when(score >= 1, F.lit(half)).otherwise(F.log(score) - F.log1p(-score))
    else:
        t = F.asinh(score)
    return F.least(F.greatest(t, F.lit(-half)), F.lit(half))


def _grid_centre(key: Column, scale: str) -> Column:
    grid = histogram.Grid.for_scale(scale)
    idx = F.least(
        F.greatest(F.floor((key - F.lit(grid.low)) / F.lit(grid.width)), F.lit(0)), F.lit(histogram.GRID_BINS - 1)
    )
    return F.lit(grid.low) + (idx + F.lit(0.5)) * F.lit(grid.width)


def _when_labeled(c: Column) -> Column:
    return F.when(F.col(Y).isNotNull(), c).otherwise(F.lit(0))


def _clipped_loss(p: Column) -> Column:
    """-ln(p) with p clipped to [eps, 1 - eps], as scikit-learn's log_loss."""
    return -F.log(F.least(F.greatest(p, F.lit(_EPS)), F.lit(1 - _EPS)))


def _binary_fields(cfg: MonitorConfig) -> tuple[dict[str, Column], dict[str, Column]]:
    y, d = F.col(Y), F.col(DECISION)
    scalars = {
        "n_decided_positive": d,
        "tp": _when_labeled(((y == 1) & (d == 1)).cast("int")),
        "fp": _when_labeled(((y == 0) & (d == 1)).cast("int")),
        "tn": _when_labeled(((y == 0) & (d == 0)).cast("int")),
        "fn": _when_labeled(((y == 1) & (d == 0)).cast("int")),
    }
    if cfg.predictions.score and cfg.predictions.score_type == "probability":
        p = F.col(SCORE)
        loss = F.when(y == 1, _clipped_loss(p)).otherwise(_clipped_loss(1 - p))
        brier = (p - y) * (p - y)
    else:
        loss = brier = F.lit(0.0)
    use_hist = cfg.predictions.score is not None
    score = F.col(SCORE) if use_hist else F.lit(0.0)
    scalars.update(
        sum_log_loss=_when_labeled(loss),
        sum_log_loss_sq=_when_labeled(loss * loss),
        sum_brier=_when_labeled(brier),
        sum_brier_sq=_when_labeled(brier * brier),
        sum_score=score,
        sum_score_sq=score * score,
    )
    key = score_key(F.col(SCORE), scale_of(cfg.predictions.score_type)) if use_hist else F.lit(None).cast("double")
    entries = {
        "hist_keys": key,
        "hist_pos": F.coalesce((y == 1).cast("int"), F.lit(0)),
        "hist_neg": F.coalesce((y == 0).cast("int"), F.lit(0)),
        "hist_unl": y.isNull().cast("int"),
    }
    return scalars, entries


def _multiclass_fields(cfg: MonitorConfig) -> tuple[dict[str, Column], dict[str, Column]]:
    y, pred = F.col(Y), F.col(PRED)
    if cfg.predictions.probabilities:
        probs = F.col(PROBS)  # map<string, double>, normalised by ingest
        total = F.aggregate(F.map_values(probs), F.lit(0.0), lambda acc, x: acc + x)
        loss = _clipped_loss(F.coalesce(F.try_element_at(probs, y) / total, F.lit(0.0)))
    else:
        loss = F.lit(0.0)
    scalars = {
        "n_correct": _when_labeled((y == pred).cast("int")),
        "sum_log_loss": _when_labeled(loss),
        "sum_log_loss_sq": _when_labeled(loss * loss),
    }
    return scalars, {"cm_label": y, "cm_pred": pred, "cm_count": F.lit(1)}  # cm_label null when unlabeled


def _regression_fields(cfg: MonitorConfig) -> tuple[dict[str, Column], dict[str, Column]]:
    y = F.col(Y)
    e = F.col(SCORE) - y
    ape = F.when(y != 0, F.abs(e) / F.abs(y))
    return {
        "sum_prediction": F.col(SCORE),
        "sum_prediction_sq": F.col(SCORE) * F.col(SCORE),
        "sum_error": _when_labeled(e),
        "sum_abs_error": _when_labeled(F.abs(e)),
        "sum_sq_error": _when_labeled(e * e),
        "sum_quartic_error": _when_labeled(e * e * e * e),
        "sum_ape": _when_labeled(F.coalesce(ape, F.lit(0.0))),
        "sum_ape_sq": _when_labeled(F.coalesce(ape * ape, F.lit(0.0))),
        "n_ape": _when_labeled((y != 0).cast("int")),
        "sum_label": _when_labeled(y),
        "sum_label_sq": _when_labeled(y * y),
        "sum_label_cube": _when_labeled(y * y * y),
        "sum_label_quartic": _when_labeled(y * y * y * y),
        "sum_sq_error_label": _when_labeled(e * e * y),
        "sum_sq_error_label_sq": _when_labeled(e * e * y * y),
    }, {"hist_keys": score_key(F.col(SCORE), "unbounded"), "hist_n": F.lit(1)}


ITEMS = "_items"  # ranking: a request's items, in list order
_POS, _ITEM = "_pos", "_item_row"  # ranking: an item's 0-based position and entry, exploded for the sketches


def _sum(values: Column) -> Column:
    return F.aggregate(values, F.lit(0.0), lambda a, b: a + b)


def _discounted(relevances: Column) -> Column:
    """DCG of relevances in list order: sum of rel / log2(position + 1)."""
    return _sum(F.transform(relevances, lambda r, i: r / F.log2(i + 2)))


def _ranking_fields(cfg: MonitorConfig) -> tuple[dict[str, Column], dict[str, Column]]:
    """A request's values (over ``requests``' rows). Values of requests with no relevant item
    are 0; whether those requests count in the averages is ``n_scored``'s business."""
    items = F.col(ITEMS)
    rels = F.transform(items, lambda x: x["rel"])
    n_rel = F.size(F.filter(rels, lambda r: r > 0))
    has_rel = n_rel > 0
    positions = F.transform(rels, lambda r: r > 0)
    top_score = F.element_at(items, 1)["score"]
    first = F.array_position(positions, True)
    values = {
        "mrr": F.when(has_rel, 1.0 / first),
        "list_length": F.size(items).cast("double"),
        "top_score": top_score,
    }
    for k in cfg.ranking.k:
        top = F.slice(rels, 1, k)
        hits = F.size(F.filter(top, lambda r: r > 0)).cast("double")
        precision_at = F.transform(
            top, lambda r, i: F.when(r > 0, F.size(F.filter(F.slice(rels, 1, i + 1), lambda q: q > 0)) / (i + 1))
        )
        at_k_values = {
            "ndcg": _discounted(top) / _discounted(F.slice(F.sort_array(rels, asc=False), 1, k)),
            "precision": hits / k,
            "recall": hits / n_rel,
            "map": _sum(F.transform(precision_at, lambda v: F.coalesce(v, F.lit(0.0)))) / F.least(F.lit(k), n_rel),
            "hit_rate": (hits > 0).cast("double"),
        }
        values.update({f"{m}_at_{k}": F.when(has_rel, v) for m, v in at_k_values.items()})
    scalars = {
        "n_labeled": F.exists(items, lambda x: x["fb"]).cast("int"),
        "n_no_relevant": (~has_rel).cast("int"),
        "n_scored": (has_rel | F.lit(cfg.ranking.no_relevant == "zero")).cast("int"),
        "n_top_score": top_score.isNotNull().cast("int"),
    }
    for name, value in values.items():
        value = F.coalesce(value, F.lit(0.0))
        scalars[f"sum_{name}"], scalars[f"sum_{name}_sq"] = value, value * value
    return scalars, {}


def requests(rows: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """Ranking: the resolved rows with the usable (request, item) rows replaced by one row per
    request (one more shuffle of the usable rows, by request: no scan of the tables). A request's
    items are ordered by rank, else by score descending, ties by item id; its version, timestamp
    and segment (and drift feature) values are those of its earliest item (ties: smallest item
    id). ``_n`` counts its items, so the ``runs`` row still counts prediction rows."""
    usable = F.col(STATUS) == RowStatus.USABLE
    order = F.col(RANK) if cfg.predictions.rank else -F.col(SCORE)
    score = F.col(SCORE) if cfg.predictions.score else F.lit(None).cast("double")
    item = F.struct(
        order.alias("order"),
        F.col(ITEM).alias("item"),
        F.coalesce(F.col(Y), F.lit(0.0)).alias("rel"),
        F.col(Y).isNotNull().alias("fb"),
        score.alias("score"),
    )
    carried = [VERSION, TS, *[f"`{c}`" for c in sorted({*cfg.segment_columns, *cfg.drift.columns})]]
    grouped = (
        rows.filter(usable)
        .groupBy(REQUEST)
        .agg(
            F.sort_array(F.collect_list(item)).alias(ITEMS),
            F.min_by(F.struct(*carried), F.struct(TS, ITEM)).alias("_first"),
            F.count(F.lit(1)).alias(ROWS),
        )
    )
    per_request = grouped.select(
        F.lit(RowKind.PREDICTION).alias(KIND),
        F.lit(RowStatus.USABLE).alias(STATUS),
        ITEMS,
        ROWS,
        *[F.col(f"_first.{c.strip('`')}").alias(c.strip("`")) for c in carried],
    )
    return rows.filter(~usable).unionByName(per_request, allowMissingColumns=True)


# The Spark half of each problem type (``problems``): its state fields as aggregation inputs, and
# the resolved column KPI expressions call ``prediction``.
_FIELDS = {
    ProblemType.BINARY: _binary_fields,
    ProblemType.MULTICLASS: _multiclass_fields,
    ProblemType.REGRESSION: _regression_fields,
    ProblemType.RANKING: _ranking_fields,
}
_RESOLVED = {ProblemType.BINARY: DECISION, ProblemType.MULTICLASS: PRED, ProblemType.REGRESSION: SCORE}


def with_kpi_names(rows: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """The names KPI expressions use for the resolved values: ``label``, ``prediction``, ``score``."""
    if not cfg.kpis:
        return rows
    score = F.col(SCORE) if SCORE in rows.columns else F.lit(None).cast("double")
    return rows.withColumns({"label": F.col(Y), "prediction": F.col(_RESOLVED[cfg.problem_type]), "score": score})


def _kpi_fields(cfg: MonitorConfig) -> dict[str, Column]:
    """Per KPI the row's numerator a, denominator b (null counts as 0) and a*a, a*b, b*b."""
    out = {}
    for kpi in cfg.kpis:
        a = F.coalesce(F.expr(kpi.numerator).cast("double"), F.lit(0.0))
        b = F.coalesce(F.expr(kpi.denominator).cast("double"), F.lit(0.0))
        for name, value in zip(kpi_fields(kpi.name), (a, b, a * a, a * b, b * b)):
            out[name] = _when_labeled(value)
    return out


def main_entries(aggregated: DataFrame) -> DataFrame:
    """The groups of ``aggregate_rows`` without its drift entries."""
    return aggregated.filter(F.col(FEATURE).isNull()) if FEATURE in aggregated.columns else aggregated


def aggregate_rows(
    rows: DataFrame,
    cfg: MonitorConfig,
    top: dict[str, tuple[str, ...]],
    binning: Binning | None,
    drift: tuple[Binned, ...] = (),
) -> DataFrame:
    """The one aggregation over raw rows (``labels.resolve``'s frame).

    Its groups are of three kinds, told apart by ``_status``: a usable prediction adds its state
    fields to its (cell, summary key) group; a quarantined row is a group of its own record; other
    label rows fall into one group per status and delay in minutes (``runs.label_delay``), with
    their latest arrival (``_label_ts``). ``_n`` counts rows. So the states, the counts of
    the ``runs`` row and the quarantine rows all come from one pass over the rows, and the output
    is small: cells times distinct keys, plus the bad rows. With ``drift`` bins, a usable
    prediction also adds one (cell, feature, bin) entry per feature (``states.drift``), which
    ``main_entries`` leaves out.
    """
    sketches: dict[str, Column] = {}
    first = F.lit(True)  # the row carries the fields (ranking: a request's first item row)
    if problem(cfg.problem_type).per_request:
        per_request = requests(rows, cfg)
        rows = per_request.select(*per_request.columns, F.posexplode_outer(ITEMS).alias(_POS, _ITEM))
        first = F.col(_POS).isNull() | (F.col(_POS) == 0)
        item = F.col(f"{_ITEM}.item")
        names = sketch_fields(cfg.problem_type, cfg.ranking.k)
        sketches = {names[0]: item, **{n: F.when(F.col(_POS) < k, item) for n, k in zip(names[1:], cfg.ranking.k)}}
    extra, entries = _FIELDS[cfg.problem_type](cfg)
    fields = {"n_predictions": F.lit(1), "n_labeled": F.col(Y).isNotNull().cast("int"), **extra, **_kpi_fields(cfg)}
    sparse = SPARSE.get(cfg.problem_type)
    names = cell_names(cfg)
    rows = with_kpi_names(rows, cfg).withColumns(located(cfg, top, F.col(VERSION), F.col(TS)))
    keys = {k: entries[k] for k in sparse.keys} if sparse else {}
    if binning is not None:
        rows = rows.join(F.broadcast(binning.cells), names, "left")
        exact = keys["hist_keys"]
        keys["hist_keys"] = F.when(F.col("_binned"), _grid_centre(exact, binning.scale)).otherwise(exact)
    values = {f: fields[f] for f in scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis), cfg.cut_offs)}
    values.update({c: entries[c] for c in (sparse.counts if sparse else ())})
    usable = F.col(STATUS) == RowStatus.USABLE
    main = F.lit(True)
    if drift:
        only_main = F.array(F.struct(F.lit(None).cast("string").alias(FEATURE), F.lit(None).cast("int").alias(BIN)))
        rows = rows.withColumn("_entry", F.explode(F.when(usable & first, drift_entries(drift)).otherwise(only_main)))
        main = F.col(f"_entry.{FEATURE}").isNull()
        first = first & main
    group = [
        F.col(KIND),
        F.col(STATUS),
        F.col(REASON),
        F.col(RECORD),
        F.when(F.col(REASON).isNotNull(), F.col(ID)).alias(RECORD_ID),
        *([F.col(DELAY)] if DELAY in rows.columns else []),
        *[F.when(usable, F.col(n)).alias(n) for n in names],
        *[F.when(usable & main, c).alias(k) for k, c in keys.items()],
        *([F.col(f"_entry.{FEATURE}").alias(FEATURE), F.col(f"_entry.{BIN}").alias(BIN)] if drift else []),
    ]
    weight = F.coalesce(F.col(ROWS), F.lit(1)) if ROWS in rows.columns else F.lit(1)  # ranking: a request's items
    arrivals = [LABEL_TS] if LABEL_TS in rows.columns else []
    out = rows.select(
        *group,
        *arrivals,
        F.when(first, weight).otherwise(F.when(main, 0).otherwise(1)).alias(ROWS),
        *[F.when(usable & first, v).alias(n) for n, v in values.items()],
        *[F.when(usable & main, v).alias(n) for n, v in sketches.items()],
    )
    aggregated = {ROWS, *values, *sketches, *arrivals}
    return out.groupBy(*[c for c in out.columns if c not in aggregated]).agg(
        F.sum(ROWS).alias(ROWS),
        *[F.max(c).alias(c) for c in arrivals],
        *[F.sum(n).alias(n) for n in values],
        *[F.hll_sketch_agg(n).alias(n) for n in sketches],
    )


def bucket_states(aggregated: DataFrame, cfg: MonitorConfig, binning: Binning | None) -> DataFrame:
    """Per (model_version, slice_key, slice_value, bucket_start) state rows from the usable groups
    of ``aggregate_rows``.

    Cells are summed, exploded into their slices (overall, each column, each crossed group) and
    summed again. The score summary follows the same path: entries per (cell, key), then per
    (slice group, key), binned in the groups ``binning`` lists. Cache ``aggregated``: it is read
    several times.
    """
    scalars = scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis), cfg.cut_offs)
    sparse = SPARSE.get(cfg.problem_type)
    names = cell_names(cfg)
    usable = main_entries(aggregated).filter(F.col(STATUS) == RowStatus.USABLE)

    sketches = sketch_fields(cfg.problem_type, cfg.cut_offs)
    sums = [F.sum(f).alias(f) for f in scalars] + [F.hll_union_agg(f).alias(f) for f in sketches]
    cells = usable.groupBy(*names).agg(*sums)
    states = to_groups(cells, cfg, *scalars, *sketches).groupBy(*KEY).agg(*sums)
    lists = None
    if sparse is not None:
        key = sparse.keys[0]
        per_group = to_groups(usable.where(F.col(sparse.present).isNotNull()), cfg, *sparse.columns)
        if binning is not None:
            binned = F.when(F.col("_binned"), _grid_centre(F.col(key), binning.scale))
            per_group = (
                per_group.join(F.broadcast(binning.groups), list(KEY), "left")
                .withColumn(key, F.coalesce(binned, F.col(key)))
                .drop("_binned")
            )
        lists = entry_lists(per_group, sparse)
    return state_rows(states, lists, cfg)


def entry_lists(entries: DataFrame, sparse: Sparse) -> DataFrame:
    """Sparse entries (``KEY``, keys, counts; several rows per key allowed) summed per key, as one
    sorted list per ``KEY``. An entry whose counts all sum to 0 is left out (it has no row)."""
    counts = [F.sum(c).alias(c) for c in sparse.counts]
    grouped = entries.groupBy(*KEY, *sparse.keys).agg(*counts)
    grouped = grouped.filter(functools.reduce(lambda a, b: a | b, [F.col(c) != 0 for c in sparse.counts]))
    return grouped.groupBy(*KEY).agg(F.sort_array(F.collect_list(F.struct(*sparse.columns))).alias("_entries"))


def state_rows(scalars: DataFrame, lists: DataFrame | None, cfg: MonitorConfig) -> DataFrame:
    """``perf_stats`` rows (without ``monitor``, ``as_of``, ``run_id``) from summed scalars and
    sketches per ``KEY`` and the ``entry_lists`` of their sparse part."""
    fields = scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis), cfg.cut_offs)
    sparse_out = []
    if lists is not None:
        sparse = SPARSE[cfg.problem_type]
        scalars = scalars.join(lists, list(KEY), "left")
        sparse_out = [F.coalesce(F.col(f"_entries.{k}"), F.array()).cast(_ARRAY[k]).alias(k) for k in sparse.keys]
        sparse_out += [
            F.coalesce(F.col(f"_entries.{c}"), F.array()).cast("array<long>").alias(c) for c in sparse.counts
        ]
    return scalars.select(
        *KEY,
        Buckets(cfg.windows.granularity).end_column(F.col("bucket_start")).alias("bucket_end"),
        *[F.col(f).cast("double" if f.startswith(("sum_", "kpi_")) else "long").alias(f) for f in fields],
        *sparse_out,
        *sketch_fields(cfg.problem_type, cfg.cut_offs),
        F.lit(STATE_VERSION).alias("state_version"),
    )


_ARRAY = {"hist_keys": "array<double>", "cm_label": "array<string>", "cm_pred": "array<string>"}
