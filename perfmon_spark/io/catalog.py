"""The output tables (SPEC §4), declared once: name, columns with types and meaning, key, how a
run writes them, and which columns only record the run that wrote a row.

Every write (``io.tables.merge_into`` / ``append``), the rows built for the small tables, the
reference documentation and the tests read these declarations, so a column is named and typed in
one place: code names a column as ``C.model_version`` (``C`` holds every column's name), a subset's
types as ``PERF_METRICS.select("metric", "value")``, and a DDL string as ``ddl(...)``. The words a
column holds (levels, statuses, modes, ...) are documented from ``vocabulary``, never copied.
``perf_stats`` has, besides the columns listed, the state fields of the problem type
(``states.layout``), which a run adds as it writes.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, make_dataclass
from enum import Enum
from typing import Any

from perfmon_spark.config import ALERTING_ONLY, MonitorConfig
from perfmon_spark.vocabulary import (
    ALL_VERSIONS,
    CROSS_SEP,
    NULL_VALUE,
    OTHER,
    OVERALL,
    ROLLBACK_HOLDER,
    Action,
    AlertEvent,
    AlertStatus,
    Decision,
    Delivery,
    DriftClass,
    DriftMeasure,
    FeatureKind,
    Level,
    ModelStatus,
    Reason,
    RollbackControl,
    RunMode,
    RunStatus,
    Source,
    Stage,
    Verdict,
)


class Write(Enum):
    """How a run writes a table."""

    MERGE = "MERGE on the key; rows whose compared columns changed are updated"
    INSERT = "MERGE on the key, inserting new keys only (a row keeps its first sighting)"
    APPEND = "append (a log)"
    CLAIM = (
        "a MERGE on the key that takes a row over only where it was released or has expired "
        "(a conflict check: of two runs, one commits; `io.claims`)"
    )


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark SQL type
    doc: str


@dataclass(frozen=True)
class OutputTable:
    """One output table. ``bookkeeping`` columns say which run wrote a row; a changed value there
    alone does not rewrite the row (so a re-run with the same as_of changes nothing).
    ``clustered_by`` names the time column its files are laid out on, for the tables whose
    writes and reads a run bounds in time."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    write: Write = Write.MERGE
    bookkeeping: tuple[str, ...] = ()
    clustered_by: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> tuple[tuple[str, str], ...]:
        """(name, Spark SQL type) pairs, in table order."""
        return tuple((c.name, c.type) for c in self.columns)

    @property
    def ddl(self) -> str:
        return ddl(self.schema)

    def select(self, *names: str) -> tuple[tuple[str, str], ...]:
        """(name, Spark SQL type) pairs of some columns, in the order given.

        Raises:
            KeyError: a name that is not a column of the table.
        """
        types = dict(self.schema)
        unknown = [n for n in names if n not in types]
        if unknown:
            raise KeyError(f"{self.name} has no column {unknown[0]!r}; columns: {', '.join(self.names)}")
        return tuple((n, types[n]) for n in names)

    def compared(self, columns=None) -> tuple[str, ...]:
        """The columns whose change rewrites a matched row: all but the key and the bookkeeping
        (of ``columns`` where given, e.g. a frame with state fields beyond those declared)."""
        return tuple(c for c in (columns or self.names) if c not in self.key and c not in self.bookkeeping)

    def without(self, *names: str) -> tuple[tuple[str, str], ...]:
        """The schema without some columns (e.g. those the caller adds last)."""
        return tuple(pair for pair in self.schema if pair[0] not in names)

    def wrong_types(self, found: dict[str, str]) -> list[str]:
        """The declared columns that ``found`` (column name -> Spark's ``simpleString`` of its type,
        as a table's schema prints it) holds with another type, as ``table.column is X, not Y``.
        Columns it lacks or adds are fine: a write adds a missing one, and a state table holds
        the state fields of its problem type beyond those declared.

        >>> RUNS.wrong_types({"run_id": "string", "predictions_version": "int", "extra": "double"})
        ['runs.predictions_version is int, not bigint']
        """
        return [
            f"{self.name}.{c.name} is {found[c.name]}, not {spark_type(c.type)}"
            for c in self.columns
            if c.name in found and found[c.name] != spark_type(c.type)
        ]


