"""``io.lake``: the one way to the output tables. What needs no Spark: the predicates a MERGE
reads (this monitor's rows, bounded on a table's time column, the name quoted once), and that no
other module filters on the monitor or reads and writes the output tables around it."""

from __future__ import annotations

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.io.catalog import PERF_METRICS, PERF_STATS, RUNS
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.quoting import sql_escaped, sql_string
from tests.helpers import ROOT, config_dict

PACKAGE = ROOT / "perfmon_spark"


@pytest.fixture
def lake(tmp_path) -> Lake:
    cfg = parse_config(config_dict(str(tmp_path / "p"), str(tmp_path / "l"), str(tmp_path / "out")))
    return Lake(None, cfg)  # the predicates need no session


def test_a_write_owns_the_monitors_rows(lake):
    assert lake.owned() == "t.monitor = 'fraud'"
    assert lake.owned(PERF_METRICS) == "t.monitor = 'fraud'"


def test_a_bounded_write_owns_rows_by_the_tables_time_column(lake):
    since = datetime(2026, 3, 2)
    assert lake.owned(PERF_METRICS, since=since) == (
        "t.monitor = 'fraud' AND t.window_end >= TIMESTAMP'2026-03-02 00:00:00.000000'"
    )
    buckets = (datetime(2026, 3, 1), datetime(2026, 3, 3, 12))
    assert lake.owned(PERF_STATS, at=buckets) == (
        "t.monitor = 'fraud' AND t.bucket_start IN "
        "(TIMESTAMP'2026-03-01 00:00:00.000000', TIMESTAMP'2026-03-03 12:00:00.000000')"
    )


@pytest.mark.parametrize("table", [None, RUNS], ids=["no table", "runs"])
def test_a_bound_needs_a_time_column(lake, table):
    with pytest.raises(ValueError, match="no time column"):
        lake.owned(table, since=datetime(2026, 3, 2))


def test_sql_strings_double_their_quotes():
    assert sql_escaped("o'brien") == "o''brien"
    assert sql_string("o'brien") == "'o''brien'"
    assert sql_string("fraud") == "'fraud'"


def _modules():
    return [p for p in PACKAGE.rglob("*.py") if p.parent.name != "io"]


def test_no_module_filters_on_the_monitor_but_the_lake():
    mine = re.compile(r"""col\((["'])monitor\1\)|col\(C\.monitor\)|\bt\.monitor\b""")
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _modules()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if mine.search(line)
    ]
    assert not found


# Reads of tables that are not output tables, through ``io.tables`` directly.
_INPUT_READERS = {
    Path("perfmon_spark/alerts/baseline.py"): "the baseline table (an input)",
}


def test_output_tables_are_read_and_written_through_the_lake():
    direct = {"read_table", "merge_into", "append"}
    found = []
    for p in _modules():
        if p.relative_to(ROOT) in _INPUT_READERS:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "perfmon_spark.io.tables":
                found += [f"{p.relative_to(ROOT)}: {a.name}" for a in node.names if a.name in direct]
    assert not found
