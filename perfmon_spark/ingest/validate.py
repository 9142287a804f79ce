"""Row validation: every input row is either usable or goes to ``quarantine`` with a reason.

Normalised columns (prefixed ``_``) carry the values the rest of the job reads; the original
columns stay so that a quarantined row is stored as it was read. Rows timestamped after as_of do
not exist yet for this run: they are left out, not quarantined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from perfmon_spark.config import KPI_NAMES, MonitorConfig, label_text
from perfmon_spark.errors import ConfigError, InputError
from perfmon_spark.ingest.columns import (
    DECISION,
    ENTITY,
    ID,
    ITEM,
    LABEL_TS,
    PRED,
    PREDICTION_VALUES,
    PROBS,
    RANK,
    REASON,
    RECORD,
    REQUEST,
    SCORE,
    TS,
    VERSION,
    Y,
)
from perfmon_spark.ingest.times import label_time, prediction_time, prediction_visible
from perfmon_spark.io.tables import Snapshot, require_columns
from perfmon_spark.problems import problem
from perfmon_spark.vocabulary import ProblemType, Reason

_IDENTIFIER = re.compile(r"`[^`]+`|[A-Za-z_][A-Za-z0-9_]*")
_KEY_SEP = "\x1f"  # between request and item in a ranking row's id (a unit separator: never in an id)


def _pair(request: str, item: str) -> Column:
    """A ranking row's id: request and item, null if either is."""
    r, i = F.col(request).cast("string"), F.col(item).cast("string")
    return F.when(r.isNotNull() & i.isNotNull(), F.concat(r, F.lit(_KEY_SEP), i))


def prediction_key(cfg: MonitorConfig) -> Column:
    """What identifies a prediction row: its id, or (request, item) for ranking."""
    p = cfg.predictions
    return _pair(p.request, p.item) if problem(cfg.problem_type).per_request else F.col(p.id).cast("string")


def label_key(cfg: MonitorConfig) -> Column:
    """What ties a label event to predictions: the id, the entity, or (request, item) for ranking."""
    lab = cfg.labels
    if problem(cfg.problem_type).per_request:
        return _pair(lab.request, lab.item)
    return F.col(lab.join.entity or lab.id).cast("string")


@dataclass(frozen=True)
class Validated:
    """Input rows with a ``_reason`` column: null for usable rows, else the quarantine reason."""

    df: DataFrame
    raw_columns: tuple[str, ...]


def _first_reason(checks: list[tuple[Column, str]]) -> Column:
    expr = F.lit(None).cast("string")
    for condition, reason in reversed(checks):
        expr = F.when(condition, F.lit(reason)).otherwise(expr)
    return expr


def _bad_number(c: Column) -> Column:
    return F.isnan(c) | (F.abs(c) == float("inf"))


def check_input_columns(cfg: MonitorConfig, predictions: Snapshot, labels: Snapshot) -> None:
    """Every configured column exists with a usable type (InputError otherwise, naming the key)."""
    p, lab, kind = cfg.predictions, cfg.labels, problem(cfg.problem_type)
    keys = ("request", "item") if kind.per_request else ("id",)
    wanted = [(f"predictions.{key}", getattr(p, key), ("string", "integer")) for key in keys]
    wanted += [
        ("predictions.timestamp", p.timestamp, _time_kinds(p.timestamp_is_date)),
        ("predictions.model_version", p.model_version, ("string", "integer")),
    ]
    if p.score:
        wanted.append(("predictions.score", p.score, ("number",)))
    if p.prediction:
        wanted.append(("predictions.prediction", p.prediction, kind.prediction_kinds))
    if p.probabilities:
        wanted.append(("predictions.probabilities", p.probabilities, ("map or array",)))
    if p.rank:
        wanted.append(("predictions.rank", p.rank, ("number",)))
    for column in cfg.segment_columns:
        wanted.append(("segments", column, ("string", "number", "boolean", "timestamp", "date")))
    wanted += [("drift.features", column, ("number",)) for column in cfg.drift.features]
    wanted += [("drift.categorical", column, ("string", "number", "boolean")) for column in cfg.drift.categorical]
    if lab.join.entity:
        wanted.append(("labels.join.entity", lab.join.entity, ("string", "integer")))
    require_columns(predictions, "predictions", wanted, _date_fix("predictions"))
    check_kpi_expressions(cfg, predictions)
    if kind.per_request:
        keys = [("labels.request", lab.request), ("labels.item", lab.item)]
    else:
        keys = [("labels.join.entity", lab.join.entity) if lab.join.entity else ("labels.id", lab.id)]
    require_columns(
        labels,
        "labels",
        [
            *((key, column, ("string", "integer")) for key, column in keys),
            ("labels.timestamp", lab.timestamp, _time_kinds(lab.timestamp_is_date)),
            ("labels.label", lab.label, kind.label_kinds),
        ],
        _date_fix("labels"),
    )