_TYPE_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}
_TYPE_WORD = re.compile(rf"\b({'|'.join(_TYPE_NAMES)})\b(?!:)")


def spark_type(ddl_type: str) -> str:
    """A declared type as Spark prints it (``DataType.simpleString``): its own names for the DDL
    aliases, no spaces; a struct's field names are kept.

    >>> spark_type("long"), spark_type("array<struct<code:string, message:string>>")
    ('bigint', 'array<struct<code:string,message:string>>')
    """
    return _TYPE_WORD.sub(lambda m: _TYPE_NAMES[m[1]], ddl_type.lower().replace(" ", ""))


def ddl(columns: Iterable[tuple[str, str]]) -> str:
    """A Spark DDL string of (name, type) pairs: ``PERF_METRICS.ddl``, or of ``select``'s pairs."""
    return ", ".join(f"`{name}` {type_}" for name, type_ in columns)


def _c(name: str, type_: str, doc: str) -> Column:
    return Column(name, type_, doc)


def _one_of(words: Iterable[str], sep: str = " / ") -> str:
    """A column's words, from the vocabulary, for its doc: ``MINOR / SUSTAINED / CRITICAL``."""
    return sep.join(words)


MONITOR = _c("monitor", "string", "the config's `name`")
MODEL_VERSION = _c("model_version", "string", f"a model version, or `{ALL_VERSIONS}` for all versions together")
SLICE_KEY = _c(
    "slice_key", "string", f"`{OVERALL}` (overall), a segment column, or crossed columns joined by `{CROSS_SEP}`"
)
SLICE_VALUE = _c(
    "slice_value",
    "string",
    f"`{OVERALL}`, the value, `{OTHER}`, `{NULL_VALUE}`, or crossed values joined by `{CROSS_SEP}`",
)
WINDOW = _c("window", "string", "`1 day` (the granularity: tumbling) or a rolling length such as `7 days`")
AS_OF = _c("as_of", "timestamp", "the as_of of the run that last changed the row")
RUN_ID = _c("run_id", "string", "the run that last changed the row")
METRIC = _c("metric", "string", "a metric or KPI name")

PERF_METRICS = OutputTable(
    name="perf_metrics",
    doc="one row per metric value of a version, slice and window",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        WINDOW,
        _c("window_start", "timestamp", "inclusive"),
        _c("window_end", "timestamp", "exclusive; rolling windows end at a bucket boundary"),
        METRIC,
        _c("value", "double", "null where the metric is undefined (never NaN)"),
        _c("ci_lower", "double", "interval at `confidence_level`; null where no sound method exists"),
        _c("ci_upper", "double", "upper end of the same interval"),
        _c(
            "std_error",
            "double",
            "the standard error of `value` used by every test, by the interval's own method on the metric's scale "
            "(not the half-width / z of an asymmetric or clipped interval); null where the metric has no interval",
        ),
        _c("n_predictions", "long", "predictions in the window"),
        _c("n_labeled", "long", "of those, with a usable label as of as_of"),
        _c("label_coverage", "double", "n_labeled / n_predictions"),
        _c(
            "expected_coverage",
            "double",
            "expected final coverage: that of the mature buckets of the slice ending by window_end; null until known",
        ),
        _c("is_mature", "boolean", "window_end + max_delay <= as_of"),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "window", "window_start", "metric"),
    clustered_by="window_end",
    bookkeeping=("as_of", "run_id"),
)

PERF_STATS = OutputTable(
    name="perf_stats",
    doc="one state per version, slice and bucket; its state fields (per problem type) follow `bucket_end`",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        _c("bucket_start", "timestamp", "the bucket's start (UTC), on prediction time"),
        _c("bucket_end", "timestamp", "exclusive"),
        _c("state_version", "int", "layout version of the state fields; a run that finds another rebuilds"),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "bucket_start"),
    clustered_by="bucket_start",
    bookkeeping=("as_of", "run_id"),
)

# The keys of ``runs.label_delay``: the delays' quantiles in days (name -> level), then ``max`` and
# the share of the label events later than max_delay (``job.label_delay`` measures them).
LABEL_DELAY_QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
LABEL_DELAY_SHARE_BEYOND = "share_beyond_max_delay"

