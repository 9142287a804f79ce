"""The ``versions`` section and ``version_comparison``'s rows from ``perf_metrics`` rows, without
Spark: the defaults (the alert rules' metrics, the first segment column), the config errors, and
the rows compared (same windows only, label-count windows left out, a missing side skipped) against
``metrics.comparison`` called directly."""

from __future__ import annotations

import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.job.versions import comparison_rows
from perfmon_spark.metrics.comparison import Stratum, compare
from tests.helpers import BASE, with_changes

BASE_PREDICTIONS = BASE["predictions"]

RULE = {"name": "auc_drop", "metric": "roc_auc", "minor": {"ratio": 0.95}}
SEGMENTS = {"columns": ["country", "channel"]}


def versions(**extra) -> dict:
    return with_changes(segments=SEGMENTS, alerts=[RULE], versions={"champion": "v7", "challengers": ["v8"], **extra})


def test_the_defaults_are_the_alert_rules_metrics_and_the_first_segment_column():
    cfg = parse_config(versions())
    assert (cfg.compared_metrics, cfg.stratum_column, cfg.versions.margin) == (("roc_auc",), "country", 0.01)
    cfg = parse_config(versions(metrics=["recall", "accuracy"], stratify_by="channel", margin=0))
    assert (cfg.compared_metrics, cfg.stratum_column) == (("recall", "accuracy"), "channel")
    assert not parse_config(with_changes()).versions.enabled


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"champion": None}, "versions.champion: required when versions.challengers is given"),
        ({"challengers": ["v8", "v7"]}, "versions.challengers[1]: 'v7' is the champion"),
        ({"challengers": []}, "versions.challengers: list at least one version"),
        ({"stratify_by": "region"}, "versions.stratify_by: 'region' is not a segment column; segment columns: country"),
        ({"metrics": ["log_loss"]}, "versions.metrics[0]: 'log_loss' is not computed"),
        ({"challengers": ["v8", "v9", "v8"]}, "versions.challengers: duplicate challenger 'v8'"),
        ({"registry": {"model": "fraud"}}, "versions.champion: give the champion here or through"),
        (
            {"champion": None, "challengers": [], "registry": {"model": "fraud", "challenger_alias": None}},
            "versions.challengers: list at least one version to compare with the champion",
        ),
        (
            {"champion": None, "registry": {"model": "fraud", "version_format": "v{v}"}},
            "versions.registry.version_format",
        ),
        ({"champion": None, "registry": {"model": "fraud", "version_format": "v"}}, "versions.registry.version_format"),
        ({"rollback_cooldown": "a week"}, "versions.rollback_cooldown"),
    ],
)
def test_a_bad_versions_section_is_one_line_naming_the_key(changes, message):
    with pytest.raises(ConfigError, match=f"^config error: {message}".replace("[", r"\[").replace("]", r"\]")):
        parse_config(versions(**changes))


def test_a_registry_names_the_champion_and_may_name_the_only_challenger():
    cfg = parse_config(
        versions(champion=None, challengers=[], registry={"model": "fraud", "version_format": "v{version}"})
    )
    r = cfg.versions.registry
    assert cfg.versions.enabled and cfg.versions.champion is None
    assert (r.model, r.champion_alias, r.challenger_alias, r.version_format, r.uri) == (
        "fraud",
        "champion",
        "challenger",
        "v{version}",
        None,
    )
    assert cfg.versions.rollback_cooldown.text == "7 days"


def test_a_metric_without_labels_cannot_be_compared_and_a_rules_metric_is_compared_as_named():
    with pytest.raises(ConfigError, match=r"versions.metrics\[0\]: 'estimated_accuracy' cannot be compared"):
        parse_config(
            with_changes(
                metrics=["accuracy", "estimated_accuracy"],
                segments=SEGMENTS,
                versions={"champion": "v7", "challengers": ["v8"], "metrics": ["estimated_accuracy"]},
            )
        )
    per_class = parse_config(
        with_changes(
            problem_type="multiclass",
            predictions={**BASE_PREDICTIONS, "prediction": "predicted", "score": None},
            metrics=["accuracy", "recall[fraud]"],
            segments=SEGMENTS,
            alerts=[{"name": "fraud_recall", "metric": "recall[fraud]", "minor": {"ratio": 0.9}}],
            versions={"champion": "v7", "challengers": ["v8"]},
        )
    )
    assert per_class.compared_metrics == ("recall[fraud]",)


def row(version, key, value, metric="roc_auc", window="1 day", start=0, v=0.9, n=100):
    return {
        "model_version": version,
        "slice_key": key,
        "slice_value": value,
        "metric": metric,
        "window": window,
        "window_start": start,
        "window_end": start + 86400,
        "value": v,
        "std_error": 0.01,
        "n_labeled": n,
        "n_predictions": 2 * n,
    }


def test_each_window_both_versions_have_is_compared_on_the_champions_mix():
    cfg = parse_config(versions(min_labeled=1))
    metrics = [
        row("v7", "*", "*", v=0.90, n=300),
        row("v7", "country", "de", v=0.95, n=100),
        row("v7", "country", "fr", v=0.85, n=200),
        row("v8", "*", "*", v=0.93, n=60),
        row("v8", "country", "de", v=0.94, n=50),
        row("v8", "country", "fr", v=0.80, n=10),
        row("v8", "channel", "web", v=0.1, n=60),  # another segment column: not read
        row("v7", "*", "*", start=86400),  # a window the challenger does not have: no row
        row("v7", "*", "*", window="1000 labels"),  # label-count windows: not on the same time
        row("v8", "*", "*", window="1000 labels"),
    ]
    [found] = comparison_rows(cfg, metrics)
    expected = compare(
        {"de": Stratum(0.95, 0.01, 100, 200), "fr": Stratum(0.85, 0.01, 200, 400)},
        {"de": Stratum(0.94, 0.01, 50, 100), "fr": Stratum(0.80, 0.01, 10, 20)},
        (0.90, 0.93),
        larger_is_better=True,
        margin=0.01,
        confidence=0.95,
        family=3,  # one challenger, one metric, three window lengths (1, 7 and 28 days)
        min_labeled=1,
    )
    assert found == {
        "champion": "v7",
        "challenger": "v8",
        "metric": "roc_auc",
        "window": "1 day",
        "window_start": 0,
        "window_end": 86400,
        "difference": expected.difference,
        "ci_lower": expected.ci_lower,
        "ci_upper": expected.ci_upper,
        "unadjusted_difference": pytest.approx(0.03),
        "n_labeled_champion": 300,
        "n_labeled_challenger": 60,
        "verdict": str(expected.verdict),
    }
    assert expected.difference == pytest.approx((200 * -0.01 + 400 * -0.05) / 600)
