"""The metric registry is the single source of names: it holds exactly SPEC §4's and §5's names, and the
metric and state-field tables of docs/reference.md are generated from it."""

from __future__ import annotations

import pytest

from perfmon_spark.metrics import lookup, metric_names
from perfmon_spark.metrics.estimated import BACKTEST_P_VALUE
from perfmon_spark.metrics.registry import Metric, markdown_table, register_metric
from perfmon_spark.states.layout import CONFIG_VALUES, FIELD_DOCS, SPARSE, markdown_fields, state_columns
from tests.helpers import ROOT

SPEC = {
    "binary": [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "specificity",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "positive_rate",
        "prediction_rate",
        "score_mean",
        "score_std",
        "score_p50",
        "score_p90",
        "score_psi",
        "score_js",
        "estimated_accuracy",
        "estimated_precision",
        "estimated_recall",
        "estimated_f1",
        "estimated_roc_auc",
    ],
    "multiclass": [
        "accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
        "log_loss",
        "recall[c]",
        "precision[c]",
        "predicted_share[c]",
        "class_share_psi",
    ],
    "regression": [
        "rmse",
        "mse",
        "mae",
        "mape",
        "r2",
        "mean_error",
        "prediction_mean",
        "prediction_std",
        "score_psi",
        "score_js",
    ],
    "ranking": [
        "ndcg@k",
        "precision@k",
        "recall@k",
        "map@k",
        "hit_rate@k",
        "mrr",
        "catalog_coverage@k",
        "list_length_mean",
        "top_score_mean",
    ],
}
# Beyond SPEC (argued in the drift issue's note): whether the estimates can be trusted, and the
# reference period's calibration error behind it, as metrics users can chart and alert on.
EXTENSIONS = {"binary": ["reference_calibration_error", "estimates_reliable"]}
PROBLEM_TYPES = list(SPEC)


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_names_are_the_spec_names(problem_type):
    assert sorted(metric_names(problem_type)) == sorted(SPEC[problem_type] + EXTENSIONS.get(problem_type, []))


def test_per_class_names_resolve():
    assert lookup("multiclass", "recall[fraud]").name == "recall"
    assert lookup("multiclass", "recall") is None and lookup("multiclass", "f1[x]") is None


def test_registering_twice_is_an_error():
    existing = lookup("binary", "accuracy")
    with pytest.raises(ValueError, match="registered twice"):
        register_metric(Metric(**{**existing.__dict__}))


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_metrics_read_only_fields_the_state_has(problem_type):
    sparse = SPARSE.get(problem_type)
    views = {v for name in sparse.views for v in (name, f"reference_{name}")} if sparse else set()
    known = set(state_columns(problem_type, ks=(5,))) | views | set(CONFIG_VALUES.get(problem_type, ()))
    known |= {BACKTEST_P_VALUE} if problem_type == "binary" else set()  # from the version's other windows
    for name in metric_names(problem_type):
        metric = lookup(problem_type, name.replace("[c]", "[x]").replace("@k", "@5"))
        assert set(metric.fields_at(5)) <= known, name
    assert set(state_columns(problem_type, ks=("k",))) <= set(FIELD_DOCS)


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_reference_tables_are_generated_from_the_registry(problem_type):
    reference = (ROOT / "docs" / "reference.md").read_text()
    assert markdown_table(problem_type) in reference
    assert markdown_fields(problem_type) in reference