RUNS = OutputTable(
    name="runs",
    doc="one row per run; the last SUCCEEDED row is the next incremental run's watermark; a run killed outright "
    "is recorded FAILED by the next run, its versions and counts null (unknown)",
    columns=(
        RUN_ID,
        MONITOR,
        _c("as_of", "timestamp", "the run's as_of"),
        _c("started_at", "timestamp", "wall clock, UTC"),
        _c("finished_at", "timestamp", "wall clock, UTC"),
        _c("status", "string", _one_of(RunStatus)),
        _c("mode", "string", _one_of(RunMode)),
        _c("predictions_version", "long", "Delta version of the predictions table read"),
        _c("labels_version", "long", "Delta version of the labels table read"),
        _c("rows_read_predictions", "long", "prediction rows the run read"),
        _c("rows_read_labels", "long", "label rows the run read"),
        _c(
            "rows_quarantined",
            "long",
            "bad records this run added to `quarantine` (identical bad rows are one record, whose `n_rows` counts "
            "them; a record already there is not counted again)",
        ),
        _c(
            "orphan_labels",
            "long",
            "label events without a prediction: in a full run all of them; in an incremental run those it read "
            "for the first time (arrived since the last as_of, or written since with an earlier time)",
        ),
        _c("late_labels_ignored", "long", "label rows that arrived after prediction time + max_delay"),
        _c("buckets_recomputed", "long", "state rows written"),
        _c("metric_rows_written", "long", "perf_metrics rows inserted, updated or deleted"),
        _c(
            "config_hash",
            "string",
            "hash of the config (absolute paths); a change makes a full run, unless `config_sections` says only "
            f"alerting sections changed ({', '.join(ALERTING_ONLY)})",
        ),
        _c("state_version", "int", "layout version of the `perf_stats` fields written; another makes a full run"),
        _c("package_version", "string", "perfmon-spark's version"),
        _c("message", "string", "why the run took its mode, and the alerting summary or the error"),
        _c(
            "stage_seconds",
            "map<string,double>",
            f"seconds per stage ({_one_of((s for s in Stage if s is not Stage.WRITE), ', ')}) "
            "before the row's own write",
        ),
        _c(
            "warnings",
            "array<struct<code:string,message:string>>",
            "what the run could not see or had to drop, one {code, message} each (codes: `WarningCode`; "
            "also printed on stderr; `--strict` fails the run on any)",
        ),
        _c(
            "label_delay",
            "map<string,double>",
            f"delays of the label events matched to their prediction, in days ({', '.join(LABEL_DELAY_QUANTILES)}, "
            f"max, to the minute) and {LABEL_DELAY_SHARE_BEYOND}; null when none was read or for entity_horizon joins",
        ),
        _c(
            "config_sections",
            "map<string,string>",
            "a hash of each top-level section of the config, as `config_hash` hashes it: which sections the next run "
            "finds edited (its message names them)",
        ),
        _c(
            "predictions_table_id",
            "string",
            "Delta's id of the predictions table read: another id at the same place (the table dropped and created "
            "again) makes a full run",
        ),
        _c("labels_table_id", "string", "Delta's id of the labels table read, likewise"),
        _c(
            "registry_versions",
            "map<string,string>",
            "the registry's aliases as the run resolved them at its start (alias -> model_version); null without "
            "versions.registry",
        ),
    ),
    key=("run_id",),
    write=Write.APPEND,
)

CLAIMS = OutputTable(
    name="claims",
    doc="one row per monitor: the run that holds it (released_at null) or held it last; a run takes it before "
    "its first write, so that two runs of a monitor never write together",
    columns=(
        MONITOR,
        _c("run_id", "string", "the run that holds the monitor, or held it last"),
        _c(
            "mode",
            "string",
            f"what that run was asked for: {_one_of(m for m in RunMode if m is not RunMode.UNKNOWN)}; "
            f"{ROLLBACK_HOLDER} while `perfmon rollback --apply` holds the monitor",
        ),
        _c("as_of", "timestamp", "that run's as_of"),
        _c("claimed_at", "timestamp", "when it took the monitor (wall clock of its driver, UTC)"),
        _c(
            "expires_at",
            "timestamp",
            "claimed_at + `run_timeout`: after it, another run may take the monitor even if this one never released it",
        ),
        _c("released_at", "timestamp", "when the run ended and let the monitor go; null while it holds it"),
        _c("host", "string", "the host name of that run's driver"),
        _c("pid", "long", "its process id there"),
    ),
    key=("monitor",),
    write=Write.CLAIM,
)

