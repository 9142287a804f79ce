"""``spark-submit jobs/run_monitor.py`` on a real multi-executor cluster: a Spark standalone master
and worker (their own JVMs, started by the installed pyspark's launcher) on loopback, the job
submitted as the README's spark-submit section says, the package shipped to the executors as its
wheel (under a ``.zip`` name) through ``--py-files``, and executors running a Python that does not
have the package installed, on a copy of the demo's input tables whose config names them by
relative paths. The output tables must equal the demo's own local run (which
``test_commands.py`` checks against scikit-learn), and the run prints its progress lines and
nothing else."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from perfmon_spark.io.catalog import PERF_METRICS, PERF_STATS, OutputTable
from perfmon_spark.session import ensure_delta_jars
from perfmon_spark.vocabulary import Stage
from tests.helpers import BIN, DEMO_AS_OF, ROOT, free_ports, load_table, run, with_tuples

pytestmark = pytest.mark.e2e

LOOPBACK = "127.0.0.1"
MONITOR = "fraud_scoring"


def spark_home() -> Path:
    """The installed pyspark's folder: its jars/ and bin/ make it a Spark home."""
    import pyspark

    return Path(pyspark.__file__).parent


def spark_class() -> Path:
    """pyspark's own launcher: the venv's console script, else the one inside the package."""
    script = BIN / "spark-class"
    return script if script.is_file() else spark_home() / "bin" / "spark-class"


@dataclass(frozen=True)
class Cluster:
    url: str  # spark://host:port, for --master
    status_url: str  # the master's web UI as JSON
    work: Path  # the worker's work dir: app-<id>/<executor id>/ per executor
    logs: Path  # the master's and the worker's own output


