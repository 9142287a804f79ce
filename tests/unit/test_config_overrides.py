"""Command-line overrides (``--set KEY=VALUE``) and ``${VAR}`` references (SPEC §6), without Spark:
a value given either way is validated and hashed as if it were written in the file, and a bad key
path, index or variable is one line naming it."""

from __future__ import annotations

import contextlib
import copy
import doctest
import io
from types import SimpleNamespace

import pytest
import yaml

import perfmon_spark.config.overrides
import perfmon_spark.job
from perfmon_spark.cli import build_parser, main
from perfmon_spark.config import load_config, with_overrides
from perfmon_spark.errors import ConfigError
from tests.helpers import with_changes

RULE = {"name": "auc_drop", "metric": "roc_auc", "slices": ["country"], "minor": {"ratio": 0.95}}
DATA = with_changes(
    segments={"columns": ["country", "channel"], "cross": [["country", "channel"]]},
    baseline={"source": "values", "values": {"roc_auc": 0.9}},
    alerts=[copy.deepcopy(RULE), {**copy.deepcopy(RULE), "name": "auc_drop_2"}],
)
"""A config with lists of mappings (alerts), lists of scalars (slices) and lists of lists (cross)."""


@pytest.fixture
def config_file(tmp_path):
    """Writes a config file (``DATA`` with ``changes``) and returns its path."""

    def write(data=DATA, name="m.yml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


def error_of(path, overrides=(), env=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, env={} if env is None else env)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def test_the_doctests_run():
    assert doctest.testmod(perfmon_spark.config.overrides).failed == 0


@pytest.mark.parametrize(
    "override, read",
    [
        ("predictions.threshold=0.25", lambda c: c.predictions.threshold == 0.25),
        ("strict=true", lambda c: c.strict is True),
        ("windows.rolling=[14 days, 7 days]", lambda c: [w.text for w in c.windows.rolling] == ["7 days", "14 days"]),
        ("alerts[1].minor.ratio=0.8", lambda c: (c.alerts[0].minor.ratio, c.alerts[1].minor.ratio) == (0.95, 0.8)),
        ("alerts[0].slices[0]=channel", lambda c: c.alerts[0].slices == ("channel",)),
        ("segments.cross[0][1]=country", lambda c: c.segments.cross == (("country", "country"),)),
        ("alerts[0].sustained={ratio: 0.9, of: 2, within: 3}", lambda c: c.alerts[0].sustained.counts == (2, 3)),
        ("retrain.max_one_per=30 days", lambda c: c.retrain.max_one_per.text == "30 days"),  # no retrain: in the file
        (
            "spark.conf.spark.sql.shuffle.partitions=16",
            lambda c: c.spark.conf == (("spark.sql.shuffle.partitions", "16"),),
        ),
        ("baseline.values.roc_auc=0.75", lambda c: c.baseline.values == (("roc_auc", 0.75),)),
        ("output.location=main.ml_dev", lambda c: c.output.table("runs").text == "main.ml_dev.runs"),
        ("predictions.filter=country = 'BR'", lambda c: c.predictions.filter == "country = 'BR'"),
    ],
)
def test_an_override_is_read_as_yaml_at_its_key_path(config_file, override, read):
    assert read(load_config(config_file(), [override]))


def edit(data: dict, path: tuple, value) -> dict:
    """A deep copy of ``data`` with ``value`` written at ``path`` (keys and list indexes)."""
    data = copy.deepcopy(data)
    node = data
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "override, path, value",
    [
        ("alerts[0].minor.ratio=0.9", ("alerts", 0, "minor", "ratio"), 0.9),
        ("output.location=main.ml_dev", ("output", "location"), "main.ml_dev"),
        ("output.location=./elsewhere", ("output", "location"), "./elsewhere"),  # relative to the file, as written
        ("labels.max_delay=14 days", ("labels", "max_delay"), "14 days"),
        ("segments.columns=[channel, country]", ("segments", "columns"), ["channel", "country"]),
        (
            "windows={granularity: 1 day, rolling: [14 days]}",
            ("windows",),
            {"granularity": "1 day", "rolling": ["14 days"]},
        ),
    ],
)
def test_an_override_is_validated_and_hashed_as_the_value_written_in_the_file(config_file, override, path, value):
    overridden = load_config(config_file(), [override])
    written = load_config(config_file(edit(DATA, path, value), name="written.yml"))
    assert overridden == written
    assert overridden.source_hash == written.source_hash
    assert overridden.source_hash != load_config(config_file()).source_hash