QUARANTINE = OutputTable(
    name="quarantine",
    doc="bad input rows, as they were read, with the reason",
    columns=(
        MONITOR,
        _c("source", "string", _one_of(Source)),
        _c("reason", "string", _one_of(Reason, ", ")),
        _c("record", "string", "the row as JSON"),
        _c("record_id", "string", "the row's id, if any"),
        _c("record_hash", "string", "SHA-256 of `record`"),
        _c("first_seen_run", "string", "the run that first quarantined the row"),
        _c("as_of", "timestamp", "that run's as_of"),
        _c(
            "n_rows",
            "long",
            "input rows identical to `record` when it was first quarantined: identical bad rows are one record "
            "(null in rows written before the column existed)",
        ),
    ),
    key=("monitor", "source", "reason", "record_hash"),
    bookkeeping=("first_seen_run",),
    write=Write.INSERT,
)

_ALERT_KEY = ("monitor", "rule", "model_version", "slice_key", "slice_value", "window", "opened_window_start")
_ALERT_KEY_COLUMNS = (
    MONITOR,
    _c("rule", "string", "the alert rule's name"),
    MODEL_VERSION,
    SLICE_KEY,
    SLICE_VALUE,
    WINDOW,
    _c("opened_window_start", "timestamp", "start of the window where the episode opened"),
)

PERF_ALERTS = OutputTable(
    name="perf_alerts",
    doc="one row per alert episode of a rule, version, slice and window length",
    columns=(
        *_ALERT_KEY_COLUMNS,
        METRIC,
        _c("level", "string", _one_of(Level)),
        _c("status", "string", _one_of(AlertStatus)),
        _c("action", "string", _one_of(level.action for level in Level)),
        _c("value", "double", "the metric in the episode's last window"),
        _c("ci_lower", "double", "its interval"),
        _c("ci_upper", "double", "its interval"),
        _c("baseline", "double", "the baseline it was compared with"),
        _c("threshold", "double", "the current level's threshold"),
        _c("last_window_start", "timestamp", "the last window evaluated in the episode"),
        _c("resolved_window_start", "timestamp", "the window that resolved it"),
        _c("evidence", "string", "JSON: the windows and values that decided it"),
        _c("updated_run_id", "string", "the run that last changed the row"),
    ),
    key=_ALERT_KEY,
    bookkeeping=("updated_run_id",),
)


def threshold_column(level: Level) -> str:
    """The ``rule_windows`` column of a level's threshold: ``minor_threshold``, ..."""
    return f"{level.lower()}_threshold"


RULE_WINDOWS = OutputTable(
    name="rule_windows",
    doc="one row per window a rule evaluated (rule, version, slice, window length): what the rule saw and decided",
    columns=(
        MONITOR,
        _c("rule", "string", "the alert rule's `name`"),
        METRIC,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        WINDOW,
        _c("window_start", "timestamp", "inclusive"),
        _c("window_end", "timestamp", "exclusive"),
        _c("value", "double", "the metric (perf_metrics.value)"),
        _c("std_error", "double", "its sampling standard error (perf_metrics.std_error; 0 where exact)"),
        _c("baseline", "double", "what the window is compared with; null for absolute levels"),
        _c("baseline_std_error", "double", "the baseline's sampling standard error; 0 for a fixed figure"),
        _c(
            "extra_variance",
            "double",
            "day-to-day variance beyond sampling error, added to both tests; null where not counted",
        ),
        *(
            _c(threshold_column(level), "double", f"where {level} begins; null where the rule has no such level")
            for level in Level
        ),
        _c("p_value", "double", "one-sided p of the window's change from the baseline (extra variance counted)"),
        _c(
            "series_p_value",
            "double",
            "the series' p as of this window: the newest window's, or the persistent level's pooled one",
        ),
        _c(
            "q_value",
            "double",
            "Benjamini-Hochberg adjusted series_p_value, over every series the run tested, in the run that "
            "had this window as its series' newest; null for windows no run saw as newest (a backfill)",
        ),
        _c("level", "string", "the highest level that holds at the window, before the run's FDR step; null: none"),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "rule", "model_version", "slice_key", "slice_value", "window", "window_start"),
    clustered_by="window_end",
    bookkeeping=("as_of", "run_id"),
)

