"""The monitor configuration (SPEC §2): parsed once into frozen, typed objects.

Every error names the key path (``alerts[0].window``), shows the bad value and lists what is
allowed. Validation needs no Spark, so ``perfmon validate`` is instant and a bad config never
starts a cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

import yaml

from perfmon_spark.errors import ConfigError
from perfmon_spark.metrics import lookup, metric_names
from perfmon_spark.metrics.registry import PROBLEM_TYPES

_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+?)s?\s*$")
GRANULARITIES = ("1 hour", "1 day", "1 week")
# Sections of the contract that come with later work; accepted nowhere yet, refused clearly.
_NOT_YET = ("baseline", "alerts", "notifications", "kpis", "retrain", "ranking")
_MISSING = object()


@dataclass(frozen=True, order=True)
class Duration:
    """A whole number of a unit, e.g. ``7 days``; ``text`` is the canonical spelling used in
    ``perf_metrics.window``."""

    seconds: int
    count: int = field(compare=False)
    unit: str = field(compare=False)

    @property
    def text(self) -> str:
        return f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)


def parse_duration(value: Any, path: str) -> Duration:
    """``"30 days"`` -> Duration; anything else is a ConfigError naming ``path``."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or match[2] not in _UNITS:
        raise ConfigError(
            f"{path}: invalid duration {value!r}; expected 'N unit' with unit in "
            f"{', '.join(u + '(s)' for u in _UNITS)}"
        )
    count = int(match[1])
    if count <= 0:
        raise ConfigError(f"{path}: duration {value!r} must be positive")
    return Duration(seconds=count * _UNITS[match[2]], count=count, unit=match[2])


@dataclass(frozen=True)
class TableRef:
    """A Delta table: a path (contains '/' or a URI scheme) or a metastore/catalog name."""

    text: str

    @property
    def is_path(self) -> bool:
        return "/" in self.text or "://" in self.text or self.text.startswith("dbfs:")


@dataclass(frozen=True)
class PredictionsConfig:
    table: TableRef
    id: str
    timestamp: str
    model_version: str
    score: str | None
    prediction: str | None
    threshold: float
    score_type: str
    probabilities: str | None
    filter: str | None


@dataclass(frozen=True)
class LabelJoin:
    mode: str
    entity: str | None = None
    horizon: Duration | None = None


@dataclass(frozen=True)
class LabelsConfig:
    """Where labels come from. With ``join.mode: entity_horizon`` the rows are outcome events of
    an entity (``id`` is then optional) and ``max_delay`` is the horizon: a prediction's label is
    final once its horizon has passed."""

    table: TableRef
    id: str | None
    label: str
    timestamp: str
    max_delay: Duration
    positive: Any
    join: LabelJoin


@dataclass(frozen=True)
class SegmentsConfig:
    columns: tuple[str, ...] = ()
    cross: tuple[tuple[str, ...], ...] = ()
    max_values: int = 100


@dataclass(frozen=True)
class WindowsConfig:
    granularity: Duration
    rolling: tuple[Duration, ...]


@dataclass(frozen=True)
class AucConfig:
    mode: str = "sketch"


@dataclass(frozen=True)
class OutputConfig:
    location: str
    prefix: str = ""

    def table(self, name: str) -> TableRef:
        """The reference of output table ``name`` (prefixed) under ``location``."""
        full = f"{self.prefix}{name}"
        if TableRef(self.location).is_path:
            return TableRef(f"{self.location.rstrip('/')}/{full}")
        return TableRef(f"{self.location}.{full}")


