"""The monitor configuration (SPEC §2): every key is declared once, as a field of a frozen pydantic
model with its type, default, allowed values and one-line doc; parsing, defaults, the JSON Schema
(``perfmon schema``), the markdown reference and the errors' "what is allowed" all derive from them.

``load_config`` applies the command line's ``--set`` overrides and resolves ``${VAR}`` references
before validating, so both are checked and hashed as if written in the file. An error is one line
naming the key path (``alerts[0].window``), the bad value and what is allowed. Validation needs no
Spark, so a bad config never starts a cluster.

Each module imports only those listed after it (a contract in ``pyproject.toml``): ``load`` (file
to validated, hashed config), ``overrides`` (``--set`` and ``${VAR}``), ``messages`` (one-line
errors) and ``docs`` (the reference table), ``schema`` (the JSON Schema and reading it), ``model``
(the declarations), ``rules`` (the checks across sections), ``types`` (value types and parsers).
This package re-exports what the rest of perfmon-spark imports.
"""

from perfmon_spark.config.docs import reference_markdown
from perfmon_spark.config.load import ALERTING_ONLY, changed_sections, load_config, parse_config
from perfmon_spark.config.model import (
    KPI_NAMES,
    AlertRule,
    BaselineConfig,
    LevelRule,
    MaturityPolicy,
    MonitorConfig,
    NotificationSink,
    RegistryConfig,
    RollingBaseline,
    SliceWord,
    SparkConfig,
)
from perfmon_spark.config.overrides import with_overrides
from perfmon_spark.config.schema import json_schema
from perfmon_spark.config.types import Duration, Invalid, LabelCount, TableRef, label_text, parse_duration

__all__ = [
    "ALERTING_ONLY",
    "KPI_NAMES",
    "AlertRule",
    "BaselineConfig",
    "Duration",
    "Invalid",
    "LabelCount",
    "LevelRule",
    "MaturityPolicy",
    "MonitorConfig",
    "NotificationSink",
    "RegistryConfig",
    "RollingBaseline",
    "SliceWord",
    "SparkConfig",
    "TableRef",
    "changed_sections",
    "json_schema",
    "label_text",
    "load_config",
    "parse_config",
    "parse_duration",
    "reference_markdown",
    "with_overrides",
]