ALERT_EVENTS = OutputTable(
    name="alert_events",
    doc="every change of an episode, and its delivery to the notification sinks",
    columns=(
        _c("event_id", "string", "derived from the transition, so a re-run inserts nothing twice"),
        *_ALERT_KEY_COLUMNS,
        _c("event", "string", _one_of(AlertEvent)),
        _c("level", "string", "the level after the change"),
        RUN_ID,
        _c("as_of", "timestamp", "the run's as_of"),
        _c("details", "string", "JSON: the episode's values"),
        _c(
            "delivery",
            "string",
            f"{_one_of(d for d in Delivery if d is not Delivery.NONE)}, or {Delivery.NONE} when no sink asks for the level",
        ),
        _c("delivery_attempts", "long", "attempts so far"),
        _c("delivered_to", "array<string>", "the sinks that accepted it"),
        _c("delivery_error", "string", "the last failure"),
    ),
    key=("event_id",),
    write=Write.INSERT,
)
# What a delivery attempt updates in alert_events.
DELIVERY_COLUMNS = ("delivery", "delivery_attempts", "delivered_to", "delivery_error")

RETRAIN_DECISIONS = OutputTable(
    name="retrain_decisions",
    doc="one decision per active model version and run",
    columns=(
        MONITOR,
        MODEL_VERSION,
        _c("run_id", "string", "the run that decided (kept by a re-run with the same as_of)"),
        _c("decision", "string", _one_of(Decision)),
        _c("reasons", "array<string>", "the triggers that fired and the controls that blocked"),
        _c("evidence", "string", "JSON: metric, windows, values, thresholds"),
        _c("new_labels_since_last", "long", "labels gained since the version's last RETRAIN"),
        _c("labels_total", "long", "the version's labeled predictions as of the run"),
        _c("as_of", "timestamp", "the run's as_of"),
    ),
    key=("monitor", "model_version", "run_id"),
)

MODEL_STATUS = OutputTable(
    name="model_status",
    doc="one row per model version: its status and what to do",
    columns=(
        MONITOR,
        MODEL_VERSION,
        _c("status", "string", _one_of(ModelStatus)),
        _c("action", "string", _one_of(a for a in Action if a is not Action.LOG)),  # LOG: a MINOR alert's only
        _c("rollback_target", "string", "for a CRITICAL version, the best healthy other version"),
        _c("comparison", "string", "JSON: every rollback candidate with its value, interval and test"),
        _c("last_prediction_date", "date", "the day of the version's last bucket with a prediction"),
        _c("as_of", "timestamp", "the run's as_of"),
        _c("run_id", "string", "the run that last changed the row"),
    ),
    key=("monitor", "model_version"),
    bookkeeping=("run_id",),
)

SERVING_GATE = OutputTable(
    name="serving_gate",
    doc="one row per model version: whether a serving layer may route traffic to it (from `model_status`)",
    columns=(
        MONITOR,
        MODEL_VERSION,
        _c("allowed", "boolean", f"false where `model_status.action` is {Action.BLOCK_OR_ROLLBACK}"),
        _c(
            "reason", "string", "the status, and for a blocked version the rule that blocked it and its rollback target"
        ),
        _c("as_of", "timestamp", "the run's as_of"),
        _c("run_id", "string", "the run that last changed the row"),
    ),
    key=("monitor", "model_version"),
    bookkeeping=("run_id",),
)

ROLLBACKS = OutputTable(
    name="rollbacks",
    doc="one row per `perfmon rollback --apply` that found a rollback due: applied, or refused by a control",
    columns=(
        MONITOR,
        _c("at", "timestamp", "wall clock, UTC"),
        _c("from_version", "string", "the champion, CRITICAL in `model_status`"),
        _c("to_version", "string", "its rollback target (null: none)"),
        _c("alias", "string", "the registry alias moved (or that would have been)"),
        _c("applied", "boolean", "whether the alias was moved"),
        _c("refused_by", "string", f"null, or the control that refused it: {_one_of(RollbackControl)}"),
        _c("evidence", "string", "JSON: the champion's status, the target's comparison, the controls"),
        _c("run_id", "string", "the run whose `model_status` row made the rollback due"),
    ),
    key=("monitor", "at"),
    write=Write.APPEND,
)

