"""Shared fixtures: one SparkSession for the whole run (local[2], few shuffle partitions, UTC,
Delta from the project's JAR cache), which unit tests under tests/unit never request; the e2e
tests' ``perfmon demo`` process, started with the session; and a real Pushgateway on loopback for
the export tests.

The e2e tests run last: the demo they share (its own JVM, a minute and a half) then runs beside
the in-process tests, most of whose time is short jobs and driver-side planning, instead of
before them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from tests.helpers import BIN, PUSHGATEWAY, ROOT, free_ports, start

os.environ.setdefault("PERFMON_IVY_DIR", str(ROOT / ".ivy"))


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)  # stable: e2e last


@pytest.fixture(scope="session", autouse=True)
def demo_process(request, tmp_path_factory):
    """``perfmon demo`` on 12,000 predictions over 60 days, running in the background from the
    start of a session that has e2e tests (their ``demo`` fixture waits for it): its folder,
    process and output files' stem, else None."""
    if not any(item.get_closest_marker("e2e") for item in request.session.items):
        yield None
        return
    folder = tmp_path_factory.mktemp("demo")
    args = [str(BIN / "perfmon"), "demo", "--dir", str(folder), "--rows", "12000", "--days", "60"]
    output = tmp_path_factory.mktemp("demo-output") / "demo"
    process = start(args, output)
    try:
        yield folder, process, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