def test_overrides_apply_in_order_and_leave_the_data_alone():
    data = copy.deepcopy(DATA)
    out = with_overrides(data, ["output.prefix=a_", "output.prefix=b_", "alerts[0].minor=null"])
    assert out["output"] == {"location": "./lake/monitoring", "prefix": "b_"}
    assert out["alerts"][0]["minor"] is None
    assert data == DATA


def test_an_override_of_a_yaml_alias_changes_the_place_it_names_only(tmp_path):
    path = tmp_path / "aliases.yml"
    text = yaml.safe_dump(with_changes(alerts=[]), sort_keys=False).replace("alerts: []\n", "")
    path.write_text(
        text
        + "alerts:\n- {name: a, metric: roc_auc, minor: &level {ratio: 0.95}}\n- {name: b, metric: roc_auc, minor: *level}\n",
        encoding="utf-8",
    )
    cfg = load_config(path, ["alerts[1].minor.ratio=0.8", "baseline={source: values, values: {roc_auc: 0.9}}"])
    assert [rule.minor.ratio for rule in cfg.alerts] == [0.95, 0.8]


def test_an_overridden_value_is_validated_like_any_other(config_file):
    assert (
        error_of(config_file(), ["predictions.threshold=high"])
        == "config error: predictions.threshold: expected int or float, got str 'high'"
    )
    assert "alerts[0].minor.ratio: 1.5 must be in (0, 1)" in error_of(config_file(), ["alerts[0].minor.ratio=1.5"])


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "output.locaton=x",
            "--set output.locaton: unknown key 'locaton'; did you mean 'location'? known keys: location, prefix",
        ),
        (
            "alerts[0].minr.ratio=0.9",
            "--set alerts[0].minr: unknown key 'minr'; did you mean 'minor'? known keys: name,",
        ),
        ("colour=blue", "--set colour: unknown key 'colour'; known keys: version, name, problem_type"),
        ("alerts[2].minor.ratio=0.9", "--set alerts[2].minor.ratio: index 2 is beyond the end of alerts (2 items)"),
        ("kpis[0].max=1", "--set kpis[0].max: index 0 is beyond the end of kpis (0 items)"),
        (
            "notifications.webhook.url=x",
            "--set notifications.webhook.url: notifications is a list: give an item's index, e.g. notifications[0]",
        ),
        ("name.first=x", "--set name.first: name is a single value, not a mapping"),
        ("output[0]=x", "--set output[0]: output is not a list"),
        ("alerts[0]minor=x", "--set alerts[0]minor: not a key path; give keys joined by '.' and list items as [i]"),
        ("alerts[-1].name=x", "--set alerts[-1].name: not a key path"),
        ("output.location", "--set: expected KEY=VALUE, got 'output.location'"),
        ("=x", "--set: give a key path before '='"),
        (
            "alerts[0].maturity.min_coverage=0.8",
            "--set alerts[0].maturity.min_coverage: alerts[0].maturity is 'mature', not a mapping; set alerts[0].maturity itself",
        ),
    ],
)
def test_a_bad_override_is_a_config_error_naming_the_key(config_file, override, expected):
    data = edit(DATA, ("alerts", 0, "maturity"), "mature")
    assert error_of(config_file(data), [override]).startswith(f"config error: {expected}")


def test_variables_are_resolved_before_validation(config_file):
    data = with_changes(
        name="${MONITOR}",
        output={"location": "${CATALOG}.${SCHEMA:-ml_monitoring}", "prefix": "${PREFIX:-}"},
        predictions__threshold="${THRESHOLD:-0.5}",
        strict="${STRICT}",
        predictions__filter="note <> '$${kept}' AND cost > $5",
    )
    env = {"MONITOR": "churn", "CATALOG": "main", "THRESHOLD": "0.25", "STRICT": "true"}
    cfg = load_config(config_file(data), env=env)
    assert cfg.name == "churn"
    assert cfg.output.table("runs").text == "main.ml_monitoring.runs"  # the default, and an empty prefix
    assert cfg.predictions.threshold == 0.25 and cfg.strict is True  # whole values are read as YAML
    assert cfg.predictions.filter == "note <> '${kept}' AND cost > $5"  # $${ is a literal ${, a lone $ stays
    empty = load_config(config_file(data), env={**env, "SCHEMA": ""})  # empty takes the default, as in a shell
    assert empty.output.location.text == "main.ml_monitoring"