@dataclass(frozen=True)
class SparkConfig:
    master: str = "local[*]"
    conf: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MonitorConfig:
    """The whole, validated configuration of one monitor."""

    version: int
    name: str
    problem_type: str
    predictions: PredictionsConfig
    labels: LabelsConfig
    segments: SegmentsConfig
    metrics: tuple[str, ...]
    windows: WindowsConfig
    confidence_level: float
    auc: AucConfig
    output: OutputConfig
    spark: SparkConfig
    source_hash: str

    @property
    def window_lengths(self) -> tuple[Duration, ...]:
        """Every window computed: the granularity (tumbling) then the rolling lengths."""
        return (self.windows.granularity, *self.windows.rolling)

    @property
    def slice_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column tuples of every slice besides the overall one."""
        return tuple((c,) for c in self.segments.columns) + self.segments.cross


class _Section:
    """A mapping read key by key; ``done()`` rejects whatever was not read."""

    def __init__(self, data: Any, path: str, known: tuple[str, ...]):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__} {data!r}")
        self.data, self.path, self.known = data, path, known
        for key in data:
            if key not in known:
                if key in _NOT_YET:
                    raise ConfigError(
                        f"{self._p(key)}: not supported by this version of perfmon-spark yet; remove it"
                    )
                raise ConfigError(f"{self._p(key)}: unknown key {key!r}; known keys: {', '.join(known)}")

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def get(self, key: str, kinds: tuple[type, ...], default: Any = _MISSING) -> Any:
        value = self.data.get(key, default)
        if value is _MISSING:
            raise ConfigError(f"{self._p(key)}: required key is missing")
        if value is None and default is None:
            return None
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{self._p(key)}: expected {names}, got {type(value).__name__} {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, (str,), default)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{self._p(key)}: must not be empty")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise ConfigError(f"{self._p(key)}: unknown value {value!r}; allowed: {', '.join(allowed)}")
        return value

    def number(self, key: str, default: Any = _MISSING) -> float:
        return float(self.get(key, (int, float), default))

    def duration(self, key: str, default: Any = _MISSING) -> Duration:
        return parse_duration(self.get(key, (str,), default), self._p(key))

    def section(self, key: str, known: tuple[str, ...], default: Any = _MISSING) -> "_Section":
        return _Section(self.get(key, (dict,), default), self._p(key), known)

    def names(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        value = self.get(key, (list,), default)
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise ConfigError(f"{self._p(key)}[{i}]: expected a column name, got {item!r}")
        return tuple(value)


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a YAML config file.

    Raises:
        ConfigError: unreadable file, bad YAML, or any invalid key or value.
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
    return parse_config(data)


def parse_config(data: Any) -> MonitorConfig:
    """Validate an already-parsed mapping; see ``load_config``."""
    top = _Section(
        data,
        "",
        (
            "version", "name", "problem_type", "predictions", "labels", "segments", "metrics",
            "cross_segments", "windows", "confidence_level", "auc", "output", "spark",
        ),
    )
    version = top.get("version", (int,))
    if version != 1:
        raise ConfigError(f"version: unsupported config version {version!r}; allowed: 1")
    name = top.text("name")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ConfigError(f"name: {name!r} may contain only letters, digits, '_', '-' and '.'")
    problem_type = top.choice("problem_type", PROBLEM_TYPES)
    predictions = _predictions(top, problem_type)
    labels = _labels(top, problem_type)
    segments = _segments(top)
    windows = _windows(top)
    metrics = _metrics(top, problem_type, predictions)
    confidence = top.number("confidence_level", 0.95)
    if not 0.5 <= confidence < 1:
        raise ConfigError(f"confidence_level: {confidence!r} must be in [0.5, 1)")
    auc = top.section("auc", ("mode",), {})
    output = top.section("output", ("location", "prefix"))
    spark = top.section("spark", ("master", "conf"), {})
    conf = spark.get("conf", (dict,), {})
    return MonitorConfig(
        version=version,
        name=name,
        problem_type=problem_type,
        predictions=predictions,
        labels=labels,
        segments=segments,
        metrics=metrics,
        windows=windows,
        confidence_level=confidence,
        auc=AucConfig(mode=auc.choice("mode", ("sketch", "exact"), "sketch")),
        output=OutputConfig(location=output.text("location"), prefix=output.get("prefix", (str,), "")),
        spark=SparkConfig(
            master=spark.text("master", "local[*]"),
            conf=tuple(sorted((str(k), str(v)) for k, v in conf.items())),
        ),
        source_hash=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16],
    )


def _predictions(top: _Section, problem_type: str) -> PredictionsConfig:
    sec = top.section(
        "predictions",
        ("table", "id", "timestamp", "model_version", "score", "prediction", "threshold",
         "score_type", "probabilities", "filter"),
    )
    score = sec.text("score", None)
    prediction = sec.text("prediction", None)
    if score is None and prediction is None:
        need = "score" if problem_type != "multiclass" else "prediction"
        raise ConfigError(f"predictions.{need}: required for problem_type {problem_type}")
    if problem_type == "multiclass" and prediction is None:
        raise ConfigError("predictions.prediction: required for problem_type multiclass (the predicted class)")
    if problem_type != "binary" and "threshold" in sec.data:
        raise ConfigError(f"predictions.threshold: applies to binary only, not {problem_type}")
    return PredictionsConfig(
        table=TableRef(sec.text("table")),
        id=sec.text("id"),
        timestamp=sec.text("timestamp"),
        model_version=sec.text("model_version"),
        score=score,
        prediction=prediction,
        threshold=sec.number("threshold", 0.5),
        score_type=sec.choice("score_type", ("probability", "logit", "margin"), "probability"),
        probabilities=sec.text("probabilities", None),
        filter=sec.text("filter", None),
    )


def _labels(top: _Section, problem_type: str) -> LabelsConfig:
    sec = top.section("labels", ("table", "id", "label", "timestamp", "max_delay", "positive", "join"))
    join = sec.section("join", ("mode", "entity", "horizon"), {"mode": "prediction_id"})
    mode = join.choice("mode", ("prediction_id", "entity_horizon"), "prediction_id")
    entity = horizon = None
    if mode == "entity_horizon":
        if problem_type != "binary":
            raise ConfigError(f"labels.join.mode: entity_horizon applies to binary only, not {problem_type}")
        entity = join.text("entity")
        horizon = join.duration("horizon")
        if "max_delay" in sec.data:
            raise ConfigError("labels.max_delay: not used with join mode entity_horizon (labels.join.horizon is the delay)")
    elif "entity" in join.data or "horizon" in join.data:
        raise ConfigError("labels.join: entity and horizon apply to mode entity_horizon only")
    positive = sec.get("positive", (int, str, bool), 1)
    if problem_type != "binary" and "positive" in sec.data:
        raise ConfigError(f"labels.positive: applies to binary only, not {problem_type}")
    return LabelsConfig(
        table=TableRef(sec.text("table")),
        id=sec.text("id", None if mode == "entity_horizon" else _MISSING),
        label=sec.text("label"),
        timestamp=sec.text("timestamp"),
        max_delay=horizon if horizon is not None else sec.duration("max_delay", "30 days"),
        positive=positive,
        join=LabelJoin(mode=mode, entity=entity, horizon=horizon),
    )


def _segments(top: _Section) -> SegmentsConfig:
    sec = top.section("segments", ("columns", "cross", "max_values"), {})
    columns = sec.names("columns", [])
    raw_cross = sec.get("cross", (list,), [])
    if "cross_segments" in top.data:
        if raw_cross:
            raise ConfigError("cross_segments: give crossed segments once, in segments.cross or cross_segments")
        raw_cross = top.get("cross_segments", (list,))
    cross = []
    for i, group in enumerate(raw_cross):
        if not isinstance(group, list) or len(group) < 2 or not all(isinstance(c, str) and c for c in group):
            raise ConfigError(f"segments.cross[{i}]: expected a list of 2 or more column names, got {group!r}")
        cross.append(tuple(group))
    for path, items in (("segments.columns", columns), ("segments.cross", [tuple(c) for c in cross])):
        if len(set(items)) != len(items):
            raise ConfigError(f"{path}: duplicate entries in {list(items)!r}")
    max_values = sec.get("max_values", (int,), 100)
    if max_values < 1:
        raise ConfigError(f"segments.max_values: {max_values!r} must be at least 1")
    return SegmentsConfig(columns=columns, cross=tuple(cross), max_values=max_values)


def _windows(top: _Section) -> WindowsConfig:
    sec = top.section("windows", ("granularity", "rolling"), {})
    granularity = sec.duration("granularity", "1 day")
    if granularity.text not in GRANULARITIES:
        raise ConfigError(
            f"windows.granularity: unsupported {granularity.text!r}; allowed: {', '.join(GRANULARITIES)}"
        )
    raw = sec.get("rolling", (list,), ["7 days", "28 days"])
    rolling = []
    for i, item in enumerate(raw):
        d = parse_duration(item, f"windows.rolling[{i}]")
        if d.seconds % granularity.seconds or d.seconds == granularity.seconds:
            raise ConfigError(
                f"windows.rolling[{i}]: {d.text!r} must be a multiple of the granularity "
                f"{granularity.text!r} and longer than it"
            )
        same = next((r for r in rolling if r == d), None)
        if same is not None:
            raise ConfigError(f"windows.rolling[{i}]: duplicate window {d.text!r} (same as {same.text!r})")
        rolling.append(d)
    return WindowsConfig(granularity=granularity, rolling=tuple(sorted(rolling)))


def _metrics(top: _Section, problem_type: str, predictions: PredictionsConfig) -> tuple[str, ...]:
    names = top.names("metrics")
    if not names:
        raise ConfigError(f"metrics: list at least one metric; known for {problem_type}: {', '.join(metric_names(problem_type))}")
    for i, name in enumerate(names):
        metric = lookup(problem_type, name)
        if metric is None:
            raise ConfigError(
                f"metrics[{i}]: unknown metric {name!r}; known for {problem_type}: "
                f"{', '.join(metric_names(problem_type))}"
            )
        if metric.needs == "score" and predictions.score is None:
            raise ConfigError(f"metrics[{i}]: {name!r} needs predictions.score")
        if metric.needs == "probabilities" and predictions.probabilities is None:
            raise ConfigError(f"metrics[{i}]: {name!r} needs predictions.probabilities (a map or array column)")
        if metric.needs == "probability" and (predictions.score is None or predictions.score_type != "probability"):
            raise ConfigError(
                f"metrics[{i}]: {name!r} needs probability scores (predictions.score with score_type: probability)"
            )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"metrics: duplicate metric {dup!r}")
    return names
