"""The monitor configuration (SPEC §2): every key is declared once, as a field of a frozen pydantic
model with its type, default, allowed values and one-line doc; parsing, defaults, the JSON Schema
(``perfmon schema``), the markdown reference and the errors' "what is allowed" all derive from them.

The models mirror the YAML; what the job reads in another shape (``AlertRule.levels``,
``window_lengths``) is a property. ``load_config`` applies the command line's ``--set`` overrides
and resolves ``${VAR}`` references before validating, so both are checked and hashed as if written
in the file. An error is one line naming the key path (``alerts[0].window``),
the bad value and what is allowed. Words from the vocabulary's enums are held as plain strings:
config objects travel to Spark executors and their values into Spark rows, and the JVM unpickles
a ``str`` but no enum. Validation needs no Spark, so a bad config never starts a cluster.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator, PlainValidator
from pydantic.json_schema import GenerateJsonSchema
from pydantic.types import StringConstraints
from pydantic_core import core_schema

from perfmon_spark.errors import ConfigError
from perfmon_spark.metrics import lookup, metric_names
from perfmon_spark.metrics.registry import split_k
from perfmon_spark.vocabulary import CROSS_SEP, OVERALL, ExtraVariance, Level, ProblemType, Trigger

GRANULARITIES = ("1 hour", "1 day", "1 week")
KPI_NAMES = ("label", "prediction", "score")  # what KPI expressions call the resolved values
_PATTERNS = {  # the patterns strings must match, and what a mismatch means
    r"\S": "must not be empty",
    r"^[A-Za-z0-9_.\-]+$": "{!r} may contain only letters, digits, '_', '-' and '.'",
    r"^[a-z][a-z0-9_]*$": "{!r} must be lower case letters, digits and '_', starting with a letter",
}
Text, Name, KpiName = (Annotated[str, StringConstraints(pattern=pattern)] for pattern in _PATTERNS)


def _words(enum: type[Enum]) -> Any:
    """The values of a vocabulary enum as a Literal: checked as the enum, held as plain strings."""
    return Literal[tuple(member.value for member in enum)]


class Invalid(ValueError):
    """A value that fails a check; ``key`` says where, below the value being validated."""

    def __init__(self, message: str, *key: str | int):
        super().__init__(message)
        self.key = key


def _sorted_pairs(value_type: Any, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    """A YAML mapping held as sorted ``(key, convert(value))`` pairs: hashable, whatever the key order."""
    pairs = AfterValidator(lambda d: tuple(sorted((k, convert(v)) for k, v in d.items())))
    return Annotated[dict[str, value_type], BeforeValidator(lambda v: dict(v) if isinstance(v, tuple) else v), pairs]


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_DURATION = re.compile(rf"^\s*(\d+)\s*({'|'.join(_UNITS)})s?\s*$")


@dataclass(frozen=True, order=True)
class Duration:
    """A whole number of a unit; ``text`` is the canonical spelling used in ``perf_metrics.window``.
    Durations compare by length: ``7 days == 1 week``."""

    seconds: int
    count: int = field(compare=False)
    unit: str = field(compare=False)

    @property
    def text(self) -> str:
        return f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @classmethod
    def parse(cls, value: Any) -> Duration:
        """``"30 days"`` -> Duration; raises Invalid unless ``"N unit"`` with N > 0 and a known unit."""
        if isinstance(value, cls):
            return value
        if (match := _DURATION.match(value) if isinstance(value, str) else None) is None:
            raise Invalid(
                f"invalid duration {value!r}; expected 'N unit' with unit in {', '.join(u + '(s)' for u in _UNITS)}"
            )
        if int(match[1]) <= 0:
            raise Invalid(f"duration {value!r} must be positive")
        return cls(seconds=int(match[1]) * _UNITS[match[2]], count=int(match[1]), unit=match[2])

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(cls.parse)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict:
        return {"type": "string", "title": "duration", "pattern": _DURATION.pattern}


_LABEL_COUNT = re.compile(r"^\s*(-?\d+)\s*labels?\s*$")


@dataclass(frozen=True, order=True)
class LabelCount:
    """A label-count window (``"1000 labels"``): for each bucket, the shortest trailing run of
    whole buckets that holds at least ``labels`` labelled predictions (``windows.finalise_slice``)."""

    labels: int

    @property
    def text(self) -> str:
        return f"{self.labels} labels"

    @classmethod
    def matches(cls, value: Any) -> bool:
        return isinstance(value, str) and _LABEL_COUNT.match(value) is not None

    @classmethod
    def parse(cls, value: Any) -> LabelCount:
        if isinstance(value, cls):
            return value
        count = int(_LABEL_COUNT.match(value)[1])
        if count < 1:
            raise Invalid(f"{value!r}: a label-count window needs N >= 1 in 'N labels'")
        return cls(count)


def _rolling_window(value: Any) -> Duration | LabelCount:
    """A rolling window: a duration, or ``"N labels"``."""
    return (
        LabelCount.parse(value) if isinstance(value, LabelCount) or LabelCount.matches(value) else Duration.parse(value)
    )


RollingWindow = Annotated[
    Duration | LabelCount,
    PlainValidator(
        _rolling_window,
        json_schema_input_type=Annotated[str, Field(pattern=f"{_DURATION.pattern}|{_LABEL_COUNT.pattern}")],
    ),
]


def parse_duration(value: Any, path: str) -> Duration:
    """``"30 days"`` -> Duration; anything else is a ConfigError naming ``path``."""
    try:
        return Duration.parse(value)
    except Invalid as e:
        raise ConfigError(f"{path}: {e}") from None


_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class TableRef:
    """A Delta table: a path (contains '/' or a URI scheme) or a metastore/catalog name."""

    text: str

    @property
    def is_path(self) -> bool:
        return "/" in self.text or _URI_SCHEME.match(self.text) is not None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        text = core_schema.no_info_before_validator_function(
            lambda v: v.text if isinstance(v, cls) else v, handler(Text)
        )
        return core_schema.no_info_after_validator_function(cls, text)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict:
        return {**handler(schema), "title": "table"}


def resolve_path(text: str, base: Path) -> str:
    """A relative path made absolute against ``base`` (the config file's folder); URIs
    (``s3://``, ``dbfs:/``) and catalog names are returned as they are.

    Spark resolves a relative path against the working directory of whichever process reads it,
    and SQL (``delta.`./x```) refuses it outright, so every path is made absolute once, here.
    """
    if not TableRef(text).is_path or _URI_SCHEME.match(text):
        return text
    return os.path.normpath(os.path.join(base, text))  # an absolute path is only normalised


def label_text(value: Any) -> str:
    """A label value as the text labels are matched by: ``True`` -> ``true``, ``1.0`` -> ``1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


class Section(BaseModel):
    """A mapping of the YAML: frozen, hashable (tuples, never lists), strict (a quoted "1" is no
    int), unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_default=True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Refused as by a frozen dataclass (pydantic's own refusal is a ValueError)."""
        if not name.startswith("_"):
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)


def _time_window(value: Any) -> str:
    if LabelCount.matches(value):
        raise Invalid(f"{value!r}: label-count windows carry no alert rules or KPI limits; give a time window")
    return Duration.parse(value).text


Window = Annotated[str, BeforeValidator(_time_window, json_schema_input_type=Duration)]
Cross = Annotated[tuple[Text, ...], Field(min_length=2)]
LabelValue = int | str | bool  # as YAML wrote it: strict, a quoted "1" is no int


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


Labels = Annotated[
    tuple[LabelValue, ...], BeforeValidator(_as_tuple, json_schema_input_type=LabelValue | list[LabelValue])
]
# ``timestamp_is_date`` of both tables: a date is a day, not an instant, so it is read only when asked to.
TimestampIsDate = Annotated[
    bool,
    Field(
        description="the timestamp column is a DATE (or a string date): each date counts from its midnight UTC; "
        "without this a DATE or string column is an input error"
    ),
]


class PredictionsConfig(Section):
    """The predictions table: one row per prediction."""

    table: TableRef = Field(description="a Delta table path (./lake/predictions, s3://...) or catalog name")
    id: Text | None = Field(None, description="column: unique per prediction (string or integer; not for ranking)")
    request: Text | None = Field(None, description="column, ranking: the ranked list's id")
    item: Text | None = Field(None, description="column, ranking: the item shown (a request and an item are one row)")
    rank: Text | None = Field(None, description="column, ranking: the item's position, 1 = top (else score orders)")
    timestamp: Text = Field(description="column: when the prediction was made")
    timestamp_is_date: TimestampIsDate = False
    model_version: Text = Field(description="column: the model version")
    score: Text | None = Field(None, description="column: binary: the positive class's score; regression: the value")
    prediction: Text | None = Field(None, description="column: binary: an optional 0/1 decision; multiclass: the class")
    threshold: float = Field(0.5, description="binary only: the decision is positive from this score on")
    score_type: Literal["probability", "logit", "margin"] = Field(
        "probability", description="probability: in [0, 1], others quarantined; logit, margin: any finite score"
    )
    probabilities: Text | None = Field(None, description="column, multiclass: a map or array of class probabilities")
    filter: Text | None = Field(None, description="an SQL predicate applied on read")


class LabelJoin(Section):
    """How a label finds its prediction."""

    mode: Literal["prediction_id", "entity_horizon"] = Field(
        "prediction_id", description="by labels.id, or entity_horizon: outcome events of an entity (binary)"
    )
    entity: Text | None = Field(None, description="entity_horizon: the entity column of both tables")
    horizon: Duration | None = Field(None, description="entity_horizon: an event this soon after is the label")

    @model_validator(mode="after")
    def _keys_of_mode(self) -> LabelJoin:
        if self.mode == "prediction_id" and self.model_fields_set & {"entity", "horizon"}:
            raise Invalid("entity and horizon apply to mode entity_horizon only")
        for key in ("entity", "horizon") if self.mode == "entity_horizon" else ():
            if getattr(self, key) is None:
                raise Invalid("required key is missing", key)
        return self


# The negative class that goes without saying for the usual spellings of the positive one.
_NEGATIVE_OF = {"1": "0", "0": "1", "true": "false", "false": "true", "yes": "no", "no": "yes", "y": "n"}
_NEGATIVE_OF |= {"positive": "negative", "pos": "neg"}


def _counterpart(data: dict[str, Any]) -> tuple[str, ...]:
    """The default ``labels.negative``: the counterpart of ``labels.positive``, if it has one."""
    negative = _NEGATIVE_OF.get(label_text(data.get("positive")))  # no positive: it failed validation
    return () if negative is None else (negative,)


class LabelsConfig(Section):
    """Where labels come from. With ``join.mode: entity_horizon`` the rows are outcome events of
    an entity (``id`` is then optional) and ``max_delay`` is the horizon: a prediction's label is
    final once its horizon has passed."""

    table: TableRef = Field(description="the Delta table of labels")
    id: Text | None = Field(None, description="column: the prediction's id (not with entity_horizon or ranking)")
    request: Text | None = Field(None, description="column, ranking: the request of the feedback event")
    item: Text | None = Field(None, description="column, ranking: the item of the feedback event")
    label: Text = Field(description="column: the label (ranking: the relevance, a number >= 0)")
    timestamp: Text = Field(description="column: when the label became known")
    timestamp_is_date: TimestampIsDate = False
    max_delay: Duration = Field("30 days", description="labels later than prediction time + max_delay are ignored")
    warn_ignored_share: float = Field(
        0.02,
        ge=0,
        le=1,
        description="warn (LATE_LABELS_IGNORED) when more than this share of the label events read arrived "
        "later than max_delay",
    )
    positive: LabelValue = Field(1, description="binary: the label value of the positive class")
    negative: Labels = Field(
        default_factory=_counterpart,
        description="binary: a value or a list (default: 0 for 1, false for true, no for yes)",
    )
    join: LabelJoin = Field({}, description="how a label finds its prediction")

    @model_validator(mode="before")
    @classmethod
    def _horizon_is_the_delay(cls, data: Any) -> Any:
        join = data.get("join") if isinstance(data, Mapping) else None
        join = join if isinstance(join, Mapping) else vars(join) if isinstance(join, LabelJoin) else {}
        if join.get("mode") != "entity_horizon" or join.get("horizon") is None:
            return data
        if "max_delay" in data:
            raise Invalid("not used with join mode entity_horizon (labels.join.horizon is the delay)", "max_delay")
        return {**data, "max_delay": join["horizon"]}

    @model_validator(mode="after")
    def _id_given(self) -> LabelsConfig:
        if self.id is None and self.join.mode == "prediction_id" and not (self.request or self.item):
            raise Invalid("required key is missing", "id")
        return self


class RankingConfig(Section):
    """Ranking metrics: the cut-offs and what a request without a relevant item counts as."""

    k: tuple[Annotated[int, Field(ge=1)], ...] = Field((5, 10), description="the cut-offs of the @k metrics")
    no_relevant: Literal["skip", "zero"] = Field(
        "skip", description="a request with no relevant item: left out of the averages, or counted as 0"
    )


class SegmentsConfig(Section):
    """The slices besides the overall one."""

    columns: tuple[Text, ...] = Field((), description="segment columns, each a slice of its own")
    cross: tuple[Cross, ...] = Field((), description="crossed segments, e.g. [[country, channel]]")
    max_values: int = Field(100, ge=1, description="the top values of a column by volume; the rest are __other__")


class WindowsConfig(Section):
    """The windows every metric is computed over."""

    granularity: Duration = Field("1 day", description="the tumbling bucket", json_schema_extra={"enum": GRANULARITIES})
    rolling: tuple[RollingWindow, ...] = Field(
        ("7 days", "28 days"), description="trailing windows, multiples of the bucket, or 'N labels'"
    )

    @field_validator("granularity")
    @classmethod
    def _supported(cls, granularity: Duration) -> Duration:
        if granularity.text not in GRANULARITIES:
            raise Invalid(f"unsupported {granularity.text!r}; allowed: {', '.join(GRANULARITIES)}")
        return granularity

    @field_validator("rolling")
    @classmethod
    def _multiples(cls, rolling: tuple[Duration | LabelCount, ...], info: Any) -> tuple[Duration | LabelCount, ...]:
        g = info.data.get("granularity")
        for i, d in enumerate(rolling if g else ()):
            if isinstance(d, Duration) and (d.seconds % g.seconds or d == g):
                raise Invalid(f"{d.text!r} must be a multiple of the granularity {g.text!r} and longer than it", i)
            if (same := next((r for r in rolling[:i] if r == d), None)) is not None:
                raise Invalid(f"duplicate window {d.text!r} (same as {same.text!r})", i)
        durations = sorted(d for d in rolling if isinstance(d, Duration))
        return (*durations, *sorted(d for d in rolling if isinstance(d, LabelCount)))

    @property
    def label_counts(self) -> tuple[LabelCount, ...]:
        return tuple(d for d in self.rolling if isinstance(d, LabelCount))


class AucConfig(Section):
    """How roc_auc is computed."""

    mode: Literal["sketch", "exact"] = Field("sketch", description="sketch: a bounded state; exact: every score")


class OutputConfig(Section):
    """Where the output tables go."""

    location: TableRef = Field(description="a folder for path tables, or a schema name (main.ml)")
    prefix: str = Field("", description="a prefix of every output table name")

    def table(self, name: str) -> TableRef:
        """The reference of output table ``name`` (prefixed) under ``location``."""
        if self.location.is_path:
            return TableRef(f"{self.location.text.rstrip('/')}/{self.prefix}{name}")
        return TableRef(f"{self.location.text}.{self.prefix}{name}")


class SparkConfig(Section):
    """The session perfmon starts itself (local runs); a cluster's own session is used as it is."""

    master: Text = Field("local[*]", description="the master of a session perfmon starts")
    conf: _sorted_pairs(str | int | float | bool, str) = Field({}, description="Spark settings of that session")


class RollingBaseline(Section):
    """A trailing reference period, lagged."""

    length: Duration = Field("90 days", description="the length of the reference period")
    lag: Duration = Field("14 days", description="how long before each window the reference period ends")


class BaselineConfig(Section):
    """Where each alert rule's reference value comes from."""

    source: Literal["values", "table", "window", "rolling"] = Field("window", description="one of the keys below")
    values: _sorted_pairs(float) = Field({}, description="source values: the training figure of each metric")
    table: TableRef | None = Field(None, description="source table: a Delta table of reference values")
    window: Duration = Field("14 days", description="source window: the first N days of each version")
    rolling: RollingBaseline = Field({}, description="source rolling: a trailing reference period")

    @property
    def rolling_length(self) -> Duration:
        return self.rolling.length

    @property
    def rolling_lag(self) -> Duration:
        return self.rolling.lag

    @model_validator(mode="after")
    def _table_given(self) -> BaselineConfig:
        if self.source == "table" and self.table is None:
            raise Invalid(
                "required with source: table (a Delta table of model_version, slice_key, slice_value, metric, value)",
                "table",
            )
        return self


class Threshold(Section):
    """A level of a rule: a window is beyond it when worse than baseline x ratio, or past an
    absolute ``max`` / ``min``; the level holds when enough of the last evaluated windows are."""

    ratio: float | None = Field(
        None, gt=0, lt=1, description="beyond: worse than baseline x ratio (/ ratio if smaller is better)"
    )
    max: float | None = Field(None, description="or beyond: above this value (no baseline)")
    min: float | None = Field(None, description="or beyond: below this value (no baseline)")
    consecutive: int = Field(1, description="holds after this many evaluated windows beyond it in a row")
    of: int | None = Field(None, description="or: holds when `of` of the last `within` evaluated windows are")
    within: int | None = Field(None, description="see of")

    @property
    def counts(self) -> tuple[int, int]:
        """(of, within): ``consecutive: N`` is N of N."""
        return (self.of, self.within) if self.of is not None else (self.consecutive, self.consecutive)

    @property
    def kind(self) -> str:
        """ratio, max or min: which of the three the level gives."""
        return next(k for k in ("ratio", "max", "min") if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_count(self) -> Threshold:
        given = [k for k in ("ratio", "max", "min") if getattr(self, k) is not None]
        if len(given) != 1:
            raise Invalid(f"give one of ratio, max or min; given: {', '.join(given) or 'none'}")
        given = self.model_fields_set & {"of", "within"}
        if given and "consecutive" in self.model_fields_set:
            raise Invalid("give either consecutive or of/within, not both")
        if len(given) == 1:
            raise Invalid("required key is missing", *({"of", "within"} - given))
        if not 1 <= self.counts[0] <= self.counts[1]:
            raise Invalid("need 1 <= of <= within (consecutive >= 1), got of={!r}, within={!r}".format(*self.counts))
        return self


class SustainedThreshold(Threshold):
    """The SUSTAINED level: one bad window is not yet sustained."""

    consecutive: int = Field(3, description="holds after this many evaluated windows beyond it in a row")


@dataclass(frozen=True)
class LevelRule:
    """A level of a rule as the evaluator reads it (see ``Threshold``)."""

    level: str  # a Level
    ratio: float | None  # None: an absolute limit
    of: int
    within: int
    limit: float | None = None  # max or min (the rule's ``absolute``)


MaturityWord = Literal["mature", "any"]


class MaturityPolicy(Section):
    """Which windows a rule evaluates: mature ones, any, or those with enough labels."""

    mode: Literal[MaturityWord, "min_coverage"] = Field("mature", description="implied by the YAML form")
    min_coverage: float | None = Field(
        None, gt=0, le=1, description="mature windows, and those with this label coverage"
    )

    @model_validator(mode="after")
    def _share_of_mode(self) -> MaturityPolicy:
        if (self.mode == "min_coverage") != (self.min_coverage is not None):
            raise Invalid("give {min_coverage: share} alone, or mature or any")
        return self


def _maturity(value: Any) -> Any:
    """YAML writes ``mature``, ``any`` or ``{min_coverage: share}``."""
    if isinstance(value, str) and value not in get_args(MaturityWord):
        raise Invalid(
            f"unknown value {value!r}; allowed: {', '.join(get_args(MaturityWord))}, or {{min_coverage: share}}"
        )
    if isinstance(value, str) or (isinstance(value, Mapping) and "min_coverage" in value):
        return {"mode": value} if isinstance(value, str) else {"mode": "min_coverage", **value}
    return value


Maturity = Annotated[MaturityPolicy, BeforeValidator(_maturity, json_schema_input_type=MaturityWord | MaturityPolicy)]


SliceWord = Literal["all", "overall"]


def _slices(value: Any) -> Any:
    """``all``, ``overall``, or a list of slice keys (as a tuple)."""
    if value in get_args(SliceWord):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(key, str) and key for key in value):
        return tuple(value)
    raise Invalid(f"unknown value {value!r}; allowed: {', '.join(get_args(SliceWord))}, or a list of slice keys")


class AlertRule(Section):
    """A rule: the metric, window and slices it watches, and its levels of getting worse."""

    name: Text = Field(description="unique among rules")
    metric: Text = Field(description="a configured metric or KPI")
    window: Window | None = Field(None, description="a computed window (default: the granularity)")
    slices: Annotated[str | tuple[str, ...], PlainValidator(_slices, json_schema_input_type=SliceWord | list[str])] = (
        Field("all", description="all, overall, or slice keys (country, country&channel; '*' for overall)")
    )
    minor: Threshold | None = Field(None, description="level MINOR (action LOG)")
    sustained: SustainedThreshold | None = Field(None, description="level SUSTAINED (action ALERT)")
    critical: Threshold | None = Field(None, description="level CRITICAL (action BLOCK_OR_ROLLBACK)")
    min_labeled: int = Field(
        200, ge=0, description="windows with fewer labels are not evaluated (proxy metrics: fewer predictions)"
    )
    min_positives: int | None = Field(
        None, ge=0, description="windows with fewer positive labels are not evaluated (default: by metric, README)"
    )
    min_negatives: int | None = Field(
        None, ge=0, description="windows with fewer negative labels are not evaluated (default: by metric, README)"
    )
    confidence: float | None = Field(
        0.95, ge=0.5, lt=1, description="a drop counts when significant at this level; null: the point value alone"
    )
    maturity: Maturity = Field("mature", description="mature, any, or {min_coverage: share}")
    extra_variance: _words(ExtraVariance) = Field(
        "moments",
        description="variation of windows beyond sampling error, from the reference period's windows and added "
        "to every comparison with the baseline: moments (observed minus sampling variance), robust (median-based) "
        "or none (docs/alerting.md)",
    )
    resolve_after: int = Field(3, ge=1, description="evaluated windows back on the good side before RESOLVED")

    @property
    def levels(self) -> tuple[LevelRule, ...]:
        """The configured levels, least severe first."""
        given = ((level, getattr(self, level.lower())) for level in Level)
        return tuple(
            LevelRule(level.value, t.ratio, *t.counts, limit=t.max if t.max is not None else t.min)
            for level, t in given
            if t is not None
        )

    @property
    def absolute(self) -> str | None:
        """max or min when the levels are absolute limits, None when they are ratios of a baseline."""
        kinds = {t.kind for t in (self.minor, self.sustained, self.critical) if t is not None}
        return None if kinds == {"ratio"} else kinds.pop()

    @model_validator(mode="after")
    def _some_level(self) -> AlertRule:
        if not self.levels:
            raise Invalid("give at least one level: minor, sustained or critical")
        kinds = {t.kind for t in (self.minor, self.sustained, self.critical) if t is not None}
        if len(kinds) > 1:
            raise Invalid(
                f"levels mix {' and '.join(sorted(kinds))}; give every level as ratio, or every one as max, or as min"
            )
        return self


class NotificationSink(Section):
    """A webhook; the URL is read from the environment variable ``url_env`` at delivery time."""

    type: Literal["webhook", "slack"] = Field(description='webhook: generic JSON; slack: {"text": ...}')
    url_env: Text = Field(description="the variable holding the URL (never printed or stored)")
    name: Text | None = Field(None, description="unique among sinks (default: '<type>:<url_env>')")
    levels: tuple[_words(Level), ...] = Field(("SUSTAINED", "CRITICAL"), description="the levels whose events are sent")
    timeout: Duration = Field("5 seconds", description="per attempt")
    retries: int = Field(3, ge=0, description="attempts after the first")

    @property
    def timeout_seconds(self) -> float:
        return float(self.timeout.seconds)

    @field_validator("name")
    @classmethod
    def _named(cls, name: str | None, info: Any) -> str:
        return name or f"{info.data.get('type')}:{info.data.get('url_env')}"


class Kpi(Section):
    """A business KPI: sum(numerator) / sum(denominator) over labeled predictions, both SQL
    expressions over the prediction columns plus ``label``, ``prediction`` and ``score``."""

    name: KpiName = Field(description="its name in perf_metrics.metric")
    numerator: Text = Field(description="SQL summed over labeled predictions")
    denominator: Text = Field(description="SQL summed over labeled predictions")
    larger_is_better: bool = Field(False, description="the direction alert rules use")
    max: float | None = Field(None, description="the upper limit the kpi retrain trigger checks")
    min: float | None = Field(None, description="the lower limit the kpi retrain trigger checks")
    window: Window | None = Field(None, description="the computed window it reads (default: the granularity)")
    min_labeled: int = Field(200, ge=0, description="windows with fewer labels do not count for the kpi trigger")


class DriftConfig(Section):
    """Feature drift: per-bucket histograms of input columns on bins fixed once from the first
    reference period, compared with each window's reference period (``drift_metrics``)."""

    features: tuple[Text, ...] = Field((), description="numeric prediction columns, binned at reference quantiles")
    categorical: tuple[Text, ...] = Field(
        (), description="categorical prediction columns, binned by the reference's top values"
    )
    bins: int = Field(20, ge=2, le=200, description="bins of a numeric feature (fewer where quantiles tie)")
    max_categories: int = Field(
        50, ge=1, le=1000, description="top values of a categorical feature; the rest are __other__"
    )
    psi_threshold: float = Field(
        0.2,
        gt=0,
        description="a PSI above this is drift where the size-aware test agrees (is_drifted, drift_performance)",
    )
    fdr: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="false discovery rate of the size-aware drift test over a window's features (Benjamini-Hochberg), "
        "and of the drift-with-drop correlation test over a metric's features",
    )
    correlation_windows: int = Field(
        10, ge=3, description="the last N tumbling windows over which drift is rank-correlated with the metric"
    )

    @property
    def columns(self) -> tuple[str, ...]:
        """Every drift column, numeric first."""
        return self.features + self.categorical


