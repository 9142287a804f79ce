"""Shared fixtures: one SparkSession for the whole run (local[2], few shuffle partitions, UTC,
Delta from the project's JAR cache). Unit tests under tests/unit never request it."""

from __future__ import annotations

import os

import pytest

from tests.helpers import ROOT

os.environ.setdefault("PERFMON_IVY_DIR", str(ROOT / ".ivy"))


@pytest.fixture(scope="session")
def spark():
    from perfmon_spark.config import SparkConfig
    from perfmon_spark.session import get_spark

    session = get_spark(
        SparkConfig(
            master="local[2]", conf=(("spark.sql.shuffle.partitions", "2"), ("spark.default.parallelism", "2"))
        ),
        app_name="perfmon-tests",
    )
    yield session
    session.stop()