def _time_kinds(is_date: bool) -> tuple[str, ...]:
    """A time column is a timestamp; with ``timestamp_is_date`` a date or a string date too
    (``ingest.times`` says how a run reads them)."""
    return ("timestamp", "date", "string") if is_date else ("timestamp",)


def _date_fix(role: str) -> dict[str, str]:
    """The fix named when a time column is not a timestamp."""
    return {
        f"{role}.timestamp": f"for a DATE or a string date, set {role}.timestamp_is_date: true (a date is then "
        "seen once its day is over; see the README), or cast the column to a timestamp in a view"
    }


def kpi_columns(cfg: MonitorConfig, columns) -> set[str]:
    """Prediction columns the KPI expressions name (so that ingest keeps them)."""
    tokens = {t.strip("`") for k in cfg.kpis for e in (k.numerator, k.denominator) for t in _IDENTIFIER.findall(e)}
    return {c for c in columns if c in tokens and c not in KPI_NAMES}


def check_kpi_expressions(cfg: MonitorConfig, predictions: Snapshot) -> None:
    """Each KPI expression must resolve against the prediction columns plus ``label``,
    ``prediction`` and ``score`` (Spark analysis only, no job).

    Raises:
        ConfigError: naming the KPI key and Spark's reason.
    """
    if not cfg.kpis:
        return
    probe = predictions.df.limit(0).withColumns({n: F.lit(None).cast("double") for n in KPI_NAMES})
    for i, kpi in enumerate(cfg.kpis):
        for key in ("numerator", "denominator"):
            try:
                _ = probe.select(F.expr(getattr(kpi, key)).cast("double")).schema
            except Exception as e:  # AnalysisException or ParseException: the user's SQL
                reason = str(e).strip().splitlines()[0][:300]
                raise ConfigError(
                    f"kpis[{i}].{key}: cannot evaluate {getattr(kpi, key)!r} on the predictions table: {reason}"
                ) from e


def visible_predictions(cfg: MonitorConfig, snapshot: Snapshot, as_of: datetime) -> DataFrame:
    """Prediction rows that exist for a run: the configured filter applied, none after as_of."""
    df = snapshot.df
    if cfg.predictions.filter:
        df = df.filter(F.expr(cfg.predictions.filter))
    return df.filter(prediction_time(cfg).isNull() | prediction_visible(cfg, as_of))


def derive_predictions(cfg: MonitorConfig, df: DataFrame) -> DataFrame:
    """Add the normalised prediction columns (``_ts``, ``_version``, the problem type's columns,
    ``_entity``) and ``_reason``, the first row-level check a row fails. ``_id`` must exist."""
    p = cfg.predictions
    df = df.withColumns({TS: prediction_time(cfg), VERSION: F.col(p.model_version).cast("string")})
    checks = [(F.col(ID).isNull(), Reason.NULL_ID)]
    if cfg.labels.join.entity:
        df = df.withColumn(ENTITY, F.col(cfg.labels.join.entity).cast("string"))
        checks.append((F.col(ENTITY).isNull(), Reason.NULL_ID))
    checks += [
        (F.col(TS).isNull(), Reason.NULL_TIMESTAMP),
        (F.col(VERSION).isNull(), Reason.NULL_MODEL_VERSION),
    ]
    df, prediction_checks = _PREDICTION_COLUMNS[cfg.problem_type](cfg, df)
    return df.withColumn(REASON, _first_reason(checks + prediction_checks))


