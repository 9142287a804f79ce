"""The JSON Schema (``perfmon schema``) and the markdown reference of the config: derived from the
same declarations as the parser, so every config the project ships must pass both, and a config
the parser refuses for its shape the schema refuses too."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from perfmon_spark.cli import main
from perfmon_spark.config import json_schema, parse_config, reference_markdown
from perfmon_spark.config.schema import branches
from perfmon_spark.demo import Lakehouse, demo_config, recommender_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.vocabulary import ProblemType
from tests.helpers import BASE, perfmon_without

ROOT = Path(__file__).resolve().parents[2]


def printed_schema() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(printed_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


def readme_example() -> dict:
    """The first YAML block of the README's Configuration section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Configuration\n") :]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.DOTALL)[1])


LAKE = Lakehouse(Path("/lake"), "/lake/predictions", "/lake/labels", "/lake/monitoring", None)


def demo(alerting: bool) -> dict:
    return yaml.safe_load(demo_config(LAKE, alerting=alerting))


EXAMPLES = {
    "conf/demo.yml": lambda: yaml.safe_load((ROOT / "conf" / "demo.yml").read_text(encoding="utf-8")),
    "demo_config": lambda: demo(alerting=True),
    "demo_config without alerting": lambda: demo(alerting=False),
    "recommender_config": lambda: yaml.safe_load(recommender_config(LAKE)),
    "README": readme_example,
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_shipped_config_passes_the_schema_and_the_parser(validator, name):
    data = EXAMPLES[name]()
    validator.validate(data)
    parse_config(data)


@pytest.mark.parametrize(
    "path, value",
    [
        (("colour",), "blue"),
        (("version",), "1"),
        (("problem_type",), "clustering"),
        (("labels", "max_delay"), "3 fortnights"),
        (("windows",), {"granularity": "2 days"}),
        (("segments",), {"cross": [["a"]]}),
        (("alerts",), [{"name": "a", "metric": "roc_auc", "maturity": "ripe", "minor": {"ratio": 0.9}}]),
        (("alerts",), [{"name": "a", "metric": "roc_auc", "minor": {"ratio": 1.2}}]),
        (("retrain",), {"triggers": ["always"]}),
    ],
)
def test_the_schema_refuses_what_the_parser_refuses_for_its_shape(validator, path, value):
    data = EXAMPLES["conf/demo.yml"]()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert not validator.is_valid(data)
    with pytest.raises(ConfigError):
        parse_config(data)


def test_the_schema_has_one_branch_per_problem_type():
    schema = json_schema()
    assert schema["discriminator"]["propertyName"] == "problem_type"
    assert list(branches(schema)) == [kind.value for kind in ProblemType]
    for kind, branch in branches(schema).items():
        assert branch["properties"]["problem_type"]["const"] == kind


@pytest.mark.parametrize("kind", ProblemType)
def test_each_branch_of_the_schema_refuses_the_sections_of_other_problem_types(validator, kind):
    """The schema checks the shape only: the cross-section rules (ranking needs request and item) are the parser's."""
    data = dict(BASE, problem_type=kind.value)
    assert validator.is_valid(data)
    assert validator.is_valid(dict(data, ranking={"k": [5]})) == (kind == ProblemType.RANKING)


def test_the_schema_in_the_repository_is_the_printed_one():
    assert (ROOT / "docs" / "perfmon.schema.json").read_text(encoding="utf-8") == printed_schema()


def test_perfmon_schema_runs_without_spark():
    printed = subprocess.run([*perfmon_without("pyspark"), "schema"], capture_output=True, text=True, cwd=ROOT)
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    assert printed.stdout == printed_schema()


def test_the_demo_config_names_the_schema_for_editors():
    first = (ROOT / "conf" / "demo.yml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/perfmon.schema.json"


def reference_rows() -> dict[str, list[str]]:
    """Key path -> (type, default, allowed, description) of the reference table."""
    rows = [line.strip("|").split(" | ") for line in reference_markdown().splitlines()[2:]]
    return {row[0].strip(" `"): [cell.strip() for cell in row[1:]] for row in rows}


def test_the_reference_documents_every_key_of_the_readme_example():
    rows = reference_rows()

    def check(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = prefix + key
            assert path in rows, path
            if rows[path][0].startswith("mapping to"):  # free keys: metric names, Spark settings
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    check(item, f"{path}{'[]' if isinstance(value, list) else ''}.")

    check(readme_example(), "")


def test_every_key_has_a_type_and_a_doc():
    for path, (kind, _, _, description) in reference_rows().items():
        assert kind and description, path


def test_conf_demo_is_what_the_demo_writes():
    """conf/demo.yml is the demo's config with its paths relative to conf/ (it cannot fall behind)."""
    stored = EXAMPLES["conf/demo.yml"]()
    for section in ("predictions", "labels"):
        stored[section]["table"] = stored[section]["table"].replace("../demo-lake/", "/lake/")
    stored["output"]["location"] = stored["output"]["location"].replace("../demo-lake/", "/lake/")
    written = demo(alerting=True)
    for section in ("predictions", "labels"):
        written[section]["table"] = written[section]["table"].replace("./", "/lake/")
    written["output"]["location"] = written["output"]["location"].replace("./", "/lake/")
    assert stored == written
