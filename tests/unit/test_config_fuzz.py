"""Property-based fuzzing of the config loader (hypothesis): random YAML documents, random mutations
of valid configs, random ``--set`` overrides, and ``perfmon validate`` on them. Whatever the input,
the outcome is a valid config or a ``ConfigError`` of one line with exit code 2; any other
exception (a KeyError, a RecursionError) or a message of two lines is a bug of ``perfmon_spark.config``.

The runs are reproducible: every test is derandomized (its examples follow from the test itself,
not from a seed of the run) and keeps no example database. To hunt for new bugs, run with fresh
randomness and more examples: ``PERFMON_FUZZ_EXAMPLES=5000 pytest tests/unit/test_config_fuzz.py``.
Each input that once failed is an ``@example`` of the test that found it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from perfmon_spark.cli import main
from perfmon_spark.config import MonitorConfig, json_schema, load_config, parse_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.metrics import metric_names
from perfmon_spark.vocabulary import ProblemType
from tests.helpers import BASE, ROOT, with_changes

_HUNT = os.environ.get("PERFMON_FUZZ_EXAMPLES")


def fuzz(examples: int) -> settings:
    """``examples`` derandomized examples (CI), or ``$PERFMON_FUZZ_EXAMPLES`` random ones (a hunt)."""
    return settings(max_examples=int(_HUNT) if _HUNT else examples, derandomize=not _HUNT, database=None, deadline=None)


# --- the property ---------------------------------------------------------------------------------


def outcome(load: Callable[[], MonitorConfig]) -> MonitorConfig | ConfigError:
    """What ``load`` gives: a valid config, or a ConfigError of one non-empty line with exit code 2.
    Any other exception is not caught: hypothesis reports it, with the input, as a failure."""
    try:
        cfg = load()
    except ConfigError as e:
        message = str(e)
        assert len(message.splitlines()) == 1, message  # no \n, \r, \x1e, \u2028 ... either
        assert message.startswith("config error: ") and message.removeprefix("config error: ").strip(), message
        assert e.exit_code == 2
        event("ConfigError")  # the shares of outcomes: pytest --hypothesis-show-statistics
        return e
    assert isinstance(cfg, MonitorConfig) and len(cfg.source_hash) == 16
    event("valid config")
    return cfg


def dumped(data) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


@pytest.fixture(scope="module")
def write(tmp_path_factory) -> Callable[[bytes], Path]:
    """Writes a config file and returns its path. One file serves every example: hypothesis runs all
    of a test's examples in one call of it, so they would share a function-scoped ``tmp_path`` too
    (and hypothesis warns of one)."""
    path = tmp_path_factory.mktemp("fuzz") / "monitor.yml"

    def write_bytes(document: bytes) -> Path:
        path.write_bytes(document)
        return path

    return write_bytes


# --- valid configs to start from ----------------------------------------------------------------

DEMO_TEXT = (ROOT / "conf" / "demo.yml").read_text(encoding="utf-8")
DEMO = yaml.safe_load(DEMO_TEXT)
VALID = (
    BASE,
    DEMO,
    dict(
        DEMO,
        spark={"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": 4, "spark.ui.enabled": False}},
        notifications=[{"type": "slack", "url_env": "SLACK_URL", "levels": ["CRITICAL"], "retries": 1}],
        segments={"columns": ["country", "channel"], "cross": [["country", "channel"]], "max_values": 20},
        windows={"granularity": "1 day", "rolling": ["7 days", "28 days", "1000 labels"]},
        estimation={"backtest_period": "28 days"},
    ),
    with_changes(
        labels__join={"mode": "entity_horizon", "entity": "customer_id", "horizon": "30 days"},
        labels__id=None,
        labels__positive="churned",
        labels__negative=["stayed", "renewed"],
        baseline={"source": "values", "values": {"roc_auc": 0.9}},
        alerts=[{"name": "auc", "metric": "roc_auc", "minor": {"ratio": 0.95}, "maturity": {"min_coverage": 0.5}}],
        retrain={"triggers": ["critical"], "max_one_per": "1 week", "inactive_after": "90 days"},
    ),
    dict(
        BASE,
        problem_type="ranking",
        predictions={"table": "p", "request": "r", "item": "i", "timestamp": "ts", "model_version": "v", "rank": "k"},
        labels={"table": "l", "request": "r", "item": "i", "label": "clicks", "timestamp": "ts"},
        metrics=["ndcg@10", "mrr"],
        ranking={"k": [10], "no_relevant": "zero"},
    ),
    dict(
        BASE,
        problem_type="multiclass",
        predictions=dict(BASE["predictions"], prediction="label", probabilities="probs"),
        metrics=["accuracy", "recall[fraud]", "macro_f1", "log_loss"],
    ),
    dict(BASE, problem_type="regression", metrics=["rmse", "mae"], predictions=dict(BASE["predictions"], filter="x")),
)


def test_the_configs_fuzzed_from_are_valid():
    for data in VALID:
        assert isinstance(parse_config(data), MonitorConfig)


def paths(data, loc: tuple = ()) -> Iterator[tuple]:
    """Every key path of a parsed YAML tree (mapping keys and list indexes), parents first."""
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        yield (*loc, key)
        yield from paths(value, (*loc, key))


def node(data, loc: tuple):
    for key in loc:
        data = data[key]
    return data


# --- strategies -----------------------------------------------------------------------------------


def _schema_words() -> tuple[list[str], list]:
    """Every key the schema knows, at any depth, and every value it lists (enums, consts)."""
    schema, keys, words = json_schema(), set(), set()

    def walk(n):
        if isinstance(n, dict):
            keys.update(n.get("properties", {}))
            words.update(json.dumps(v) for v in [*n.get("enum", ()), *([n["const"]] if "const" in n else [])])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(schema)
    return sorted(keys), [json.loads(w) for w in sorted(words)]


KNOWN_KEYS, SCHEMA_WORDS = _schema_words()
ODD_WORDS = (
    *("7 days", "0 days", "1 weeks", "30 day", " 2 hours ", "10000000000000000000000 days", "1 fortnight"),
    *("1000 labels", "0 labels", "-1 labels", "ndcg@0", "ndcg@99999999999999999999", "recall[]", "recall[a]"),
    *("all", "*", "country&channel", "${X}", "$${X}", "${X:-1}", "", " ", "a\nb", "\u2028", "\x1b[31m"),
)
WORDS = [*SCHEMA_WORDS, *sorted({m for kind in ProblemType for m in metric_names(kind)}), *ODD_WORDS]
# integers beyond 64 bits, beyond a float (1024 bits), up to 4215 digits (Python prints no more)
huge = st.builds(
    lambda bits, sign: sign * 2**bits, st.sampled_from([63, 64, 1024, 1400, 14_000]), st.sampled_from([1, -1])
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge,
    st.floats(),  # nan and inf included
    st.text(max_size=12),
    st.sampled_from(WORDS),
    st.dates(),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.dates())
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=8
)
subtrees = st.sampled_from([node(data, loc) for data in VALID for loc in paths(data)]).map(copy.deepcopy)

TOKENS = (
    *":-[]{},?!&*|>'\"#%@`~\\$=.",
    *("\n", "\n  ", "\n- ", "\t", " ", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n"),
    *("&a ", "*a", "<<: *a", "!!binary ", "!!set ", "!!omap ", "!!python/object:os.system ", "!!str ", "!!int "),
    *("!!float ", "!!timestamp ", "2020-02-30", "2020-01-01 25:00:00", "0x", "0b1", "1:20", ".nan", ".inf", "~"),
    *("null", "yes", "${X}", "$${", "${", "\x00", "\ufeff", "\x85", "\u2028", "\ud800"),
    *KNOWN_KEYS,
)
# long runs: nesting deeper than Python's stack, integers of more digits than Python prints
repeated = st.builds(
    lambda prefix, unit, count: prefix + unit * count,
    st.sampled_from(["", "version: ", "0x", "- "]),
    st.sampled_from(["[", "{a: ", "- ", "9", "f", "&a [*a, "]),
    st.sampled_from([40, 400, 4400]),
)
tokens = st.sampled_from(TOKENS) | st.text(max_size=3) | repeated


@st.composite
def spliced(draw) -> str:
    """A valid config's text with a slice replaced by random YAML tokens."""
    text = draw(st.sampled_from([DEMO_TEXT, yaml.safe_dump(BASE, sort_keys=False)]))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    return text[:start] + "".join(draw(st.lists(tokens, max_size=6))) + text[end:]


