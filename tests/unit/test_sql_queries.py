"""``perfmon sql``: every query of ``perfmon_spark/sql`` is filled in for a monitor without Spark,
names only tables the monitor writes, and its quoted words are the vocabulary's own."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from perfmon_spark import vocabulary
from perfmon_spark.config import load_config, parse_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.query import sql_queries, view_name
from tests.helpers import ROOT, config_dict, perfmon_without

WORDS = {
    str(member)
    for enum in vars(vocabulary).values()
    if isinstance(enum, type) and issubclass(enum, vocabulary.StrEnum) and enum is not vocabulary.StrEnum
    for member in enum
} | {vocabulary.OVERALL}


def test_every_query_is_filled_with_the_demo_monitors_names():
    cfg = load_config(ROOT / "conf" / "demo.yml")
    queries = sql_queries(cfg)
    assert len(queries) == len(list((ROOT / "perfmon_spark" / "sql").glob("*.sql"))) == 11
    for q in queries:
        assert "${" not in q.text and "$" not in q.text, q.name
        assert f"monitor = '{cfg.name}'" in q.text, q.name
        assert f"delta.`{cfg.output.location.text}/" in q.text, q.name  # path tables, resolved
        assert q.title and not q.title.startswith("--"), q.name
        assert view_name(cfg, q) == f"TEMPORARY VIEW v_{q.name}"


def test_quoted_words_are_the_vocabulary():
    cfg = load_config(ROOT / "conf" / "demo.yml")
    for q in sql_queries(cfg):
        literals = set(re.findall(r"'([^']*)'", q.text)) - {cfg.name}
        assert literals <= WORDS | set(cfg.metric_names) | {d.text for d in cfg.window_lengths}, (q.name, literals)


def test_a_monitor_without_alerting_gets_only_the_queries_of_its_tables():
    cfg = parse_config(config_dict("/lake/p", "/lake/l", "main.ml-prod"))  # a hyphen: SQL needs back quotes
    names = {q.name for q in sql_queries(cfg)}
    assert names == {"label_coverage_by_age", "latest_metrics", "recent_runs", "slice_leaderboard"}
    [q] = sql_queries(cfg, ("latest_metrics",))
    assert "FROM `main`.`ml-prod`.`perf_metrics`" in q.text
    assert view_name(cfg, q) == "VIEW `main`.`ml-prod`.`v_latest_metrics`"
    with pytest.raises(ConfigError, match=r"--name: unknown query 'nope'; known: alert_history, "):
        sql_queries(cfg, ("nope",))


def test_perfmon_sql_runs_without_spark_and_a_reader_that_leaves_early_gets_no_error_line():
    args = [*perfmon_without("pyspark"), "sql", "--config", str(ROOT / "conf" / "demo.yml")]
    printed = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert printed.returncode == 0 and "-- latest_status:" in printed.stdout, printed.stderr
    read, write = os.pipe()
    os.close(read)  # ``perfmon sql | head -0``: the reader is gone before the first line
    try:
        left = subprocess.run(args, stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    finally:
        os.close(write)
    assert left.returncode == 1 and left.stderr == ""


def test_perfmon_sql_takes_overrides_without_spark():
    args = [*perfmon_without("pyspark"), "sql", "--config", str(ROOT / "conf" / "demo.yml"), "--name", "latest_metrics"]
    printed = subprocess.run([*args, "--set", "output.location=main.ml_dev"], capture_output=True, text=True, cwd=ROOT)
    assert printed.returncode == 0 and "FROM `main`.`ml_dev`.`perf_metrics`" in printed.stdout, printed.stderr