def test_a_variable_is_hashed_as_the_value_written_in_the_file(config_file):
    by_variable = load_config(
        config_file(edit(DATA, ("alerts", 0, "minor", "ratio"), "${RATIO}")), env={"RATIO": "0.9"}
    )
    written = load_config(config_file(edit(DATA, ("alerts", 0, "minor", "ratio"), 0.9), name="written.yml"))
    assert by_variable == written and by_variable.source_hash == written.source_hash


def test_an_unset_variable_without_default_names_the_key_path_and_the_variable(config_file):
    data = edit(DATA, ("alerts", 1, "minor", "ratio"), "${AUC_RATIO}")
    assert error_of(config_file(data)) == (
        "config error: alerts[1].minor.ratio: environment variable 'AUC_RATIO' is not set "
        "(write ${AUC_RATIO:-default} to give a default)"
    )


@pytest.mark.parametrize("text", ["${}", "${1ABC}", "${A B}", "${UNCLOSED", "${A:default}"])
def test_a_malformed_reference_is_a_config_error(config_file, text):
    message = error_of(config_file(with_changes(name=text)), env={"A": "x", "UNCLOSED": "x"})
    assert message.startswith("config error: name: invalid reference ")
    assert "${NAME:-default}" in message


def test_overrides_may_hold_variables_and_replace_a_value_before_it_is_resolved(config_file):
    path = config_file(with_changes(output={"location": "${NOT_SET}"}))
    assert error_of(path).startswith("config error: output.location: environment variable 'NOT_SET' is not set")
    cfg = load_config(
        path, ["output.location=${CATALOG}.ml", "predictions.threshold=${T}"], env={"CATALOG": "dev", "T": "0.3"}
    )
    assert cfg.output.location.text == "dev.ml" and cfg.predictions.threshold == 0.3
    assert error_of(path, ["predictions.threshold=${T}"], env={"NOT_SET": "x"}).startswith(
        "config error: predictions.threshold: environment variable 'T' is not set"
    )


# --- the command line ---------------------------------------------------------------------------


def printed(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_every_command_that_loads_a_config_takes_set():
    [commands] = [a for a in build_parser()._actions if a.dest == "command"]
    with_config = {name for name, p in commands.choices.items() if "--config" in p._option_string_actions}
    assert with_config == {
        "run",
        "backfill",
        "validate",
        "maintain",
        "decide",
        "rollback",
        "status",
        "report",
        "export",
        "sql",
    }
    for name in with_config:
        action = commands.choices[name]._option_string_actions["--set"]
        assert action.dest == "overrides" and action.default == [], name


def test_validate_and_sql_read_the_overridden_config(config_file):
    path = str(config_file())
    code, out, _ = printed(
        ["validate", "--config", path, "--set", "output.location=main.dev", "--set", "output.prefix=x_"]
    )
    assert code == 0 and "writes: main.dev.x_perf_metrics, " in out
    code, out, _ = printed(["sql", "--config", path, "--name", "latest_metrics", "--set", "output.location=main.dev"])
    assert code == 0 and "FROM `main`.`dev`.`perf_metrics`" in out


def test_a_bad_override_on_the_command_line_is_exit_2_and_one_line(config_file):
    code, out, err = printed(["validate", "--config", str(config_file()), "--set", "output.locaton=main.dev"])
    assert code == 2 and out == ""
    assert err == (
        "config error: --set output.locaton: unknown key 'locaton'; did you mean 'location'? "
        "known keys: location, prefix, retention\n"
    )


def test_run_passes_the_overridden_config_to_the_job(config_file, monkeypatch):
    """The wiring of ``perfmon run --set`` (and of ``jobs/run_monitor.py``, which shares its arguments)
    up to the job, whose use of the config hash the Spark tests cover."""
    seen = []

    def run_monitor(cfg, as_of, **kwargs):
        seen.append(cfg)
        return SimpleNamespace(
            run_id="r", status="SUCCEEDED", mode="full", message="m", as_of=as_of, rows_read_predictions=0,
            rows_read_labels=0, rows_quarantined=0, buckets_recomputed=0, metric_rows_written=0,
        )  # fmt: skip

    monkeypatch.setattr(perfmon_spark.job, "run_monitor", run_monitor)
    path = config_file()
    code, _, err = printed(
        ["run", "--config", str(path), "--quiet", "--as-of", "2026-03-01", "--set", "alerts[0].minor.ratio=0.9"]
    )
    assert code == 0, err
    written = load_config(config_file(edit(DATA, ("alerts", 0, "minor", "ratio"), 0.9), name="written.yml"))
    assert seen == [written] and seen[0].source_hash == written.source_hash