def preference(df: DataFrame) -> list[Column]:
    """The order among rows of one prediction id: the first is kept, the others are duplicates.
    Valid rows rank first, so that a bad row never displaces the good one of its id; then the
    earliest, then the smallest values, so that the choice is deterministic."""
    values = [F.col(c) for c in (SCORE, DECISION, PRED, RANK, ITEM) if c in df.columns]
    return [F.col(REASON).isNotNull(), F.col(TS), F.col(VERSION), *values]


def duplicate_reason(valid: Column, rank: Column) -> Column:
    """``_reason`` with ``duplicate_id`` for valid rows ranked after the first of their id."""
    return F.when(valid & (rank > 1), F.lit(Reason.DUPLICATE_ID)).otherwise(F.col(REASON))


def prediction_columns(cfg: MonitorConfig, df: DataFrame, raw) -> list[str]:
    """What later steps read of a prediction row: the normalised columns, the segment columns, the
    drift features and the columns KPI expressions name."""
    segments = sorted(set(cfg.segment_columns) | set(cfg.drift.columns) | kpi_columns(cfg, raw))
    derived = [c for c in PREDICTION_VALUES if c in df.columns]
    return derived + [f"`{c}`" for c in segments]


def validate_predictions(cfg: MonitorConfig, df: DataFrame) -> Validated:
    """Annotate visible predictions with ``_reason``; of several rows with one id the first by
    ``preference`` is kept. (Joins by prediction id do this inside ``labels.resolve_by_id``.)"""
    raw = tuple(df.columns)
    df = derive_predictions(cfg, df.withColumn(ID, prediction_key(cfg)))
    rank = F.row_number().over(Window.partitionBy(ID).orderBy(*preference(df)))
    df = df.withColumn(REASON, duplicate_reason(F.col(REASON).isNull(), rank))
    # Only what later steps read; bad rows keep their original values as JSON for quarantine.
    df = df.select(*prediction_columns(cfg, df, raw), REASON, record_of(raw).alias(RECORD))
    return Validated(df=df, raw_columns=raw)


def record_of(columns) -> Column:
    """A bad row's original values as JSON (null for usable rows)."""
    return F.when(F.col(REASON).isNotNull(), _as_json(columns))


def row_struct(columns) -> Column:
    """The named columns of a row as one struct (its JSON is the quarantined record)."""
    return F.struct(*[F.col(f"`{c}`") for c in columns])


def _as_json(columns) -> Column:
    return F.to_json(row_struct(columns))


def _binary_predictions(cfg: MonitorConfig, df: DataFrame) -> tuple[DataFrame, list[tuple[Column, str]]]:
    """``_score`` and the 0/1 ``_decision`` (decision column, else score >= threshold)."""
    p = cfg.predictions
    checks = []
    if p.score:
        score = F.col(p.score).cast("double")
        df = df.withColumn(SCORE, score)
        checks.append((score.isNull(), Reason.NULL_SCORE))
        out_of_range = _bad_number(score)
        if p.score_type == "probability":
            out_of_range = out_of_range | (score < 0) | (score > 1)
        checks.append((out_of_range, Reason.SCORE_OUT_OF_RANGE))
    if p.prediction:
        decision = F.col(p.prediction).cast("double")
        checks.append((decision.isNull(), Reason.NULL_SCORE))
        checks.append((~decision.isin(0.0, 1.0), Reason.SCORE_OUT_OF_RANGE))
        df = df.withColumn(DECISION, decision.cast("int"))
    else:
        df = df.withColumn(DECISION, (F.col(SCORE) >= F.lit(p.threshold)).cast("int"))
    return df, checks


def _regression_predictions(cfg: MonitorConfig, df: DataFrame) -> tuple[DataFrame, list[tuple[Column, str]]]:
    """``_score``: the predicted value (the prediction column, else the score column)."""
    value = F.col(cfg.predictions.prediction or cfg.predictions.score).cast("double")
    return df.withColumn(SCORE, value), [
        (value.isNull(), Reason.NULL_SCORE),
        (_bad_number(value), Reason.SCORE_OUT_OF_RANGE),
    ]


