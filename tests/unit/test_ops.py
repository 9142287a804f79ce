"""The ops wiring in ``ops/``: the Prometheus alerting rules and the Grafana dashboard read only the
series ``perfmon export`` pushes, with the labels it gives them.

Debian's ``promtool`` (package ``prometheus``, which ``make test`` installs) checks the rules and
runs their unit tests (``perfmon.rules.test.yml``); one more of those is built here from the gauges
``export.registry_of`` sets, so a rule comparing with the wrong level rank fails. The metric and
label names come from a registry ``registry_of`` fills, never retyped, so renaming a gauge or a
label in ``export.py`` fails here until the rules and the dashboard follow.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from perfmon_spark.export import JOB, registry_of
from perfmon_spark.io.catalog import threshold_column
from perfmon_spark.vocabulary import OVERALL, AlertStatus, Level
from tests.helpers import ROOT

RULES = ROOT / "ops" / "prometheus" / "perfmon.rules.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "perfmon.rules.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "perfmon.json"

# One row that serves as a perf_metrics, rule_windows and perf_alerts row: every gauge gets a sample.
ROW = {
    "rule": "recall_drop",
    "model_version": "v1",
    "slice_key": OVERALL,
    "slice_value": OVERALL,
    "window": "7 days",
    "window_start": 0,
    "metric": "recall",
    "value": 0.5,
    "ci_lower": 0.4,
    "ci_upper": 0.6,
    "std_error": 0.05,
    "n_labeled": 100,
    "level": Level.CRITICAL,
    "status": AlertStatus.OPEN,
    **{threshold_column(level): 0.5 for level in Level},
}
# Series name -> its label names as Prometheus scrapes them from the gateway: the gauges' labels and
# the group's `job`; the gateway's push_time_seconds has the group's labels only.
EXPORTED = {
    family.name: {*sample.labels, "job"}
    for family in registry_of("m", [ROW], [ROW], [ROW]).collect()
    for sample in family.samples
} | {"push_time_seconds": {"job", "monitor"}}

# PromQL, as far as the rules and the dashboard write it: a selector `name{label="value", ...}` or a
# bare name; function calls, keywords, numbers and durations are none of them.
STRING = r'"(?:[^"\\]|\\.)*"'
SELECTOR = re.compile(rf"([a-zA-Z_:][\w:]*)\s*\{{((?:[^}}\"]|{STRING})*)\}}")
MATCHER = re.compile(rf"(\w+)\s*(?:=~|!~|!=|=)\s*({STRING})")
BARE_NAME = re.compile(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*[({])")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "Inf", "NaN"}
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(series name, {label: value as written}) of each series an expression reads."""
    found = [
        (name, {label: json.loads(value) for label, value in MATCHER.findall(matchers)})
        for name, matchers in SELECTOR.findall(expr)
    ]
    rest = GROUPING.sub(" ", re.sub(STRING, " ", SELECTOR.sub(" ", expr)))
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range durations
    return found + [(name, {}) for name in BARE_NAME.findall(rest) if name not in KEYWORDS]


def assert_reads_exported_series(expr: str) -> set[str]:
    """Every series ``expr`` reads is exported, matched on its labels only, perfmon's on ``job``;
    returns the labels those series have."""
    series = selectors(expr)
    assert series, f"no series in {expr!r}"
    labels = set()
    for name, matchers in series:
        assert name in EXPORTED, f"{name!r} in {expr!r} is not a series perfmon export pushes"
        assert set(matchers) <= EXPORTED[name], f"{expr!r}: {name} has no label {set(matchers) - EXPORTED[name]}"
        assert matchers.get("job", JOB) == JOB, expr
        labels |= EXPORTED[name]
    return labels


def series_text(name: str, labels: dict[str, str]) -> str:
    """A series as promtool's input_series writes it."""
    return name + "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's package `prometheus` (make system-packages does)")
    return path


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    [group] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return group["rules"]