def daemon(cls: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A Spark daemon JVM in its own process group (its executors and their Python workers join
    it), its output in ``log``."""
    with log.open("wb") as out:  # the child keeps its own handle
        return subprocess.Popen(
            [str(spark_class()), cls, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    """End a daemon and everything in its process group: TERM, then KILL after 30 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def master_status(cluster: Cluster) -> dict:
    with urllib.request.urlopen(cluster.status_url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and one worker (2 cores, 2 GB) on loopback, until the module ends."""
    root = tmp_path_factory.mktemp("cluster")
    port, master_ui, worker_ui = free_ports(3)
    work, logs = root / "work", root / "logs"
    work.mkdir()
    logs.mkdir()
    cluster = Cluster(f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{master_ui}/json/", work, logs)
    # the daemons' environment is the executors' too: no Python settings of this test run in it
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "SPARK_HOME": str(spark_home()),  # else the launcher looks for it with the first python3 on PATH
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOG_DIR": str(logs),
        "SPARK_WORKER_DIR": str(work),
    }
    master_args = ["--host", LOOPBACK, "--port", str(port), "--webui-port", str(master_ui)]
    worker_args = [cluster.url, "--host", LOOPBACK, "--cores", "2", "--memory", "2g"]
    worker_args += ["--webui-port", str(worker_ui), "--work-dir", str(work)]
    daemons = []
    try:
        daemons.append(daemon("org.apache.spark.deploy.master.Master", master_args, env, logs / "master.log"))
        daemons.append(daemon("org.apache.spark.deploy.worker.Worker", worker_args, env, logs / "worker.log"))
        deadline = time.monotonic() + 60
        while True:
            try:
                alive = [w for w in master_status(cluster)["workers"] if w["state"] == "ALIVE"]
            except OSError:  # the master's UI is not up yet
                alive = []
            if len(alive) == 1:
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                tails = "\n".join(f"{p.name}:\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))
                pytest.fail(f"no ALIVE worker at {cluster.url} within 60 s\n{tails}")
            time.sleep(0.5)
        yield cluster
    finally:
        for d in reversed(daemons):
            stop(d)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> tuple[Path, Path]:
    """A Python for the executors with numpy, pandas, pyarrow and pyspark but without perfmon_spark,
    and the file it appends its working directory to at each start.

    A venv whose one ``.pth`` line is the project venv's site-packages: a plain path line is added
    to ``sys.path``, but the ``.pth`` files inside that folder are not run, so the project's editable
    install (a ``.pth`` that installs an import finder) is not there."""
    root = tmp_path_factory.mktemp("bare-python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "project_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    without = subprocess.run(
        [str(python), "-c", "import perfmon_spark"], cwd=root, env=env, capture_output=True, text=True
    )
    assert without.returncode != 0 and "No module named 'perfmon_spark'" in without.stderr, without.stderr
    libraries = [str(python), "-c", "import numpy, pandas, pyarrow, pyspark"]
    assert subprocess.run(libraries, cwd=root, env=env, capture_output=True, text=True).returncode == 0

    # from here on, each start of this Python leaves its working directory: executors run in theirs
    starts = root / "starts.txt"
    record = f"import os; open({str(starts)!r}, 'a').write(os.getcwd() + '\\n')\n"
    (Path(purelib) / "record_start.pth").write_text(record)
    return python, starts


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The project as the README ships it to executors: its wheel, built from a copy of the
    sources (so that the build leaves nothing in the working tree), under a ``.zip`` name.
    ``--py-files`` ships any file, but pyspark puts only ``.zip``, ``.egg`` and ``.jar`` files on
    the executors' ``sys.path`` (``SparkContext.PACKAGE_EXTENSIONS``): a ``.whl`` arrives and is
    not imported. A pure-Python wheel is a zip, so zipimport reads it under that name. Where pip
    cannot fetch its build backend (offline), a zip of the package folder stands in."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "perfmon_spark", source / "perfmon_spark", ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root / "dist"), str(source)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    wheels = sorted((root / "dist").glob("perfmon_spark-*.whl"))
    if done.returncode == 0 and len(wheels) == 1:
        return Path(shutil.copy(wheels[0], root / "perfmon_spark.zip"))
    return Path(shutil.make_archive(str(root / "perfmon_spark"), "zip", source, "perfmon_spark"))


def fraud_rows(spark, path: Path, table: OutputTable) -> pd.DataFrame:
    """The fraud monitor's rows of an output table, sorted by its key, without run_id; array
    cells as tuples."""
    rows = load_table(spark, path).filter(f"monitor = '{MONITOR}'").toPandas().drop(columns="run_id")
    return with_tuples(rows).sort_values(list(table.key)).reset_index(drop=True)


def test_a_standalone_cluster_runs_the_job_with_the_wheel_shipped_by_py_files(
    spark, demo, cluster, bare_python, package, tmp_path
):
    folder, _ = demo
    python, starts = bare_python
    # the demo's input tables in another folder, with its config's relative paths: they resolve
    # against the config file's folder, not the submitting process's (the repository root)
    lake = tmp_path / "lake"
    for name in ("predictions", "labels"):
        shutil.copytree(folder / name, lake / name)
    config = yaml.safe_load((folder / "perfmon.yml").read_text())
    assert (config["predictions"]["table"], config["output"]["location"]) == ("./predictions", "./monitoring")
    for section in ("alerts", "retrain", "drift", "versions"):  # perf_metrics and perf_stats do not depend on them
        config.pop(section)
    (lake / "perfmon.yml").write_text(yaml.safe_dump(config))
    conf = {
        "spark.executor.cores": "1",  # two executors of one core each on the worker's two
        "spark.cores.max": "2",
        "spark.executor.memory": "1g",
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",  # no task before both executors are up
        "spark.pyspark.python": str(python),  # the executors' Python: no perfmon_spark installed
        "spark.pyspark.driver.python": sys.executable,
        "spark.driver.host": LOOPBACK,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": "4",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
    }
    started = time.monotonic()
    done = run(  # from the repo root, as the README's spark-submit section writes it for a cluster
        [
            str(BIN / "spark-submit"),
            "--master",
            cluster.url,
            "--deploy-mode",
            "client",
            "--jars",
            ",".join(ensure_delta_jars()),
            "--py-files",
            str(package),
            "--driver-java-options",
            "-Dlog4j2.configurationFile=conf/log4j2.properties",
            *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
            "jobs/run_monitor.py",
            "--config",
            str(lake / "perfmon.yml"),
            "--as-of",
            DEMO_AS_OF.date().isoformat(),
        ]
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SUCCEEDED" in done.stdout, done.stdout[-3000:]
    # the progress lines (spark-submit merges the Python driver's stderr into its stdout), and no INFO pages
    output = (done.stdout + done.stderr).splitlines()
    stages = [line.split()[1] for line in output if line.startswith("perfmon: ")]
    assert stages == [s.value for s in Stage if s is not Stage.ALERTS], done.stderr[-3000:]
    assert len(done.stderr.splitlines()) < 10, done.stderr[-3000:]

    # two executor JVMs of the one application ran tasks, and executors started the bare Python
    (app,) = cluster.work.glob("app-*")
    executors = sorted(p for p in app.iterdir() if p.is_dir())
    assert len(executors) == 2, executors
    for executor in executors:
        assert "Running task" in (executor / "stderr").read_text(), executor
    assert {Path(line) for line in starts.read_text().splitlines()} & set(executors), starts.read_text()

    # the same rows as the demo's own local run: every column but run_id, floats to 1e-12
    for table in (PERF_METRICS, PERF_STATS):
        submitted = fraud_rows(spark, lake / "monitoring" / table.name, table)
        from_demo = fraud_rows(spark, folder / "monitoring" / table.name, table)
        assert len(submitted) > 0 and not submitted.duplicated(list(table.key)).any(), table.name
        others = [c for c in from_demo.columns if c not in submitted.columns]  # the recommender's state fields
        assert from_demo[others].isna().all().all(), table.name
        pd.testing.assert_frame_equal(
            submitted, from_demo[submitted.columns], check_exact=False, rtol=1e-12, atol=1e-12, obj=table.name
        )
    print(f"spark-submit on the cluster: {seconds:.0f} s")