documents = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.lists(tokens, max_size=30).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
    spliced().map(lambda t: t.encode("utf-8", "surrogatepass")),
    values.map(dumped),
    st.dictionaries(keys, values, max_size=6).map(dumped),
)


@st.composite
def mutated(draw) -> dict:
    """A valid config with one to three random changes: a key or list item deleted, a value replaced
    by a random one or by a part of a valid config, an unknown key or a list item added, a key
    misspelt, or a list item duplicated."""
    data = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        *parent_loc, key = draw(st.sampled_from(list(paths(data)) or [("version",)]))
        parent = node(data, tuple(parent_loc))
        change = draw(st.sampled_from(["delete", "replace", "graft", "add", "rename", "duplicate"]))
        if change == "delete":
            del parent[key]
        elif change in ("replace", "graft"):
            parent[key] = draw(values if change == "replace" else subtrees)
        elif change == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
        elif change == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=2)).join(str(key)[:i] for i in (2, 0))] = parent.pop(key)
        elif isinstance(parent, list):  # add or duplicate an item
            parent.insert(key, draw(values) if change == "add" else copy.deepcopy(parent[key]))
    return data


def key_paths(data, loc: str = "") -> Iterator[str]:
    """Every key path as ``--set`` writes it (``alerts[0].minor.ratio``)."""
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        path = f"{loc}[{key}]" if isinstance(key, int) else f"{loc}.{key}" if loc else str(key)
        yield path
        yield from key_paths(value, path)


