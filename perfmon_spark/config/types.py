"""The value types of the config, below every section: what a YAML scalar or list is parsed into
(``Duration``, ``LabelCount``, ``TableRef``, the pattern-checked strings), the annotated types the
sections declare their fields with, and ``Invalid``, the error every check raises.

Each type parses itself and describes itself to the JSON Schema, so a field declared with one needs
no validator of its own, and a parser the job reuses (``parse_duration``) reads as the config does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.functional_validators import AfterValidator, BeforeValidator, PlainValidator
from pydantic.types import StringConstraints
from pydantic_core import core_schema

from perfmon_spark.errors import ConfigError

PATTERNS = {  # the patterns strings must match, and what a mismatch means (``messages``)
    r"\S": "must not be empty",
    r"^[A-Za-z0-9_.\-]+$": "{!r} may contain only letters, digits, '_', '-' and '.'",
    r"^[a-z][a-z0-9_]*$": "{!r} must be lower case letters, digits and '_', starting with a letter",
}
Text, Name, KpiName = (Annotated[str, StringConstraints(pattern=pattern)] for pattern in PATTERNS)


def words(enum: type[Enum]) -> Any:
    """The values of a vocabulary enum as a Literal: checked as the enum, held as plain strings."""
    return Literal[tuple(member.value for member in enum)]


class Invalid(ValueError):
    """A value that fails a check; ``key`` says where, below the value being validated."""

    def __init__(self, message: str, *key: str | int):
        super().__init__(message)
        self.key = key


def sorted_pairs(value_type: Any, convert: Callable[[Any], Any] = lambda v: v) -> Any:
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


def _time_window(value: Any) -> str:
    """The window an alert rule or KPI reads, held as its canonical text (``perf_metrics.window``)."""
    if LabelCount.matches(value):
        raise Invalid(f"{value!r}: label-count windows carry no alert rules or KPI limits; give a time window")
    return Duration.parse(value).text


Window = Annotated[str, BeforeValidator(_time_window, json_schema_input_type=Duration)]
Cross = Annotated[tuple[Text, ...], Field(min_length=2)]
LabelValue = int | str | bool  # as YAML wrote it: strict, a quoted "1" is no int


def _as_tuple(value: Any) -> tuple:
    """YAML writes one label value, or a list of them."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


Labels = Annotated[
    tuple[LabelValue, ...], BeforeValidator(_as_tuple, json_schema_input_type=LabelValue | list[LabelValue])
]
