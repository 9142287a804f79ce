"""Shared fixtures: one SparkSession for the whole run (local[2], few shuffle partitions, UTC,
Delta from the project's JAR cache), which unit tests under tests/unit never request, and a real
Pushgateway on loopback for the export tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from tests.helpers import PUSHGATEWAY, ROOT, free_ports

os.environ.setdefault("PERFMON_IVY_DIR", str(ROOT / ".ivy"))


CONNECT_PORT = free_ports()[0]


@pytest.fixture(scope="session")
def spark():
    """The session, which also serves Spark Connect on ``connect_url`` (the plugin that ships with
    pyspark, on a loopback port): a client's Delta SQL then runs with this session's settings."""
    from perfmon_spark.config import SparkConfig
    from perfmon_spark.job.scope import LABEL_DELTA_SETTING
    from perfmon_spark.session import get_spark

    session = get_spark(
        SparkConfig(
            master="local[2]",
            conf=(
                ("spark.sql.shuffle.partitions", "2"),
                ("spark.default.parallelism", "2"),
                # the tests' lakes are small: label deltas at any size, so that their tests reach them
                (LABEL_DELTA_SETTING, "0"),
                ("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin"),
                ("spark.connect.grpc.binding.address", "127.0.0.1"),
                ("spark.connect.grpc.binding.port", str(CONNECT_PORT)),
            ),
        ),
        app_name="perfmon-tests",
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def connect_url(spark) -> str:
    """The Spark Connect address of the tests' session (``SPARK_REMOTE`` for a client)."""
    return f"sc://127.0.0.1:{CONNECT_PORT}"


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    """The URL of a Pushgateway on a free loopback port, in memory only, stopped at the end of the run."""
    binary = shutil.which(PUSHGATEWAY)
    if binary is None:
        pytest.fail(f"{PUSHGATEWAY} not found on PATH: install Debian's package (apt-get install -y {PUSHGATEWAY})")
    port = free_ports()[0]
    log = tmp_path_factory.mktemp("pushgateway") / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file=", "--log.level=warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{PUSHGATEWAY} did not become ready on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