SET_KEYS = sorted({p for data in VALID for p in key_paths(data)} | set(KNOWN_KEYS))
override_keys = st.one_of(
    st.sampled_from(SET_KEYS),
    st.builds(str.__add__, st.sampled_from(SET_KEYS), st.sampled_from(["[0]", "[9]", ".x", ".", "[", "]", " ", "\n"])),
    st.text(max_size=20),
)
override_values = st.one_of(
    st.text(max_size=20),
    values.map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()),
    st.lists(tokens, max_size=6).map("".join),
)
overrides = st.lists(st.builds("{}={}".format, override_keys, override_values) | st.text(max_size=10), max_size=3)


# --- the tests ------------------------------------------------------------------------------------


@fuzz(examples=120)
@given(document=documents)
@example(document=b"\x80")  # was UnicodeDecodeError
@example(document=b"\x00")  # was PyYAML's message of two lines
@example(document=b"(:\n0:")  # keys of two types: was TypeError (sorting them for the hash)
@example(document=b"version: 1\n2026-03-01: x")  # a date key: was TypeError
@example(document=b'version: 1\n"a\\nb": x')  # a key with a line break: was a message of two lines
@example(document=b"!!int")  # was IndexError (PyYAML)
@example(document=b"!!timestamp")  # was AttributeError (PyYAML)
@example(document=b"version: !!bool x")  # was KeyError (PyYAML)
@example(document=b"version: 2026-02-30")  # was ValueError (PyYAML)
@example(document=b"version: " + b"9" * 5000)  # was ValueError (more digits than Python reads)
@example(document=b"version: 0x" + b"f" * 3600)  # was ValueError (more digits than Python prints)
@example(document=b"metrics: &a [*a]")  # a list inside itself: was RecursionError
@example(document=b"[" * 5000)  # was RecursionError
def test_any_yaml_document_loads_or_is_one_config_error_line(write, document):
    outcome(lambda: load_config(write(document), env={"X": "0.9"}))


@fuzz(examples=120)
@given(data=mutated())
@example(data={**BASE, 0: None})  # was TypeError
@example(data={**BASE, "predictions": {**BASE["predictions"], "id\r": "x"}})  # was a message of two lines
def test_a_mutated_valid_config_loads_or_is_one_config_error_line(write, data):
    outcome(lambda: parse_config(data))
    outcome(lambda: load_config(write(dumped(data)), env={}))


@fuzz(examples=100)
@given(data=st.sampled_from(VALID), sets=overrides)
@example(data=BASE, sets=["0\x1e0="])  # was a message of two lines (\x1e separates records)
@example(data=BASE, sets=["name=2026-02-30"])  # was ValueError (PyYAML)
@example(data=BASE, sets=["name=!!int"])  # was IndexError (PyYAML)
@example(data=BASE, sets=["name=" + "[" * 5000])  # was RecursionError
@example(data=BASE, sets=[f"metrics[{'1' * 5000}]=x"])  # was ValueError (more digits than Python reads)
def test_random_overrides_load_or_are_one_config_error_line(write, data, sets):
    outcome(lambda: load_config(write(dumped(data)), sets, env={"X": "0.9"}))


def test_an_integer_too_long_to_print_is_one_config_error_line():
    """Found with ``0xfff...`` in a file (a test above); given as a value, it reached ``json.dumps``
    (ValueError: Python prints no integer of more than 4300 digits)."""
    with pytest.raises(ConfigError, match=r"^config error: strict: an integer of more than 1024 bits is too large$"):
        parse_config({**BASE, "strict": 2**15_000})


def validated(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@fuzz(examples=80)
@given(document=st.one_of(st.sampled_from(VALID).map(dumped), mutated().map(dumped), documents), sets=overrides)
@example(document=b"\x00", sets=[])  # was two lines on stderr
def test_perfmon_validate_exits_0_or_2_with_one_line(write, document, sets):
    """``perfmon validate`` without ``--check-tables`` reads no table, so starts no Spark."""
    argv = ["validate", "--config", str(write(document))] + [a for s in sets for a in ("--set", s)]
    code, out, err = validated(argv)
    event(f"exit {code}")
    if code == 0:
        assert out.endswith("tables: not checked (add --check-tables to check tables, columns and label values)\n")
    else:
        assert code == 2 and out == "" and err.startswith("config error: "), (code, err)
        assert len(err.splitlines()) == 1 and err.endswith("\n"), err