def _multiclass_predictions(cfg: MonitorConfig, df: DataFrame) -> tuple[DataFrame, list[tuple[Column, str]]]:
    """``_pred``: the predicted class as a string; ``_probs``: class -> probability map."""
    pred = F.col(cfg.predictions.prediction).cast("string")
    df = df.withColumn(PRED, pred)
    checks = [(pred.isNull(), Reason.NULL_SCORE)]
    if cfg.predictions.probabilities:
        column = cfg.predictions.probabilities
        probs = F.col(column)
        if isinstance(df.schema[column].dataType, T.ArrayType):  # class i is index i
            probs = F.map_from_arrays(
                F.transform(F.sequence(F.lit(0), F.size(probs) - 1), lambda i: i.cast("string")),
                probs.cast("array<double>"),
            )
        probs = F.map_from_arrays(F.map_keys(probs).cast("array<string>"), F.map_values(probs).cast("array<double>"))
        df = df.withColumn(PROBS, F.when(F.col(column).isNotNull(), probs))
        bad = F.exists(F.map_values(F.col(PROBS)), lambda x: x.isNull() | F.isnan(x) | (x < 0) | (x > 1))
        checks += [(F.col(PROBS).isNull(), Reason.NULL_SCORE), (bad, Reason.SCORE_OUT_OF_RANGE)]
    return df, checks


def _ranking_predictions(cfg: MonitorConfig, df: DataFrame) -> tuple[DataFrame, list[tuple[Column, str]]]:
    """``_request``, ``_item``, ``_score`` (if configured) and ``_rank_value`` (if configured):
    a list is ordered by rank where given, else by score; a score beside a rank may be null."""
    p = cfg.predictions
    df = df.withColumns({REQUEST: F.col(p.request).cast("string"), ITEM: F.col(p.item).cast("string")})
    checks = []
    if p.rank:
        rank = F.col(p.rank).cast("double")
        df = df.withColumn(RANK, rank)
        checks += [(rank.isNull(), Reason.NULL_SCORE), (_bad_number(rank) | (rank < 1), Reason.SCORE_OUT_OF_RANGE)]
    if p.score:
        score = F.col(p.score).cast("double")
        df = df.withColumn(SCORE, score)
        if not p.rank:
            checks.append((score.isNull(), Reason.NULL_SCORE))
        checks.append((score.isNotNull() & _bad_number(score), Reason.SCORE_OUT_OF_RANGE))
    return df, checks


# The Spark half of each problem type (``problems``): a prediction row's columns and checks.
_PREDICTION_COLUMNS = {
    ProblemType.BINARY: _binary_predictions,
    ProblemType.MULTICLASS: _multiclass_predictions,
    ProblemType.REGRESSION: _regression_predictions,
    ProblemType.RANKING: _ranking_predictions,
}


def _binary_label(cfg: MonitorConfig, label: Column, kind: str) -> tuple[Column, Column]:
    """(y as 0/1, validity): a label is valid when it spells ``labels.positive`` or one of
    ``labels.negative`` (compared as ``config.label_text``: trimmed, lower case, ``1.0`` as ``1``).
    Anything else, null included, is a ``bad_label``: never a silent negative."""
    positive = label_text(cfg.labels.positive)
    negatives = [label_text(v) for v in cfg.labels.negative]
    if kind == "boolean":
        text = F.when(label, F.lit("true")).when(~label, F.lit("false"))
        spelled = {"1": "true", "0": "false"}
        positive, negatives = spelled.get(positive, positive), [spelled.get(v, v) for v in negatives]
    elif kind == "string":
        text = F.lower(F.trim(label))
    else:
        value = label.cast("double")
        whole = value.cast("long").cast("string")
        text = (
            F.when(_bad_number(value), F.lit(None)).when(value == F.floor(value), whole).otherwise(value.cast("string"))
        )
    valid = F.coalesce(text.isin(positive, *negatives), F.lit(False))
    return (text == F.lit(positive)).cast("int"), valid