class EstimationConfig(Section):
    """How the estimated metrics (``estimated_*``) are back-tested against labels (``estimates_reliable``)."""

    backtest_period: Duration = Field(
        "28 days",
        description="a window's estimates are back-tested on the mature windows of the granularity ending in this period",
    )


class RetrainConfig(Section):
    """When a RETRAIN is recommended."""

    triggers: tuple[_words(Trigger), ...] = Field(("sustained", "critical"), description="what recommends a retrain")
    cooldown: Duration = Field("14 days", description="no RETRAIN of a version this soon after its last")
    min_new_labels: int = Field(0, ge=0, description="labels a version must gain since its last RETRAIN")
    max_one_per: Duration | None = Field(None, description="at most one RETRAIN of the monitor per such period")
    inactive_after: Duration | None = Field(None, description="a version with no prediction this long is INACTIVE")


class MonitorConfig(Section):
    """The whole, validated configuration of one monitor, built by ``load_config`` or ``parse_config``
    (a rule across sections may fill in defaults, which needs a validator that returns a copy)."""

    version: int = Field(description="of the config format", json_schema_extra={"const": 1})
    name: Name = Field(description="the monitor's name; a column of every output table")
    problem_type: _words(ProblemType) = Field(description="what the model predicts")
    predictions: PredictionsConfig = Field(description="the predictions table")
    labels: LabelsConfig = Field(description="the labels table")
    segments: SegmentsConfig = Field({}, description="the slices besides the overall one")
    metrics: tuple[Text, ...] = Field(description="metrics of the problem type (README: Metrics)")
    cross_segments: tuple[Cross, ...] = Field((), description="segments.cross, written here (give one of them)")
    windows: WindowsConfig = Field({}, description="the windows metrics are computed over")
    confidence_level: float = Field(0.95, ge=0.5, lt=1, description="of the intervals stored with each value")
    auc: AucConfig = Field({}, description="how roc_auc is computed")
    ranking: RankingConfig = Field({}, description="ranking only: the cut-offs and the no-relevant rule")
    output: OutputConfig = Field(description="where the output tables go")
    spark: SparkConfig = Field({}, description="only used when perfmon starts Spark itself (local runs)")
    strict: bool = Field(False, description="a run with warnings ends FAILED with exit 4 (as `perfmon run --strict`)")
    kpis: tuple[Kpi, ...] = Field((), description="business KPIs, computed like metrics")
    baseline: BaselineConfig = Field({}, description="the reference values of alert rules")
    alerts: tuple[AlertRule, ...] = Field((), description="alert rules")
    alerts_fdr: float | None = Field(
        0.05,
        gt=0,
        lt=1,
        description="false discovery rate over every series a run tests: SUSTAINED and CRITICAL are raised only "
        "where it passes; null: off",
    )
    notifications: tuple[NotificationSink, ...] = Field((), description="where alert events are sent")
    retrain: RetrainConfig = Field({}, description="when a RETRAIN is recommended")
    drift: DriftConfig = Field({}, description="feature drift, and its relation to the metrics")
    estimation: EstimationConfig = Field({}, description="how estimated metrics are back-tested")
    _source_hash: str = PrivateAttr("")

    @property
    def source_hash(self) -> str:
        """A hash of the YAML as validated (paths absolute, without ``UNHASHED``): a change means a
        full recompute."""
        return self._source_hash

    @property
    def window_lengths(self) -> tuple[Duration, ...]:
        """Every time window computed: the granularity (tumbling) then the rolling lengths (label-count
        windows are ``windows.label_counts``)."""
        return (self.windows.granularity, *(d for d in self.windows.rolling if isinstance(d, Duration)))

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric in ``perf_metrics``: the configured ones, then the KPIs."""
        return self.metrics + tuple(k.name for k in self.kpis)

    @property
    def decides(self) -> bool:
        """Whether runs write the alerting tables: with alert rules, or a KPI retrain trigger."""
        return bool(self.alerts) or (Trigger.KPI in self.retrain.triggers and bool(self.kpis))

    def larger_is_better(self, metric: str) -> bool | None:
        """The direction of a computed metric or KPI (from the registry or the KPI's config)."""
        kpi = next((k for k in self.kpis if k.name == metric), None)
        return kpi.larger_is_better if kpi is not None else lookup(self.problem_type, metric).larger_is_better

    def needs_labels(self, metric: str) -> bool:
        """False for a proxy metric, which reads every prediction and no label."""
        found = lookup(self.problem_type, metric)
        return found is None or found.labeled

    @property
    def inactive_after(self) -> Duration:
        """A version with no prediction for this long before as_of is INACTIVE: it keeps its
        ``model_status`` row but gets no retrain decision (default: the longest window)."""
        return self.retrain.inactive_after or max(self.window_lengths)

    @property
    def slice_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column tuples of every slice besides the overall one."""
        return tuple((c,) for c in self.segments.columns) + self.segments.cross

    @property
    def segment_columns(self) -> tuple[str, ...]:
        """Every column some slice reads, sorted: the columns of a cell."""
        return tuple(sorted({c for group in self.slice_keys for c in group}))

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != 1:
            raise Invalid(f"unsupported config version {version!r}; allowed: 1")
        return version

    @model_validator(mode="after")
    def _across_sections(self) -> MonitorConfig:
        """The rules that read more than one section; alert and KPI windows default to the granularity."""
        if self.cross_segments and self.segments.cross:
            raise Invalid("give crossed segments once, in segments.cross or cross_segments", "cross_segments")
        g = self.windows.granularity.text
        cfg = self.model_copy(
            update={
                "segments": self.segments.model_copy(update={"cross": self.segments.cross or self.cross_segments}),
                "cross_segments": (),
                "kpis": tuple(k.model_copy(update={"window": k.window or g}) for k in self.kpis),
                "alerts": tuple(r.model_copy(update={"window": r.window or g}) for r in self.alerts),
            }
        )
        if (broken := next(_broken_rules(cfg), None)) is not None:
            raise Invalid(broken[1], broken[0])
        return cfg


_RANKING_ONLY = {"predictions": ("request", "item", "rank"), "labels": ("request", "item")}


def _ranking_keys(cfg: MonitorConfig) -> Iterator[tuple[str, str]]:
    """A ranking row is (request, item), in both tables; other problem types have an id."""
    kind, p = cfg.problem_type, cfg.predictions
    if kind != ProblemType.RANKING:
        for section, keys in _RANKING_ONLY.items():
            for key in keys:
                if getattr(getattr(cfg, section), key) is not None:
                    yield f"{section}.{key}", f"applies to problem_type ranking only, not {kind}"
        if "ranking" in cfg.model_fields_set:
            yield "ranking", f"applies to problem_type ranking only, not {kind}"
        if p.id is None:
            yield "predictions.id", "required key is missing"
        return
    for section in ("predictions", "labels"):
        for key in ("request", "item"):
            if getattr(getattr(cfg, section), key) is None:
                yield f"{section}.{key}", "required for problem_type ranking (a row is a request and an item)"
        if getattr(cfg, section).id is not None:
            yield f"{section}.id", "not used with problem_type ranking (request and item identify a row)"
    if p.score is None and p.rank is None:
        yield "predictions.score", "required for problem_type ranking unless predictions.rank is given"
    if p.prediction is not None:
        yield "predictions.prediction", "not used with problem_type ranking (score or rank orders a list)"
    if cfg.kpis:
        yield "kpis", "not supported with problem_type ranking (its metrics are per request)"


_NEEDS = {  # what a metric's ``needs`` asks of predictions: (missing?, the message's words)
    "score": (lambda p: p.score is None, "predictions.score"),
    "probabilities": (lambda p: p.probabilities is None, "predictions.probabilities (a map or array column)"),
    "probability": (
        lambda p: p.score is None or p.score_type != "probability",
        "probability scores (predictions.score with score_type: probability)",
    ),
}
_DUPLICATES = {
    "metrics": "metric",
    "segments.columns": "entries of column",
    "segments.cross": "entries of crossed segment",
}
_DUPLICATES |= {"kpis": "KPI name", "alerts": "rule name", "notifications": "sink name"}
_DUPLICATES |= {"drift.features": "feature", "drift.categorical": "feature"}


def _broken_rules(cfg: MonitorConfig) -> Iterator[tuple[str, str]]:
    """(key path, message) of every rule across sections that ``cfg`` breaks, in the keys' order."""
    kind, p, labels, binary = cfg.problem_type, cfg.predictions, cfg.labels, cfg.problem_type == ProblemType.BINARY
    yield from _ranking_keys(cfg)
    if kind != ProblemType.RANKING and p.score is None and p.prediction is None:
        yield f"predictions.{'prediction' if kind == 'multiclass' else 'score'}", f"required for problem_type {kind}"
    if kind == ProblemType.MULTICLASS and p.prediction is None:
        yield "predictions.prediction", "required for problem_type multiclass (the predicted class)"
    if not binary and labels.join.mode == "entity_horizon":
        yield "labels.join.mode", f"entity_horizon applies to binary only, not {kind}"
    for section, key in (("predictions", "threshold"), ("labels", "positive"), ("labels", "negative")):
        if not binary and key in getattr(cfg, section).model_fields_set:
            yield f"{section}.{key}", f"applies to binary only, not {kind}"
    if not labels.negative and "negative" not in labels.model_fields_set:
        yield (
            "labels.negative",
            f"required when labels.positive is {labels.positive!r} (give the label value, or list of values, of the negative class; any other value goes to quarantine as bad_label)",
        )
    if not labels.negative or any(label_text(v) == label_text(labels.positive) for v in labels.negative):
        yield "labels.negative", f"{list(labels.negative)!r} must name at least one value other than labels.positive"
    names = {key: tuple(item.name for item in getattr(cfg, key)) for key in ("kpis", "alerts", "notifications")}
    names |= {"metrics": cfg.metrics, "segments.columns": cfg.segments.columns, "segments.cross": cfg.segments.cross}
    names |= {"drift.features": cfg.drift.features, "drift.categorical": cfg.drift.categorical}
    for path, items in names.items():
        if (dup := next((n for i, n in enumerate(items) if n in items[:i]), None)) is not None:
            yield path, f"duplicate {_DUPLICATES[path]} {dup!r}"
    known = f"known for {kind}: {', '.join(metric_names(kind))}"
    if not cfg.metrics:
        yield "metrics", f"list at least one metric; {known}"
    for i, name in enumerate(cfg.metrics):
        if (metric := lookup(kind, name)) is None:
            yield f"metrics[{i}]", f"unknown metric {name!r}; {known}"
        elif metric.per_k and split_k(name)[1] not in cfg.ranking.k:
            yield f"metrics[{i}]", f"{name!r}: k = {split_k(name)[1]} is not in ranking.k {list(cfg.ranking.k)}"
        elif metric.needs in _NEEDS and _NEEDS[metric.needs][0](p):
            yield f"metrics[{i}]", f"{name!r} needs {_NEEDS[metric.needs][1]}"
    computed = sorted(w.text for w in cfg.window_lengths)
    for path, item in [
        *((f"kpis[{i}]", k) for i, k in enumerate(cfg.kpis)),
        *((f"alerts[{i}]", r) for i, r in enumerate(cfg.alerts)),
    ]:
        if item.window not in computed:
            yield f"{path}.window", f"{item.window!r} is not computed; computed windows: {', '.join(computed)}"
    for i, kpi in enumerate(cfg.kpis):
        if lookup(kind, kpi.name) is not None:
            yield f"kpis[{i}].name", f"{kpi.name!r} is a metric name; give the KPI its own name"
    slices, b = sorted(CROSS_SEP.join(key) for key in cfg.slice_keys), cfg.baseline
    for i, rule in enumerate(cfg.alerts):
        metric = lookup(kind, rule.metric)
        if rule.metric not in cfg.metric_names:
            yield (
                f"alerts[{i}].metric",
                f"{rule.metric!r} is not computed; computed metrics and KPIs: {', '.join(cfg.metric_names)}",
            )
        elif metric is not None and metric.larger_is_better is None and rule.absolute is None:
            yield (
                f"alerts[{i}].metric",
                f"{rule.metric!r} has no better direction: give its levels as max or min, not ratio",
            )
        for j, key in enumerate(() if isinstance(rule.slices, str) else rule.slices):
            if key not in slices and key != OVERALL:
                yield (
                    f"alerts[{i}].slices[{j}]",
                    f"{key!r} is not a configured segment; configured: {', '.join(slices) or 'none'}",
                )
        if rule.confidence is not None and metric is not None and metric.interval is None:
            yield (
                f"alerts[{i}].confidence",
                f"{rule.metric!r} has no confidence interval; set confidence: null to compare point values",
            )
        if b.source == "values" and rule.absolute is None and rule.metric not in dict(b.values):
            yield (
                f"alerts[{i}].metric",
                f"no baseline for {rule.metric!r} in baseline.values; given: {', '.join(dict(b.values)) or 'none'}",
            )
    g = cfg.windows.granularity
    used = {
        "window": {"window": b.window},
        "rolling": {"rolling.length": b.rolling.length, "rolling.lag": b.rolling.lag},
    }
    for key, d in used.get(b.source, {}).items():
        if d.seconds % g.seconds:
            yield f"baseline.{key}", f"{d.text!r} must be a multiple of the granularity {g.text!r}"
    if (d := cfg.estimation.backtest_period).seconds % g.seconds:
        yield "estimation.backtest_period", f"{d.text!r} must be a multiple of the granularity {g.text!r}"
    for i, column in enumerate(cfg.drift.categorical):
        if column in cfg.drift.features:
            yield f"drift.categorical[{i}]", f"{column!r} is also in drift.features; give a column in one list"
    for j, trigger in enumerate(cfg.retrain.triggers):
        if trigger == Trigger.DRIFT_AND_DECAY and not cfg.drift.columns:
            yield f"retrain.triggers[{j}]", "'drift_and_decay' needs drift.features or drift.categorical"
        if trigger == Trigger.KPI and not any(k.max is not None or k.min is not None for k in cfg.kpis):
            yield f"retrain.triggers[{j}]", "'kpi' needs a KPI with a max or min in kpis"


def load_config(path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None) -> MonitorConfig:
    """Read and validate a YAML config file; relative table paths are relative to its folder.

    The file's values are read in three steps, each working on what YAML parsed: ``overrides``
    (``perfmon ... --set KEY=VALUE``) replace values by key path (``with_overrides``), then
    ``${VAR}`` references are resolved from ``env`` (``interpolate``), then the result is validated
    and hashed by ``parse_config``. So a value given by ``--set`` or by a variable is validated and
    hashed exactly as if it had been written in the file.

    Args:
        path: the YAML file.
        overrides: ``KEY=VALUE`` texts, applied in order (a later one wins).
        env: where ``${VAR}`` is looked up (default: the process environment).

    Raises:
        ConfigError: unreadable file, bad YAML, a bad override or reference, or any invalid key or value.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(e, 'problem', e)}") from e
    if isinstance(data, Mapping):  # anything else is parse_config's error
        data = interpolate(with_overrides(data, overrides), os.environ if env is None else env)
    return parse_config(data, base_dir=Path(path).resolve().parent)


def yaml_value(text: str) -> Any:
    """``text`` read as YAML reads a value written after a key: what ``--set KEY=VALUE`` and a
    whole-value ``${VAR}`` give. Text YAML cannot read as one value stays text, and so does a
    comment (YAML would read ``#abc`` as null); empty text is the empty string (``null`` is null).

    >>> yaml_value("0.9"), yaml_value("true"), yaml_value("[7 days, 28 days]"), yaml_value("main.ml")
    (0.9, True, ['7 days', '28 days'], 'main.ml')
    >>> yaml_value("{ratio: 0.9}"), yaml_value("null"), yaml_value("a: b: c"), yaml_value("#abc")
    ({'ratio': 0.9}, None, 'a: b: c', '#abc')
    """
    if not text.strip():
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if value is None and text.strip() not in ("~", "null", "Null", "NULL"):
        return text
    return value


def key_path(loc: Sequence[str | int]) -> str:
    """``("alerts", 0, "minor")`` -> ``alerts[0].minor``: how errors name a key."""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).removeprefix(".")


# ``$${`` (a literal ``${``) or a reference, closed or not: what ``interpolate`` looks at
_DOLLAR = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def interpolate(data: Any, env: Mapping[str, str], loc: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``data`` with ``${VAR}`` and ``${VAR:-default}`` in its string values replaced by
    the environment variable's value (the default where the variable is unset or empty); ``$${``
    is a literal ``${``, any other ``$`` is kept. A value that is one reference and nothing else
    is then read as YAML reads a value (``yaml_value``): ``threshold: ${T}`` with ``T=0.9`` is the
    number 0.9, as if ``0.9`` were written there. Keys are not interpolated, nor are the values
    a variable brings in (one pass).

    >>> interpolate({"output": {"location": "${CAT}.${SCHEMA:-ml}"}, "t": "${T}"}, {"CAT": "main", "T": "0.9"})
    {'output': {'location': 'main.ml'}, 't': 0.9}
    >>> interpolate({"filter": "note = '$${x}'"}, {})
    {'filter': "note = '${x}'"}

    Raises:
        ConfigError: an unset variable without default, or a malformed reference; the line names
            the key path and the variable.
    """
    if isinstance(data, Mapping):
        return {k: interpolate(v, env, (*loc, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, (*loc, i)) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def resolve(match: re.Match) -> str:
        if match[0] == "$${":
            return "${"
        ref = _REFERENCE.fullmatch(match["body"])
        if ref is None or match["close"] is None:
            raise ConfigError(
                f"{key_path(loc) or 'config'}: invalid reference {match[0]!r}; write ${{NAME}} or "
                "${NAME:-default} (NAME: letters, digits, '_'), or $${ for a literal ${"
            )
        value = env.get(ref["name"])
        if not value and ref["default"] is not None:
            return ref["default"]
        if value is None:
            raise ConfigError(
                f"{key_path(loc) or 'config'}: environment variable {ref['name']!r} is not set "
                f"(write ${{{ref['name']}:-default}} to give a default)"
            )
        return value

    text = _DOLLAR.sub(resolve, data)
    whole = _DOLLAR.fullmatch(data)
    return yaml_value(text) if whole is not None and whole[0] != "$${" else text


_KEY_STEP = re.compile(r"(?P<dot>\.?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+)\]")


def override_path(key: str) -> tuple[str | int, ...]:
    """The steps of a ``--set`` key path (``alerts[0].minor.ratio`` -> ``("alerts", 0, "minor",
    "ratio")``), checked against the config's schema: every key must exist where it stands, and a
    list item is ``[i]``. Below a mapping of free keys (``spark.conf``, ``baseline.values``) the
    rest of the path is one key, dots and brackets included (``spark.conf.spark.sql.shuffle.partitions``).

    Raises:
        ConfigError: not a key path, an unknown key (with the closest known one), or a key or
            index where the schema has a value of another shape.
    """
    if not key:
        raise ConfigError("--set: give a key path before '=', e.g. output.location=main.ml")
    schema, loc, pos = json_schema(), [], 0
    while pos < len(key):
        shapes, where = _at(schema, tuple(loc)), key_path(loc) or "the config"
        known = list(dict.fromkeys(k for s in shapes for k in s.get("properties", {})))
        is_list = any("items" in s for s in shapes)
        rest = key[pos:]
        if loc and not known and any(isinstance(s.get("additionalProperties"), dict) for s in shapes):
            if not rest.startswith(".") or len(rest) == 1:
                break  # not a key path
            return (*loc, rest[1:])
        match = _KEY_STEP.match(key, pos)
        if match is None or bool(match["dot"]) != (pos > 0 and match["key"] is not None):
            break
        if match["key"] is not None and not known:
            shape = f"a list: give an item's index, e.g. {where}[0]" if is_list else "a single value, not a mapping"
            raise ConfigError(f"--set {key}: {where} is {shape}")
        if match["key"] is not None and match["key"] not in known:
            raise ConfigError(f"--set {key_path((*loc, match['key']))}: {unknown_key(match['key'], known)}")
        if match["index"] is not None and not is_list:
            raise ConfigError(f"--set {key}: {where} is not a list")
        loc.append(match["key"] if match["key"] is not None else int(match["index"]))
        pos = match.end()
    else:
        return tuple(loc)
    raise ConfigError(
        f"--set {key}: not a key path; give keys joined by '.' and list items as [i], e.g. alerts[0].minor.ratio"
    )


def _tree_copy(value: Any) -> Any:
    """A copy of the mappings and lists of parsed YAML that shares none of them (``copy.deepcopy``
    would keep an alias an alias)."""
    if isinstance(value, Mapping):
        return {k: _tree_copy(v) for k, v in value.items()}
    return [_tree_copy(v) for v in value] if isinstance(value, list) else value


def with_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``KEY=VALUE`` of ``overrides`` applied: the value (read by
    ``yaml_value``) replaces, or adds, the one at the key path (``override_path``). Mappings on the
    way are created where the file has none (or null); a list item must exist. A mapping or list
    the file writes once and refers to twice (a YAML anchor and alias) is copied apart, so an
    override changes the place it names only.

    >>> with_overrides({"alerts": [{"minor": {"ratio": 0.9}}]}, ["alerts[0].minor.ratio=0.8", "output.location=main.ml"])
    {'alerts': [{'minor': {'ratio': 0.8}}], 'output': {'location': 'main.ml'}}

    Raises:
        ConfigError: no ``=``, a bad key path (``override_path``), an index beyond a list's end,
            or a step through a value that is not a mapping or list.
    """
    data = _tree_copy(dict(data))
    for text in overrides:
        key, equals, value = text.partition("=")
        if not equals:
            raise ConfigError(f"--set: expected KEY=VALUE, got {text!r}")
        loc = override_path(key.strip())
        node: Any = data
        for depth, step in enumerate(loc):
            where = key_path(loc[:depth])
            shown = "a mapping" if isinstance(node, dict) else "a list" if isinstance(node, list) else repr(node)
            if isinstance(step, int) and not isinstance(node, list):
                raise ConfigError(f"--set {key_path(loc)}: {where} is {shown}, not a list")
            if isinstance(step, int) and step >= len(node):
                raise ConfigError(
                    f"--set {key_path(loc)}: index {step} is beyond the end of {where} ({len(node)} items)"
                )
            if isinstance(step, str) and not isinstance(node, dict):
                raise ConfigError(f"--set {key_path(loc)}: {where} is {shown}, not a mapping; set {where} itself")
            if depth == len(loc) - 1:
                node[step] = yaml_value(value)
            else:
                child = node[step] if isinstance(step, int) else node.get(step)
                if child is None:
                    child = [] if isinstance(loc[depth + 1], int) else {}
                    node[step] = child
                node = child
    return data


# Dotted key paths that change how a run is executed or reported, never a value it writes: tuning the
# session (memory, shuffle partitions), failing on warnings or warning sooner must not cost a full
# recompute.
UNHASHED = ("spark", "strict", "labels.warn_ignored_share")


def parse_config(data: Any, base_dir: str | Path | None = None) -> MonitorConfig:
    """Validate an already-parsed mapping; see ``load_config``.

    The mapping is validated as JSON, the text ``source_hash`` hashes: JSON has lists where the
    objects have tuples, so strict validation takes no coercion but that one.

    Args:
        data: the YAML as Python values.
        base_dir: the folder relative table paths are resolved against (default: the working
            directory).

    Raises:
        ConfigError: one line naming the key path, the bad value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: expected a mapping, got {type(data).__name__} {data!r}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    data = dict(data)
    for section, key in _path_keys():  # a relative and an absolute path to a table are one config
        value = data.get(section)
        if isinstance(value, Mapping) and isinstance(value.get(key), str) and value[key].strip():
            data[section] = {**value, key: resolve_path(value[key], base)}
    text = json.dumps(data, sort_keys=True, default=str)
    try:
        cfg = MonitorConfig.model_validate_json(text)
    except ValidationError as e:
        raise _one_line(e) from e
    hashed = json.dumps(_without(data, UNHASHED), sort_keys=True, default=str)
    cfg._source_hash = hashlib.sha256(hashed.encode()).hexdigest()[:16]
    return cfg


def _without(data: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` without the keys at the dotted ``paths`` (``labels.warn_ignored_share``):
    what ``source_hash`` hashes. ``data`` is left as it is."""
    kept = {}
    for key, value in data.items():
        if key in paths:
            continue
        inner = tuple(p.removeprefix(f"{key}.") for p in paths if p.startswith(f"{key}."))
        kept[key] = _without(value, inner) if inner and isinstance(value, Mapping) else value
    return kept


def _path_keys() -> Iterator[tuple[str, str]]:
    """(section, key) of every table reference."""
    for section, info in MonitorConfig.model_fields.items():
        for key, f in getattr(info.annotation, "model_fields", {}).items():
            if TableRef in (f.annotation, *getattr(f.annotation, "__args__", ())):
                yield section, key


# pydantic's type errors, by the YAML type that was expected
_EXPECTED = {"int_type": "int", "float_type": "int or float", "string_type": "str", "bool_type": "bool"}
_EXPECTED |= {"model_type": "dict", "dict_type": "dict", "tuple_type": "list"}
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _one_line(error: ValidationError) -> ConfigError:
    """The first error as ``path: what is wrong with the value; what is allowed``; the allowed
    values and bounds are read from the schema, as the reference shows them."""
    errors = error.errors()
    loc, kind, value, ctx = errors[0]["loc"], errors[0]["type"], errors[0].get("input"), errors[0].get("ctx", {})
    schema = json_schema()
    if loc and loc[-1] in ("int", "str", "float", "bool"):  # pydantic names a union's members in the path
        kinds = [e["loc"][-1] for e in errors if e["loc"][:-1] == loc[:-1]]
        loc, message = loc[:-1], f"expected {' or '.join(kinds)}, got {type(value).__name__} {value!r}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        message = unknown_key(str(loc[-1]), next(o["properties"] for o in _at(schema, loc[:-1]) if "properties" in o))
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {type(value).__name__} {value!r}"
    elif kind == "literal_error":  # an unknown item of ``levels`` is an unknown level
        noun = str(loc[-2]).removesuffix("s") if isinstance(loc[-1], int) else "value"
        message = f"unknown {noun} {value!r}; allowed: {_allowed(schema, _at(schema, loc))}"
    elif kind in _BOUND_ERRORS:
        allowed = _allowed(schema, _at(schema, loc))
        message = f"{value!r} must be {'in ' if ',' in allowed else ''}{allowed}"
    elif kind == "string_pattern_mismatch":
        message = _PATTERNS[ctx["pattern"]].format(value)
    elif kind == "too_short":  # only a crossed segment has a least length
        message = f"expected a list of {ctx['min_length']} or more column names, got {value!r}"
    else:  # our own checks (Invalid), and anything pydantic words itself
        loc += getattr(ctx.get("error"), "key", ())
        message = str(ctx["error"]) if "error" in ctx else errors[0]["msg"]
    return ConfigError(f"{key_path(loc) or 'config'}: {message}")


def unknown_key(key: str, known: Iterable[str]) -> str:
    """What is wrong with an unknown key: the closest known key (a typo is the usual cause), then
    every known one, in the schema's order."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}; {hint}known keys: {', '.join(known)}"


class _Untitled(GenerateJsonSchema):
    """Without the titles pydantic derives from field names (``"Max Delay"``): noise in an editor."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a config file: what ``perfmon schema`` prints."""
    schema = MonitorConfig.model_json_schema(schema_generator=_Untitled)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def reference_markdown() -> str:
    """Every key path with its type, default, allowed values and doc, as a markdown table."""
    schema = json_schema()
    lines = ["| key | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    for path, prop, required in _keys(schema, schema, ""):
        default = "required" if required else _yaml(prop["default"]) if "default" in prop else ""
        shapes = _shapes(schema, prop)
        cells = (f"`{path}`", _kind(schema, shapes), default, _allowed(schema, shapes), prop.get("description", ""))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _shapes(schema: dict, node: dict) -> list[dict]:
    """The shapes a value may take: ``anyOf`` options flattened, references resolved."""
    node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node
    return [shape for option in node["anyOf"] for shape in _shapes(schema, option)] if "anyOf" in node else [node]


def _at(schema: dict, loc: tuple) -> list[dict]:
    """The shapes of the value at ``loc`` (keys and list indexes) of a config."""
    shapes = _shapes(schema, schema)
    for key in loc:
        inner = (s.get("items") if isinstance(key, int) else s.get("properties", {}).get(key) for s in shapes)
        shapes = [shape for node in inner if node for shape in _shapes(schema, node)]
    return shapes


def _keys(schema: dict, node: dict, prefix: str) -> Iterator[tuple[str, dict, bool]]:
    """(path, property, required) of every key below ``node``, depth first; ``[]`` for list items."""
    for shape in _shapes(schema, node):
        if "items" in shape:
            yield from _keys(schema, shape["items"], prefix + "[]")
        for key, prop in shape.get("properties", {}).items():
            path = f"{prefix}.{key}".removeprefix(".")
            yield path, prop, key in shape.get("required", ())
            yield from _keys(schema, prop, path)


def _kind(schema: dict, shapes: list[dict]) -> str:
    def kind(s: dict) -> str:
        if "items" in s or isinstance(s.get("additionalProperties"), dict):
            inner = _shapes(schema, s.get("items") or s["additionalProperties"])
            return f"{'list of' if 'items' in s else 'mapping to'} {_kind(schema, inner)}"
        return "mapping" if "properties" in s else s.get("title", s.get("type", "any"))

    return " or ".join(dict.fromkeys(kind(s) for s in shapes))


def _allowed(schema: dict, shapes: list[dict]) -> str:
    """Enum values and bounds (``[0.5, 1)``, ``>= 1``), as the reference and the errors show them."""
    parts = []
    for s in shapes:
        low = next((f"{b}{s[k]:g}" for k, b in (("minimum", "["), ("exclusiveMinimum", "(")) if k in s), "")
        high = next((f"{s[k]:g}{b}" for k, b in (("maximum", "]"), ("exclusiveMaximum", ")")) if k in s), "")
        parts += [
            ", ".join(map(_yaml, s.get("enum", ()))),
            f"{low}, {high}" if high else f"{'>=' if low[:1] == '[' else '>'} {low[1:]}" if low else "",
        ]
        parts += [_allowed(schema, _shapes(schema, s["items"]))] if "items" in s else []
    return "; ".join(p for p in parts if p)


def _yaml(value: Any) -> str:
    """A value as YAML writes it inline."""
    if isinstance(value, list):
        return f"[{', '.join(map(_yaml, value))}]"
    return value if isinstance(value, str) and value else json.dumps(value)
