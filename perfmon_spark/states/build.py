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

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from perfmon_spark.buckets import Buckets
from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest.columns import DECISION, ID, KIND, PRED, PROBS, REASON, RECORD, SCORE, STATUS, TS, VERSION, Y
from perfmon_spark.metrics import histogram
from perfmon_spark.metrics.histogram import scale_of
from perfmon_spark.metrics.kpi import kpi_fields
from perfmon_spark.states.cells import KEY, Binning, cell_names, located, to_groups
from perfmon_spark.states.layout import SPARSE, STATE_VERSION, scalar_fields
from perfmon_spark.vocabulary import RowStatus

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


_FIELDS = {"binary": _binary_fields, "multiclass": _multiclass_fields, "regression": _regression_fields}
_RESOLVED = {"binary": DECISION, "multiclass": PRED, "regression": SCORE}


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


def aggregate_rows(
    rows: DataFrame, cfg: MonitorConfig, top: dict[str, tuple[str, ...]], binning: Binning | None
) -> DataFrame:
    """The one aggregation over raw rows (``labels.resolve``'s frame).

    Its groups are of three kinds, told apart by ``_status``: a usable prediction adds its state
    fields to its (cell, summary key) group; a quarantined row is a group of its own record; other
    label rows fall into one group per status. ``_n`` counts rows. So the states, the counts of
    the ``runs`` row and the quarantine rows all come from one pass over the rows, and the output
    is small: cells times distinct keys, plus the bad rows.
    """
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
    values = {f: fields[f] for f in scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis))}
    values.update({c: entries[c] for c in (sparse.counts if sparse else ())})
    usable = F.col(STATUS) == RowStatus.USABLE
    group = [
        F.col(KIND),
        F.col(STATUS),
        F.col(REASON),
        F.col(RECORD),
        F.when(F.col(REASON).isNotNull(), F.col(ID)).alias(RECORD_ID),
        *[F.when(usable, F.col(n)).alias(n) for n in names],
        *[F.when(usable, c).alias(k) for k, c in keys.items()],
    ]
    out = rows.select(*group, *[F.when(usable, v).alias(n) for n, v in values.items()])
    return out.groupBy(*[c for c in out.columns if c not in values]).agg(
        F.count(F.lit(1)).alias(ROWS), *[F.sum(n).alias(n) for n in values]
    )


def bucket_states(aggregated: DataFrame, cfg: MonitorConfig, binning: Binning | None) -> DataFrame:
    """Per (model_version, slice_key, slice_value, bucket_start) state rows from the usable groups
    of ``aggregate_rows``.

    Cells are summed, exploded into their slices (overall, each column, each crossed group) and
    summed again. The score summary follows the same path: entries per (cell, key), then per
    (slice group, key), binned in the groups ``binning`` lists. Cache ``aggregated``: it is read
    several times.
    """
    scalars = scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis))
    sparse = SPARSE.get(cfg.problem_type)
    names = cell_names(cfg)
    usable = aggregated.filter(F.col(STATUS) == RowStatus.USABLE)

    sums = [F.sum(f).alias(f) for f in scalars]
    cells = usable.groupBy(*names).agg(*sums)
    states = to_groups(cells, cfg, *scalars).groupBy(*KEY).agg(*sums)
    sparse_out = []
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
        counts = [F.sum(c).alias(c) for c in sparse.counts]
        grouped = per_group.groupBy(*KEY, *sparse.keys).agg(*counts)
        lists = grouped.groupBy(*KEY).agg(F.sort_array(F.collect_list(F.struct(*sparse.columns))).alias("_entries"))
        states = states.join(lists, list(KEY), "left")
        sparse_out = [F.coalesce(F.col(f"_entries.{k}"), F.array()).cast(_ARRAY[k]).alias(k) for k in sparse.keys]
        sparse_out += [
            F.coalesce(F.col(f"_entries.{c}"), F.array()).cast("array<long>").alias(c) for c in sparse.counts
        ]
    return states.select(
        *KEY,
        Buckets(cfg.windows.granularity).end_column(F.col("bucket_start")).alias("bucket_end"),
        *[F.col(f).cast("double" if f.startswith(("sum_", "kpi_")) else "long").alias(f) for f in scalars],
        *sparse_out,
        F.lit(STATE_VERSION).alias("state_version"),
    )


_ARRAY = {"hist_keys": "array<double>", "cm_label": "array<string>", "cm_pred": "array<string>"}