FEATURE = _c("feature", "string", "a column of `drift.features` or `drift.categorical`")

DRIFT_REFERENCE = OutputTable(
    name="drift_reference",
    doc="one row per drift feature: its bins, fixed by the first run that saw it (of that kind) and never moved",
    columns=(
        MONITOR,
        FEATURE,
        _c("kind", "string", _one_of(FeatureKind)),
        _c("edges", "array<double>", "numeric: bin edges at the reference's quantiles (ties merged)"),
        _c("categories", "array<string>", "categorical: the reference's top values (then __other__ and null)"),
        _c("reference_start", "timestamp", "the period the bins came from (the first baseline period)"),
        _c("reference_end", "timestamp", "exclusive"),
        _c("n_reference", "long", "non-null values in that period"),
        _c("created_run_id", "string", "the run that fixed the bins"),
    ),
    key=("monitor", "feature"),
    bookkeeping=("created_run_id",),
)

DRIFT_STATS = OutputTable(
    name="drift_stats",
    doc="one histogram per version, slice, bucket and drift feature (beside `perf_stats`, merged the same way)",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        _c("bucket_start", "timestamp", "the bucket's start (UTC), on prediction time"),
        FEATURE,
        _c("bucket_end", "timestamp", "exclusive"),
        _c("bin_counts", "array<bigint>", "predictions per bin, in `drift_reference` order, the null bin last"),
        _c("state_version", "int", "layout version (as in `perf_stats`)"),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "bucket_start", "feature"),
    clustered_by="bucket_start",
    bookkeeping=("as_of", "run_id"),
)

DRIFT_METRICS = OutputTable(
    name="drift_metrics",
    doc="one row per drift measure of a feature in a version, slice and window, against its reference period",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        WINDOW,
        _c("window_start", "timestamp", "inclusive"),
        FEATURE,
        _c("measure", "string", f"{_one_of(DriftMeasure)} (numeric features)"),
        _c("window_end", "timestamp", "exclusive"),
        _c("value", "double", "null until the window's reference period has ended, or without rows"),
        _c("n_predictions", "long", "predictions in the window"),
        _c("n_reference", "long", "predictions in the window's reference period"),
        _c(
            "is_drifted",
            "boolean",
            "psi: value > drift.psi_threshold and p_value passes Benjamini-Hochberg at drift.fdr over the window's "
            "features; null for the other measures, without a reference, or where p_value is null",
        ),
        _c(
            "p_value",
            "double",
            "psi: of the size-aware test (PSI x (1/n_predictions + 1/n_reference)^-1 against chi-square on bins "
            "pooled to 10 expected rows, Williams-corrected); null for the other measures, without a reference, or "
            "below two pooled bins",
        ),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "window", "window_start", "feature", "measure"),
    clustered_by="window_end",
    bookkeeping=("as_of", "run_id"),
)

DRIFT_PERFORMANCE = OutputTable(
    name="drift_performance",
    doc="per alert rule's metric, version, slice and window: its change against the baseline beside its drift, classed",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        WINDOW,
        _c("window_start", "timestamp", "inclusive"),
        METRIC,
        _c("value", "double", "the metric in the window (perf_metrics)"),
        _c("ci_lower", "double", "its interval"),
        _c("ci_upper", "double", "its interval"),
        _c("baseline", "double", "the rule's baseline (value - baseline is the change)"),
        _c("top_feature", "string", "the feature with the largest PSI in the window"),
        _c("top_feature_psi", "double", "its PSI"),
        _c("score_psi", "double", "the score's PSI, where `score_psi` is computed"),
        _c(
            "class",
            "string",
            f"{_one_of(c for c in DriftClass if c is not DriftClass.UNKNOWN)} / {DriftClass.UNKNOWN} "
            "(immature or too few rows)",
        ),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "window", "window_start", "metric"),
    bookkeeping=("as_of", "run_id"),
)

DRIFT_CORRELATION = OutputTable(
    name="drift_correlation",
    doc="per version, slice, rule metric and feature: how the feature's drift ranks with the metric's drop",
    columns=(
        MONITOR,
        MODEL_VERSION,
        SLICE_KEY,
        SLICE_VALUE,
        METRIC,
        FEATURE,
        _c(
            "windows_used", "long", "tumbling windows with both a drop and a PSI, of the last drift.correlation_windows"
        ),
        _c(
            "spearman_rho",
            "double",
            "rank correlation of the feature's PSI with the drop (baseline - value, signed so that worse is larger)",
        ),
        _c("p_value", "double", "two-sided, t approximation; null below 3 windows or when either series is constant"),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "model_version", "slice_key", "slice_value", "metric", "feature"),
    bookkeeping=("as_of", "run_id"),
)