def _class_label(cfg: MonitorConfig, label: Column, kind: str) -> tuple[Column, Column]:
    """(y as a string class, validity): any non-null value is a class."""
    return label.cast("string"), label.isNotNull()


def _number_label(cfg: MonitorConfig, label: Column, kind: str) -> tuple[Column, Column]:
    """(y as a double, validity): a finite number."""
    y = label.cast("double")
    return y, y.isNotNull() & ~_bad_number(y)


def _relevance_label(cfg: MonitorConfig, label: Column, kind: str) -> tuple[Column, Column]:
    """(y as a double, validity): a finite relevance >= 0."""
    y, valid = _number_label(cfg, label, kind)
    return y, valid & (y >= 0)


# The Spark half of each problem type (``problems``): a label row's value and validity.
_LABELS = {
    ProblemType.BINARY: _binary_label,
    ProblemType.MULTICLASS: _class_label,
    ProblemType.REGRESSION: _number_label,
    ProblemType.RANKING: _relevance_label,
}


def validate_labels(cfg: MonitorConfig, df: DataFrame, as_of: datetime) -> Validated:
    """Annotate label events with ``_reason`` (null_id, null_timestamp, bad_label)."""
    lab = cfg.labels
    raw = tuple(df.columns)
    dtype = df.schema[lab.label].dataType.typeName()
    kind = "boolean" if dtype == "boolean" else "string" if dtype == "string" else "number"
    y, valid = _LABELS[cfg.problem_type](cfg, F.col(lab.label), kind)
    ts = label_time(cfg)
    df = df.filter(ts.isNull() | (ts <= F.lit(as_of))).withColumns({ID: label_key(cfg), LABEL_TS: ts, Y: y})
    reason = _first_reason(
        [
            (F.col(ID).isNull(), Reason.NULL_ID),
            (F.col(LABEL_TS).isNull(), Reason.NULL_TIMESTAMP),
            (~valid, Reason.BAD_LABEL),
        ]
    )
    return Validated(df=df.withColumn(REASON, reason), raw_columns=raw)


# A run (or a sample) whose label rows are more often bad than not has a config that does not
# match its labels (``labels.positive`` 1 over yes/no labels): an input error, not a quarantine.
MOSTLY_BAD_LABELS = 0.5
LABEL_SAMPLE_ROWS = 10_000


def require_known_labels(cfg: MonitorConfig, labels: Snapshot, bad: int, total: int) -> None:
    """Stop a run whose label rows are mostly ``bad_label``, naming the column, the values seen
    and the configured classes (one small distinct query, only on that path).

    Raises:
        InputError: more than ``MOSTLY_BAD_LABELS`` of ``total`` label rows are bad labels.
    """
    if total == 0 or bad <= MOSTLY_BAD_LABELS * total:
        return
    column = cfg.labels.label
    values = labels.df.select(F.col(column).cast("string").alias("v")).dropna().distinct().limit(10)
    seen = sorted(repr(r["v"]) for r in values.collect()) or ["only nulls"]
    kind = problem(cfg.problem_type)
    expected = (
        kind.expected_labels(cfg)
        if kind.expected_labels is not None
        else f"a {cfg.problem_type} label must be a non-null {kind.label_noun}"
    )
    raise InputError(
        f"labels table {labels.ref.text!r}: column {column!r} (labels.label): {bad} of {total} label rows "
        f"are not a valid label; values seen: {', '.join(seen)}; {expected}"
    )


def check_label_sample(cfg: MonitorConfig, labels: Snapshot, rows: int = LABEL_SAMPLE_ROWS) -> None:
    """``require_known_labels`` on the first ``rows`` label rows (``validate --check-tables``)."""
    sample = validate_labels(cfg, labels.df.limit(rows), datetime.max)
    row = sample.df.agg(
        F.count(F.lit(1)).alias("total"), F.count(F.when(F.col(REASON) == Reason.BAD_LABEL, 1)).alias("bad")
    ).first()
    require_known_labels(cfg, labels, row["bad"], row["total"])
