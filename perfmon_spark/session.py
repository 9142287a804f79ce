"""The Spark session: the active one where it exists (spark-submit, Databricks, notebooks),
else a local session with Delta Lake from a per-user JAR cache.

The local Delta JARs are the two artefacts that match the installed pyspark and delta-spark
(see ``delta.pip_utils``). ``ensure_delta_jars`` resolves them once through Spark's own Ivy
into ``ivy_dir()`` (``PERFMON_IVY_DIR``, else the user's cache folder, so that runs from any
folder share one copy); later sessions load the cached files directly, which works offline and
skips resolution.

A local session keeps the JVM's own output (Ivy's resolver report, Spark's start-up warnings and
logs) out of the user's terminal: it goes to ``spark_log()``, unless ``PERFMON_VERBOSE`` is set
(``--verbose``).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import version
from pathlib import Path

from perfmon_spark.config import SparkConfig

LOG = logging.getLogger("perfmon_spark")

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Settings that keep a local session lean; a user's spark.conf overrides them. One partition for
# Delta's log replay and the throughput collector: a small run is many short jobs, and on two cores
# both cut about a tenth of its time (docs/performance.md#local-session-settings). VACUUM lists a
# table's files in as many tasks as the parallel listing setting says (10,000 by default): on two
# cores a VACUUM of a small table took 22 s, and its DRY RUN 50 s, against 1.9 and 2.7 s with 8.
LOCAL_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "4g",
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
}


# HotSpot does not compile a method of more than 8,000 bytes of bytecode
# (-XX:+DontCompileHugeMethods), so a fused stage whose generated method is larger runs
# interpreted: 1.7x to 4x slower in our measurements, with no error. Spark's default limit
# (65,535) lets that happen; at 8,000 Spark runs such a stage without whole-stage fusion instead,
# which keeps every method compiled.
HUGE_METHOD_LIMIT = ("spark.sql.codegen.hugeMethodLimit", "8000", "65535")


def prepare_session(spark) -> None:
    """Settings every run needs, whoever built the session: UTC for bucket boundaries, and
    ``HUGE_METHOD_LIMIT`` unless the user chose a limit."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    key, value, spark_default = HUGE_METHOD_LIMIT
    try:
        if spark.conf.get(key, spark_default) == spark_default:
            spark.conf.set(key, value)
    except Exception as e:  # noqa: BLE001  (a platform that allows only some settings keeps its own)
        LOG.warning(
            "could not set %s=%s (%s); the run goes on with the platform's setting",
            key,
            value,
            str(e).splitlines()[0][:200],
        )


def delta_coordinates() -> list[str]:
    """Maven coordinates of the Delta JARs matching the installed Python packages: Delta 4.0
    (for Spark 4.0) names its artefact for Scala only, later releases for Spark and Scala."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta = version("delta-spark")
    artifact = "delta-spark_2.13" if delta.startswith("4.0.") else f"delta-spark_{spark_minor}_2.13"
    return [f"io.delta:{artifact}:{delta}", f"io.delta:delta-storage:{delta}"]


def user_cache_dir() -> Path:
    """perfmon's folder in the platform's per-user cache (XDG on Linux)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "perfmon-spark"


def ivy_dir() -> Path:
    """Where the Delta JARs are cached: ``PERFMON_IVY_DIR`` (``make`` points it at the project's
    ``.ivy``), else ``ivy`` in the user's cache folder."""
    configured = os.environ.get("PERFMON_IVY_DIR")
    return Path(configured).resolve() if configured else user_cache_dir() / "ivy"


def spark_log() -> Path:
    """The file a quiet local session's JVM writes its output to (one per user, replaced by
    each session)."""
    return user_cache_dir() / "logs" / "spark.log"


def verbose() -> bool:
    return bool(os.environ.get("PERFMON_VERBOSE"))


def cached_delta_jars() -> list[str] | None:
    """Paths of the cached Delta JARs, or None if any is missing."""
    paths = []
    for coordinate in delta_coordinates():
        group, artifact, ver = coordinate.split(":")
        path = ivy_dir() / "jars" / f"{group}_{artifact}-{ver}.jar"
        if not path.is_file():
            return None
        paths.append(str(path))
    return paths


def ensure_delta_jars() -> list[str]:
    """Resolve the Delta JARs into the Ivy cache (network on first call only)."""
    jars = cached_delta_jars()
    if jars is not None:
        return jars
    print(f"perfmon: fetching the Delta Lake JARs into {ivy_dir()} (once)", file=sys.stderr)
    settings = {
        "spark.jars.packages": ",".join(delta_coordinates()),
        "spark.jars.ivy": str(ivy_dir()),
        "spark.ui.enabled": "false",
    }
    _start("local[1]", "perfmon-resolve-delta", settings).stop()
    jars = cached_delta_jars()
    if jars is None:
        where = "" if verbose() else f"; Ivy's report is in {spark_log()}"
        raise RuntimeError(f"Delta JARs {delta_coordinates()} not found in {ivy_dir()} after resolution{where}")
    return jars


def _start(master: str, app_name: str, settings: dict[str, str]):
    """A new local session. Quiet unless ``verbose()``: the JVM is launched with its stdout and
    stderr on ``spark_log()``, and only errors are logged."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    conf = SparkConf().setMaster(master).setAppName(app_name).setAll(list(settings.items()))
    gateway = None
    if not verbose():
        spark_log().parent.mkdir(parents=True, exist_ok=True)
        with spark_log().open("wb") as log:  # the JVM keeps its own handle on the file
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
    context = SparkContext(conf=conf, gateway=gateway)
    context.setLogLevel("WARN" if verbose() else "ERROR")
    return SparkSession(context)


def _launched_by_spark_submit() -> bool:
    """spark-submit (and Databricks) start the JVM first and hand Python a gateway."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def remote() -> str | None:
    """The Spark Connect server to run on: ``SPARK_REMOTE`` (PySpark's own variable, e.g.
    ``sc://host:15002``), or None."""
    return os.environ.get("SPARK_REMOTE") or None


def get_spark(spark_config: SparkConfig | None = None, app_name: str = "perfmon"):
    """The session to run on.

    An active session or one configured by spark-submit / Databricks is taken as it is (its
    Delta comes from ``--packages`` or the runtime). With ``remote()`` set, a Spark Connect
    session on that server (which must load Delta's SQL extension), given those of the config's
    ``spark.conf`` settings a client may set. Otherwise a local session is built with the Delta
    extensions, ``LOCAL_DEFAULTS`` and the config's ``spark:`` section.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if remote() is not None:
        return _connect(spark_config or SparkConfig(), app_name)
    if _launched_by_spark_submit():
        return SparkSession.builder.appName(app_name).getOrCreate()
    spark_config = spark_config or SparkConfig()
    # Local Python workers must run this interpreter (it has numpy, pandas and this package).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.jars": ",".join(ensure_delta_jars()),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        **LOCAL_DEFAULTS,
        **dict(spark_config.conf),
    }
    return _start(spark_config.master, app_name, settings)


def _connect(spark_config: SparkConfig, app_name: str):
    """A Spark Connect session on ``remote()``. A client may set only runtime SQL settings: each
    of the config's that the server refuses (a static one, or one that serverless forbids) is
    said at warning level, and the run goes on with the server's."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(remote()).appName(app_name).getOrCreate()
    for key, value in spark_config.conf:
        try:
            spark.conf.set(key, value)
        except Exception as e:  # noqa: BLE001  (the server's refusal; its class differs by server)
            LOG.warning("could not set %s=%s on %s (%s)", key, value, remote(), str(e).splitlines()[0][:200])
    return spark