VERSION_COMPARISON = OutputTable(
    name="version_comparison",
    doc="per challenger, metric and window: the challenger against the champion on the champion's mix of slices",
    columns=(
        MONITOR,
        _c("champion", "string", "versions.champion"),
        _c("challenger", "string", "one of versions.challengers"),
        METRIC,
        WINDOW,
        _c("window_start", "timestamp", "inclusive"),
        _c("window_end", "timestamp", "exclusive"),
        _c(
            "difference",
            "double",
            "challenger minus champion, each stratum (a value of versions.stratify_by) weighted by the champion's "
            "share of predictions there; null where no stratum has both",
        ),
        _c(
            "ci_lower",
            "double",
            "its interval at confidence_level, Bonferroni-adjusted over the window start's comparisons",
        ),
        _c("ci_upper", "double", "its interval, likewise"),
        _c("unadjusted_difference", "double", "challenger minus champion overall (each in its own mix)"),
        _c("n_labeled_champion", "long", "the champion's labels in the strata compared"),
        _c("n_labeled_challenger", "long", "the challenger's labels in the strata compared"),
        _c("verdict", "string", _one_of(Verdict)),
        AS_OF,
        RUN_ID,
    ),
    key=("monitor", "champion", "challenger", "metric", "window", "window_start"),
    bookkeeping=("as_of", "run_id"),
)

# Every table a run may write, in the order a reader meets them.
OUTPUT_TABLES = (
    PERF_METRICS,
    PERF_STATS,
    QUARANTINE,
    RUNS,
    CLAIMS,
    RULE_WINDOWS,
    PERF_ALERTS,
    ALERT_EVENTS,
    RETRAIN_DECISIONS,
    MODEL_STATUS,
    DRIFT_REFERENCE,
    DRIFT_STATS,
    DRIFT_METRICS,
    DRIFT_PERFORMANCE,
    DRIFT_CORRELATION,
    VERSION_COMPARISON,
    SERVING_GATE,
    ROLLBACKS,
)
ALERTING_TABLES = (RULE_WINDOWS, PERF_ALERTS, ALERT_EVENTS, RETRAIN_DECISIONS, MODEL_STATUS, SERVING_GATE)
VERSIONS_TABLES = (VERSION_COMPARISON, ROLLBACKS)
DRIFT_TABLES = (DRIFT_REFERENCE, DRIFT_STATS, DRIFT_METRICS)
DRIFT_ALERTING_TABLES = (DRIFT_PERFORMANCE, DRIFT_CORRELATION)


def written_by(cfg: MonitorConfig) -> tuple[OutputTable, ...]:
    """The tables a monitor's runs (and its ``perfmon rollback``) write: the alerting ones only
    where the config ``decides``, the drift ones only where it has drift features (those that
    relate drift to the rules' metrics: both), the versions ones only with a ``versions`` section."""
    decides, drifts = cfg.decides, bool(cfg.drift.columns)
    return tuple(
        t
        for t in OUTPUT_TABLES
        if (decides or t not in ALERTING_TABLES)
        and (drifts or t not in DRIFT_TABLES)
        and ((drifts and decides) or t not in DRIFT_ALERTING_TABLES)
        and (cfg.versions.enabled or t not in VERSIONS_TABLES)
    )


def _column_names(tables: Iterable[OutputTable]) -> Any:
    """Every column name of ``tables`` as an attribute of a frozen object (a Python keyword gets a
    trailing ``_``: ``C.class_``), so that code names a column from the catalogue, not as a bare
    string: ``F.col(C.model_version)``."""
    names = dict.fromkeys(c.name for t in tables for c in t.columns)
    fields = [(f"{n}_" if keyword.iskeyword(n) else n, str, field(default=n)) for n in names]
    return make_dataclass("ColumnNames", fields, frozen=True)()


C = _column_names(OUTPUT_TABLES)
"""The output tables' column names: ``C.model_version == "model_version"``."""
