"""The job through Spark Connect, as serverless compute, standard-access clusters and Databricks
Connect run it: ``perfmon run`` in its own process with ``SPARK_REMOTE`` set, a client of the
tests' session (which serves Connect with Delta's SQL extension; no Delta Connect plugin). Its
tables must equal the demo's classic run, value for value."""

from __future__ import annotations

import pandas as pd
import pytest

from perfmon_spark.io.catalog import PERF_METRICS, PERF_STATS
from tests.helpers import BIN, DEMO_AS_OF, read_table, run

pytestmark = pytest.mark.e2e


def _values(spark, folder, table) -> pd.DataFrame:
    """The fraud monitor's rows of ``table``, without the columns that name the run, in key order."""
    df = read_table(spark, folder / table.name)
    df = df[df["monitor"] == "fraud_scoring"].drop(columns=[c for c in table.bookkeeping if c in df.columns])
    return df.sort_values(list(table.key)).reset_index(drop=True)[sorted(df.columns)]


def test_the_demo_monitor_through_spark_connect_equals_the_classic_run(spark, connect_url, demo, tmp_path):
    folder, _ = demo
    out = tmp_path / "monitoring"
    done = run(
        [
            str(BIN / "perfmon"),
            "run",
            "--config",
            str(folder / "perfmon.yml"),
            "--as-of",
            f"{DEMO_AS_OF:%Y-%m-%d}",
            "--set",
            f"output.location={out}",
        ],
        env={"SPARK_REMOTE": connect_url},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for table in (PERF_METRICS, PERF_STATS):
        classic, connect = _values(spark, folder / "monitoring", table), _values(spark, out, table)
        assert len(classic) > 100, table.name
        # the demo's tables also hold its recommender, whose state fields are null on these rows
        assert classic.drop(columns=connect.columns).isna().all().all(), table.name
        pd.testing.assert_frame_equal(
            connect, classic[connect.columns], check_exact=False, rtol=1e-12, atol=0, check_dtype=False, obj=table.name
        )
