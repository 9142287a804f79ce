"""The declarations: every key of the YAML as a field of a frozen pydantic model, ``MonitorConfig``
and its sections, with its type, default, allowed values and one-line doc, and the checks that read
one section. The JSON Schema, the reference and the errors' "what is allowed" are read from these
fields (``schema``); the checks that read more than one section are ``rules``.

A config is one class per problem type (``CONFIGS``, a union pydantic chooses from by
``problem_type``), each a ``MonitorConfig`` with the top-level sections only its type reads
(``ranking``), so that the JSON Schema has a branch per type and each branch refuses the others'
sections.

The models mirror the YAML; what the job reads in another shape (``AlertRule.levels``,
``window_lengths``) is a property. Words from the vocabulary's enums are held as plain strings:
config objects travel to Spark executors and their values into Spark rows, and the JVM unpickles
a ``str`` but no enum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, field_validator, model_validator
from pydantic.functional_validators import BeforeValidator, PlainValidator

from perfmon_spark.config.rules import broken_rules, comparable
from perfmon_spark.config.types import (
    Cross,
    Duration,
    Invalid,
    KpiName,
    LabelCount,
    Labels,
    LabelValue,
    Name,
    RollingWindow,
    TableRef,
    Text,
    Window,
    label_text,
    sorted_pairs,
    words,
)
from perfmon_spark.metrics import lookup
from perfmon_spark.vocabulary import ExtraVariance, Level, ProblemType, Trigger

GRANULARITIES = ("1 hour", "1 day", "1 week")
KPI_NAMES = ("label", "prediction", "score")  # what KPI expressions call the resolved values


class Section(BaseModel):
    """A mapping of the YAML: frozen, hashable (tuples, never lists), strict (a quoted "1" is no
    int), unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_default=True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Refused as by a frozen dataclass (pydantic's own refusal is a ValueError)."""
        if not name.startswith("_"):
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)


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


# The least ``output.retention``: a reader still reading an output table version (a run, a dashboard's
# query) needs the files a later commit removed until it is done; Delta's own VACUUM check refuses less
# than its default ``delta.deletedFileRetentionDuration``, 7 days, for the same reason (``maintain``).
MIN_RETENTION = Duration.parse("7 days")


class OutputConfig(Section):
    """Where the output tables go, and how long perfmon maintain keeps the files they removed."""

    location: TableRef = Field(description="a folder for path tables, or a schema name (main.ml)")
    prefix: str = Field("", description="a prefix of every output table name")
    retention: Duration = Field(
        "7 days",
        description=f"how long perfmon maintain keeps the files an output table removed (at least "
        f"{MIN_RETENTION.text}: a reader still reading an older version needs them); it raises a table's "
        "delta.deletedFileRetentionDuration to this, never lowers it",
    )

    @field_validator("retention")
    @classmethod
    def _long_enough(cls, retention: Duration) -> Duration:
        if retention < MIN_RETENTION:
            raise Invalid(
                f"{retention.text!r} is shorter than {MIN_RETENTION.text}, the least VACUUM may keep: a run or a "
                "query still reading an older version of an output table needs the files later commits removed"
            )
        return retention

    def table(self, name: str) -> TableRef:
        """The reference of output table ``name`` (prefixed) under ``location``."""
        if self.location.is_path:
            return TableRef(f"{self.location.text.rstrip('/')}/{self.prefix}{name}")
        return TableRef(f"{self.location.text}.{self.prefix}{name}")


class SparkConfig(Section):
    """The session perfmon starts itself (local runs); a cluster's own session is used as it is."""

    master: Text = Field("local[*]", description="the master of a session perfmon starts")
    conf: sorted_pairs(str | int | float | bool, str) = Field({}, description="Spark settings of that session")


class RollingBaseline(Section):
    """A trailing reference period, lagged."""

    length: Duration = Field("90 days", description="the length of the reference period")
    lag: Duration = Field("14 days", description="how long before each window the reference period ends")


