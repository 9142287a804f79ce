"""Benchmark: the job at scale, each run in its own process with a fixed driver memory:

    .venv/bin/python bench/bench_scale.py --rows 25000000
    .venv/bin/python bench/bench_scale.py --rows 100000000

The lakehouse (generated once into ``--dir``): ``--rows`` predictions over ``--days`` days from 3
model versions, 3 segment columns of 20, 10 and 50 values (skewed), a drift feature, and labels
for 90% of them arriving 1 to 60 days late (``labels.max_delay``: 60 days). The config: 6 binary
metrics, daily buckets, 7- and 28-day windows, one alert rule over every slice, drift.

The runs: a full run as of ``--increments`` days before the end, then one incremental run per day
up to the end. For each it prints the wall time (JVM start included), the time of each stage (its
progress lines), the rows it read, rows per second per core, and the memory of the run's
processes: the driver JVM's peak resident memory and its largest heap right after a collection
(from the JVM's GC log: an upper bound of what it holds on to), the peak resident memory of the
run's Python process and of its largest PySpark worker. Run it at two sizes: the driver's memory
must not grow with the rows. With ``--master local[*]`` (the default) the driver JVM is also the
executor, so its memory holds the executor's work and cached rows too; ``--master
local-cluster[1,2,6144]`` runs the executor in a JVM of its own (its peak is printed apart).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfmon_spark.vocabulary import Stage  # noqa: E402

START_DAY = "2026-01-01"
SEGMENTS = {"country": 20, "channel": 10, "category": 50}  # values per segment column
MAX_DELAY_DAYS = 60
CONFIG = """\
version: 1
name: scale
problem_type: binary
predictions:
  table: ./predictions
  id: prediction_id
  timestamp: prediction_ts
  model_version: model_version
  score: score
  threshold: 0.15
labels:
  table: ./labels
  id: prediction_id
  label: is_fraud
  timestamp: label_ts
  max_delay: {max_delay} days
  positive: 1
segments:
  columns: [{segments}]
metrics: [accuracy, precision, recall, f1, roc_auc, score_psi]
windows:
  granularity: 1 day
  rolling: [7 days, 28 days]
output:
  location: ./monitoring
baseline:
  source: window
  window: 7 days
alerts:
  - name: auc_drop
    metric: roc_auc
    window: 7 days
    slices: all
    minor: {{ratio: 0.97}}
    sustained: {{ratio: 0.93, consecutive: 2}}
    critical: {{ratio: 0.80}}
    min_labeled: 200
drift:
  features: [amount]
  bins: 10
spark:
  master: {master}
  conf:
    spark.driver.memory: {memory}
    spark.executor.memory: {executor_memory}
    spark.sql.shuffle.partitions: "16"
    spark.driver.extraJavaOptions: "-XX:+UseParallelGC -Xlog:gc:file={gc}/gc-%p.log"
"""


def generate(folder: str, rows: int, days: int, memory: str) -> None:
    """Write the ``predictions`` and ``labels`` Delta tables (change data feed on)."""
    from pyspark.sql import functions as F

    from perfmon_spark.config import SparkConfig
    from perfmon_spark.demo import normal, uniform
    from perfmon_spark.session import get_spark

    spark = get_spark(SparkConfig(conf=(("spark.driver.memory", memory), ("spark.sql.shuffle.partitions", "16"))))
    i = F.col("id")
    seconds = (i * F.lit(days * 86400.0) / F.lit(rows)).cast("long")
    ts = F.lit(START_DAY).cast("timestamp") + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), seconds)
    version = F.element_at(F.array(*(F.lit(v) for v in ("v1", "v2", "v3"))), (uniform(i, 1) * 3).cast("int") + 1)
    y = (uniform(i, 4) < 0.05).cast("int")
    columns = [
        F.concat(F.lit(f"{name}_"), (F.pow(uniform(i, 20 + k), 2) * n).cast("int").cast("string")).alias(name)
        for k, (name, n) in enumerate(SEGMENTS.items())
    ]
    base = spark.range(rows).select(
        i,
        F.concat(F.lit("p"), i.cast("string")).alias("prediction_id"),
        ts.alias("prediction_ts"),
        version.alias("model_version"),
        (1 / (1 + F.exp(-(F.lit(-4.0) + F.lit(3.0) * y + F.lit(0.9) * normal(i, 5))))).alias("score"),
        *columns,
        F.round(F.lit(20.0) + F.lit(400.0) * uniform(i, 7), 2).alias("amount"),
        y.alias("_truth"),
    )
    delay = F.lit(86400.0) * (F.lit(1.0) + F.lit(MAX_DELAY_DAYS - 1.0) * F.pow(uniform(i, 8), 2))
    labels = base.filter(uniform(i, 9) < 0.9).select(
        "prediction_id",
        F.col("_truth").alias("is_fraud"),
        (F.col("prediction_ts") + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), delay.cast("long"))).alias(
            "label_ts"
        ),
    )
    predictions = base.drop("id", "_truth").withColumn("prediction_date", F.to_date("prediction_ts"))
    for df, name, part in (
        (predictions, "predictions", "prediction_date"),
        (labels.withColumn("label_date", F.to_date("label_ts")), "labels", "label_date"),
    ):
        df.write.format("delta").mode("overwrite").option("delta.enableChangeDataFeed", "true").partitionBy(part).save(
            str(Path(folder) / name)
        )
    spark.stop()


@dataclass
class Peaks:
    """The largest resident memory (VmHWM, bytes) seen of each kind of process of a run."""

    driver: int = 0  # the driver JVM (spark-submit's)
    executor: int = 0  # the largest executor JVM (local-cluster only)
    python: int = 0  # the run's own Python process
    workers: int = 0  # the largest PySpark worker (pandas UDFs run there)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _kind(pid: int, run: int) -> tuple[str | None, int]:
    """Which of ``Peaks`` the process ``pid`` of the run whose process is ``run`` is, and its peak
    resident memory (bytes); (None, 0) for another process or one that has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None, 0
    hwm = re.search(r"^VmHWM:\s*(\d+) kB", status, re.M)
    if hwm is None:
        return None, 0
    if pid == run:
        kind = "python"
    elif b"java" in command.split(b"\0", 1)[0]:
        kind = "executor" if b"CoarseGrainedExecutorBackend" in command else "driver"
    else:
        kind = "workers" if b"pyspark.daemon" in command or b"pyspark.worker" in command else None
    return kind, int(hwm[1]) * 1024


