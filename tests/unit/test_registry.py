"""The metric registry is the single source of names: it holds exactly SPEC §4's names, and the
README's tables are generated from it."""

from __future__ import annotations

import pytest

from perfmon_spark.metrics import lookup, metric_names
from perfmon_spark.metrics.registry import Metric, markdown_table, register_metric
from perfmon_spark.states.layout import FIELD_DOCS, HISTOGRAM, SCALARS
from tests.conftest import ROOT

SPEC_BINARY = [
    "accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc",
    "log_loss", "brier", "positive_rate", "prediction_rate",
]


def test_binary_names_are_the_spec_names():
    assert sorted(metric_names("binary")) == sorted(SPEC_BINARY)


def test_registering_twice_is_an_error():
    existing = lookup("binary", "accuracy")
    with pytest.raises(ValueError, match="registered twice"):
        register_metric(Metric(**{**existing.__dict__}))


def test_metrics_read_only_fields_the_state_has():
    for name in metric_names("binary"):
        for field in lookup("binary", name).fields:
            assert field == "hist" or field in SCALARS["binary"], (name, field)


def test_readme_tables_are_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table("binary") in readme
    for field in SCALARS["binary"] + HISTOGRAM:
        assert f"| `{field}` | {FIELD_DOCS[field]} |" in readme