class BaselineConfig(Section):
    """Where each alert rule's reference value comes from."""

    source: Literal["values", "table", "window", "rolling"] = Field("window", description="one of the keys below")
    values: sorted_pairs(float) = Field({}, description="source values: the training figure of each metric")
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
        missing = sorted(k for k in given if getattr(self, k) is None)
        if missing:
            raise Invalid("must be a whole number of windows, not null", missing[0])
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
    extra_variance: words(ExtraVariance) = Field(
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
    levels: tuple[words(Level), ...] = Field(("SUSTAINED", "CRITICAL"), description="the levels whose events are sent")
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


class RegistryConfig(Section):
    """The MLflow model registry that says which version serves (``perfmon_spark.registry``): its
    aliases are read at the start of each run and by ``perfmon rollback``, which moves the
    champion alias."""

    model: Text = Field(description="the registered model's name (Unity Catalog: catalog.schema.model)")
    champion_alias: Text = Field("champion", description="the alias of the version serving")
    challenger_alias: Text | None = Field(
        "challenger", description="the alias of a version compared with the champion (an unset alias: none)"
    )
    version_format: Text = Field(
        "{version}",
        description="how a registry version number is written in the predictions' model_version, e.g. v{version}",
    )
    uri: Text | None = Field(
        None,
        description="the registry's URI (default: MLflow's own, from MLFLOW_REGISTRY_URI or MLFLOW_TRACKING_URI, "
        "or on Databricks the workspace's); databricks-uc for Unity Catalog",
    )

    @field_validator("version_format")
    @classmethod
    def _one_placeholder(cls, text: str) -> str:
        rest = text.replace("{version}", "", 1)
        if "{version}" not in text or "{" in rest or "}" in rest:
            raise Invalid(f"{text!r} must hold {{version}} once and no other braces, e.g. 'v{{version}}'")
        return text


class VersionsConfig(Section):
    """Champion and challengers compared on the same windows and the champion's mix of slices
    (``version_comparison``; ``metrics.comparison`` says how), and the controls of ``perfmon
    rollback``."""

    champion: Text | None = Field(
        None,
        description="the model version serving (the one the others are compared with); with registry, its "
        "champion_alias says it",
    )
    challengers: tuple[Text, ...] = Field((), description="the versions compared with the champion")
    metrics: tuple[Text, ...] = Field(
        (), description="metrics compared, each with an interval and a better direction (default: the alert rules')"
    )
    stratify_by: Text | None = Field(
        None, description="the segment column whose mix is standardised to the champion's (default: the first)"
    )
    margin: float = Field(
        0.01, ge=0, description="non-inferiority margin in the metric's units: worse by less is NOT_WORSE"
    )
    min_labeled: int = Field(30, ge=1, description="labels each side needs for a verdict other than INCONCLUSIVE")
    rollback_cooldown: Duration = Field(
        "7 days", description="perfmon rollback refuses a rollback this soon after the monitor's last one"
    )
    registry: RegistryConfig | None = Field(
        None, description="resolve the champion and a challenger from MLflow aliases (the mlflow extra)"
    )

    @property
    def enabled(self) -> bool:
        return self.champion is not None or self.registry is not None


class RetrainConfig(Section):
    """When a RETRAIN is recommended."""

    triggers: tuple[words(Trigger), ...] = Field(("sustained", "critical"), description="what recommends a retrain")
    cooldown: Duration = Field("14 days", description="no RETRAIN of a version this soon after its last")
    min_new_labels: int = Field(0, ge=0, description="labels a version must gain since its last RETRAIN")
    max_one_per: Duration | None = Field(None, description="at most one RETRAIN of the monitor per such period")
    inactive_after: Duration | None = Field(None, description="a version with no prediction this long is INACTIVE")


def _problem_type(*kinds: ProblemType) -> Any:
    """``problem_type`` holding one of ``kinds``: all of them in ``MonitorConfig``, which code reads
    it from, and one in each problem type's class, where it is the tag ``CONFIGS`` chooses by."""
    return Annotated[Literal[tuple(kind.value for kind in kinds)], Field(description="what the model predicts")]


class MonitorConfig(Section):
    """The whole, validated configuration of one monitor, built by ``load_config`` or ``parse_config``
    (a rule across sections may fill in defaults, which needs a validator that returns a copy).

    The keys of every problem type; a config is an instance of the subclass of its type (``CONFIGS``),
    never of this class itself, which code names as "any config".
    """

    version: int = Field(description="of the config format", json_schema_extra={"const": 1})
    name: Name = Field(description="the monitor's name; a column of every output table")
    problem_type: _problem_type(*ProblemType)
    predictions: PredictionsConfig = Field(description="the predictions table")
    labels: LabelsConfig = Field(description="the labels table")
    segments: SegmentsConfig = Field({}, description="the slices besides the overall one")
    metrics: tuple[Text, ...] = Field(description="metrics of the problem type (README: Metrics)")
    cross_segments: tuple[Cross, ...] = Field((), description="segments.cross, written here (give one of them)")
    windows: WindowsConfig = Field({}, description="the windows metrics are computed over")
    confidence_level: float = Field(0.95, ge=0.5, lt=1, description="of the intervals stored with each value")
    auc: AucConfig = Field({}, description="how roc_auc is computed")
    output: OutputConfig = Field(description="where the output tables go")
    spark: SparkConfig = Field({}, description="only used when perfmon starts Spark itself (local runs)")
    strict: bool = Field(False, description="a run with warnings ends FAILED with exit 4 (as `perfmon run --strict`)")
    run_timeout: Duration = Field(
        "6 hours",
        description="how long a run may hold the monitor (the `claims` table): a run killed before it let go "
        "blocks the next ones (exit 5) until then; make it longer than the longest run",
    )
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
    versions: VersionsConfig = Field({}, description="champion and challengers compared (version_comparison)")
    _source_hash: str = PrivateAttr("")
    _section_hashes: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def source_hash(self) -> str:
        """A hash of the YAML as validated (paths absolute, without ``load.UNHASHED``): a change means a
        full recompute."""
        return self._source_hash

    @property
    def section_hashes(self) -> dict[str, str]:
        """A hash of each top-level section as ``source_hash`` sees it (``runs.config_sections``):
        which sections an edit changed (``config.load.changed_sections``)."""
        return dict(self._section_hashes)

    @property
    def window_lengths(self) -> tuple[Duration, ...]:
        """Every time window computed: the granularity (tumbling) then the rolling lengths (label-count
        windows are ``windows.label_counts``)."""
        return (self.windows.granularity, *(d for d in self.windows.rolling if isinstance(d, Duration)))

    @property
    def cut_offs(self) -> tuple[int, ...]:
        """The cut-offs k of the per-k metrics and state fields: ``ranking.k``, none for other types."""
        return ()

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
    def compared_metrics(self) -> tuple[str, ...]:
        """The metrics ``version_comparison`` compares: ``versions.metrics``, else the alert rules'
        that have an interval and a better direction, in the rules' order."""
        if self.versions.metrics:
            return self.versions.metrics
        usable = (r.metric for r in self.alerts if comparable(lookup(self.problem_type, r.metric)))
        return tuple(dict.fromkeys(usable))

    def comparing(self, champion: str, challengers: tuple[str, ...]) -> MonitorConfig:
        """This config with ``versions`` comparing ``challengers`` with ``champion``: the versions
        a registry's aliases name, or a rollback's target against the champion."""
        versions = self.versions.model_copy(update={"champion": champion, "challengers": challengers})
        return self.model_copy(update={"versions": versions})

    @property
    def stratum_column(self) -> str | None:
        """The segment column ``version_comparison`` standardises on (None: no segment column)."""
        return self.versions.stratify_by or next(iter(self.segments.columns), None)

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
        """The rules that read more than one section (``rules``); alert and KPI windows default to the
        granularity."""
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
        if (broken := next(broken_rules(cfg), None)) is not None:
            raise Invalid(broken[1], broken[0])
        return cfg


class BinaryMonitorConfig(MonitorConfig):
    """A monitor of a binary classifier."""

    problem_type: _problem_type(ProblemType.BINARY)


class MulticlassMonitorConfig(MonitorConfig):
    """A monitor of a multiclass classifier."""

    problem_type: _problem_type(ProblemType.MULTICLASS)


class RegressionMonitorConfig(MonitorConfig):
    """A monitor of a regression model."""

    problem_type: _problem_type(ProblemType.REGRESSION)


class RankingMonitorConfig(MonitorConfig):
    """A monitor of a ranking model: its rows are (request, item), its metrics cut off at each k."""

    problem_type: _problem_type(ProblemType.RANKING)
    ranking: RankingConfig = Field({}, description="the cut-offs and the no-relevant rule")

    @property
    def cut_offs(self) -> tuple[int, ...]:
        return self.ranking.k


# A config of any problem type, validated as the class its ``problem_type`` names: pydantic reads the
# tag first, so an error names the keys of that type only (a test checks there is one per ProblemType).
CONFIGS = TypeAdapter(
    Annotated[
        BinaryMonitorConfig | MulticlassMonitorConfig | RegressionMonitorConfig | RankingMonitorConfig,
        Field(discriminator="problem_type"),
    ]
)