def _watch(run: int, peaks: Peaks, done: threading.Event) -> None:
    while not done.wait(0.25):
        for pid in _tree(run):
            kind, peak = _kind(pid, run)
            if kind is not None:
                setattr(peaks, kind, max(getattr(peaks, kind), peak))


def _heap_after_gc(gc: Path) -> int:
    """The largest heap occupancy right after a collection in the GC logs under ``gc`` (bytes). A
    young collection leaves the old generation's garbage in place, so this bounds the live set
    from above."""
    after = [int(m) for log in gc.glob("gc-*.log") for m in re.findall(r"->(\d+)M\(", log.read_text())]
    return max(after, default=0) * 2**20


@dataclass(frozen=True)
class Measure:
    """One run's process: wall time, memory and what it printed."""

    seconds: float
    peaks: Peaks
    heap_after_gc: int
    stdout: str
    stderr: str

    def stages(self) -> dict[str, float]:
        """The run's progress lines (``job.progress``): seconds per stage, in order."""
        names = "|".join(stage.value for stage in Stage)
        return {m[1]: float(m[2]) for m in re.finditer(rf"\b({names})\s+(\d+\.\d) s ", self.stderr)}

    def rows_read(self) -> int:
        """Predictions and labels read, from the run's result line."""
        found = re.search(r"(\d+) predictions and (\d+) labels read", self.stdout)
        return int(found[1]) + int(found[2])


def measured(args: list[str], gc: Path) -> Measure:
    """Run a process; its wall time, memory peaks, largest live heap and output."""
    shutil.rmtree(gc, ignore_errors=True)
    gc.mkdir(parents=True)
    peaks, done = Peaks(), threading.Event()
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = threading.Thread(target=_watch, args=(process.pid, peaks, done), daemon=True)
    watcher.start()
    out, err = process.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    watcher.join()
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{err[-3000:]}")
    return Measure(elapsed, peaks, _heap_after_gc(gc), out, err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--increments", type=int, default=10, help="daily incremental runs after the full one")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--executor-memory", default="6g", help="with a local-cluster master")
    parser.add_argument("--dir", default=str(ROOT / "bench-lake-scale"))
    args = parser.parse_args()
    folder = Path(args.dir).resolve() / f"{args.rows}-{args.days}"
    marker = folder / ".generated"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        # in a process of its own: PySpark's JVM outlives spark.stop() while its Python lives
        code = f"from bench.bench_scale import generate; generate({str(folder)!r}, {args.rows}, {args.days}, {args.driver_memory!r})"
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        marker.touch()
        print(f"generated {args.rows:,} predictions over {args.days} days in {time.perf_counter() - start:.0f} s")
    gc = folder / "gc"
    config = folder / "scale.yml"
    config.write_text(
        CONFIG.format(
            max_delay=MAX_DELAY_DAYS,
            segments=", ".join(SEGMENTS),
            master=args.master,
            memory=args.driver_memory,
            executor_memory=args.executor_memory,
            gc=gc,
        )
    )
    shutil.rmtree(folder / "monitoring", ignore_errors=True)

    end = date.fromisoformat(START_DAY) + timedelta(days=args.days)
    run = [sys.executable, "-m", "perfmon_spark", "run", "--config", str(config)]
    cores = len(os.sched_getaffinity(0))
    print(
        f"rows: {args.rows:,} predictions over {args.days} days; master {args.master}, "
        f"driver memory {args.driver_memory}; {cores} cores"
    )
    for k in range(args.increments + 1):
        as_of = end - timedelta(days=args.increments - k)
        m = measured([*run, "--as-of", as_of.isoformat(), *(["--full-refresh"] if k == 0 else [])], gc)
        times = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in m.stages().items())
        read = m.rows_read()
        print(
            f"{'full' if k == 0 else 'incremental':>11} as of {as_of}: {m.seconds:6.1f} s ({times}); "
            f"{read:,} rows read, {read / m.seconds / cores:,.0f} rows/s/core; "
            f"driver JVM peak {m.peaks.driver / 2**30:.2f} GiB, heap after GC {m.heap_after_gc / 2**30:.2f} GiB, "
            f"Python peak {m.peaks.python / 2**20:.0f} MiB, PySpark workers {m.peaks.workers / 2**20:.0f} MiB"
            + (f"; executor JVM peak {m.peaks.executor / 2**30:.2f} GiB" if m.peaks.executor else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