def promtool_run(promtool: str, *args) -> None:
    """Runs promtool from the rules' folder (the rule files name each other by relative path)."""
    done = subprocess.run([promtool, *map(str, args)], cwd=RULES.parent, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_checks_the_rules(promtool):
    promtool_run(promtool, "check", "rules", RULES.name)


def test_the_rules_unit_tests_pass(promtool):
    promtool_run(promtool, "test", "rules", RULE_TESTS.name)


def test_rules_read_only_exported_series_and_their_labels(rules):
    assert {r["alert"] for r in rules} == {
        "PerfmonAlertSustained", "PerfmonAlertCritical", "PerfmonExportStale", "PerfmonExportMissing"
    }  # fmt: skip
    for rule in rules:
        labels = assert_reads_exported_series(rule["expr"])
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        templates = " ".join(rule["annotations"].values())
        assert set(TEMPLATE_LABEL.findall(templates)) <= labels, rule["alert"]
        if "level" in rule["labels"]:  # the overall slice is named, not shown as *=*
            assert f'eq $labels.slice_key "{OVERALL}"' in rule["annotations"]["summary"], rule["alert"]


def test_the_rules_tests_feed_series_as_export_pushes_them():
    for case in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]:
        for series in case["input_series"]:
            [(name, labels)] = selectors(series["series"])
            assert name in EXPORTED and (labels.get("job") != JOB or set(labels) == EXPORTED[name]), series


def test_each_level_rule_fires_on_the_rank_export_pushes_for_its_level(promtool, rules, tmp_path):
    """Export's own samples, one open alert per level, fed to the rules: each level rule fires on
    its level's sample and no other (MINOR has no rule). Annotations are left out of this copy of
    the rules: the unit tests of perfmon.rules.test.yml check them."""
    level_rules = [r for r in rules if "level" in r["labels"]]
    assert {r["labels"]["level"] for r in level_rules} == {Level.SUSTAINED, Level.CRITICAL}
    alerts = [ROW | {"level": level, "slice_key": "level", "slice_value": level} for level in Level]
    [family] = [f for f in registry_of("fraud", [], alerts).collect() if f.name == "perfmon_alert_level"]
    pushed = {s.labels["slice_value"]: ({**s.labels, "job": JOB}, s.value) for s in family.samples}
    assert set(pushed) == set(Level)
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "perfmon", "rules": [{**r, "annotations": {}} for r in rules]}]})
    )
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series_text(family.name, labels), "values": f"{value:g}x10"}
                    for labels, value in pushed.values()
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": rule["alert"],
                        "exp_alerts": [{"exp_labels": pushed[rule["labels"]["level"]][0] | rule["labels"]}],
                    }
                    for rule in level_rules
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the Grafana dashboard -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_dashboard_panels_are_placed_and_use_the_datasource_variable(dashboard):
    assert dashboard["schemaVersion"] >= 39
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    [datasource] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    uses_variable = {"type": "prometheus", "uid": "${" + datasource["name"] + "}"}
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"] == uses_variable, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == uses_variable, panel["title"]


def test_the_dashboard_reads_only_exported_series_and_defined_variables(dashboard):
    variables = dashboard["templating"]["list"]
    defined = {v["name"] for v in variables}
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for variable in variables:
        if variable["type"] == "query":
            selector, label = LABEL_VALUES.match(variable["query"]).groups()
            assert label in assert_reads_exported_series(selector), variable["name"]
            expressions.append(selector)
    for expr in expressions:
        assert_reads_exported_series(expr)
        used = {a or b for a, b in VARIABLE.findall(expr)}
        assert used <= defined, f"{expr!r} uses undefined variables {used - defined}"
    read = {name for expr in expressions for name, _ in selectors(expr)}
    assert {"perfmon_metric_value", "perfmon_rule_threshold", "perfmon_alert_level", "push_time_seconds"} <= read


def test_the_dashboard_names_alert_levels_by_their_rank(dashboard):
    [panel] = [p for p in dashboard["panels"] if any("perfmon_alert_level" in t["expr"] for t in p["targets"])]
    [mapping] = panel["fieldConfig"]["defaults"]["mappings"]
    assert {int(value): shown["text"] for value, shown in mapping["options"].items()} == {
        level.rank: level for level in Level
    }
