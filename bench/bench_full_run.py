"""Benchmark: a full monitoring run F and a run with nothing new E against the two floors of
bench/floor_job.py on the same tables, each in its own process, JVM start included in all.
Prints the times and the ratios.

    .venv/bin/python bench/bench_full_run.py --rows 20000000 --days 90

The sample lakehouse is generated once into --dir and reused by later invocations.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_SPARK = """\
spark:
  master: local[*]
  conf: {spark.sql.shuffle.partitions: "16", spark.driver.memory: "12g"}
"""


def timed(args: list[str]) -> float:
    return timed_output(args)[0]


def timed_output(args: list[str]) -> tuple[float, str]:
    """A process's wall time (start-up included) and what it printed on stdout."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def prepare(folder: Path, rows: int, days: int) -> tuple[Path, str]:
    """Generate the lakehouse (once) and write the benchmark config; returns (config, as_of)."""
    from perfmon_spark.demo import DEMO_START, Lakehouse, demo_config, generate_lakehouse

    marker = folder / f".generated-{rows}-{days}"
    if marker.exists():
        lake = Lakehouse(folder, str(folder / "predictions"), str(folder / "labels"), str(folder / "monitoring"), None)
    else:
        from perfmon_spark.config import SparkConfig
        from perfmon_spark.session import get_spark

        start = time.perf_counter()
        spark = get_spark(SparkConfig(conf=(("spark.driver.memory", "12g"), ("spark.sql.shuffle.partitions", "16"))))
        lake = generate_lakehouse(spark, folder, rows=rows, days=days)
        spark.stop()
        print(f"generated {rows:,} predictions over {days} days in {time.perf_counter() - start:.0f} s")
        marker.touch()
    config = folder / "bench.yml"
    text = demo_config(lake, alerting=False)
    config.write_text(text + BENCH_SPARK)
    return config, (DEMO_START + timedelta(days=days)).date().isoformat()


def bench_setup(doc: str, repeat: bool = False, extra=None):
    """Parse the common arguments and prepare the lakehouse: (args, folder, config, end as_of).
    ``repeat`` adds ``--repeat`` (times each step is run in one session); ``extra(parser)`` adds
    a script's own arguments."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--dir", default=str(ROOT / "bench-lake"))
    if repeat:
        parser.add_argument("--repeat", type=int, default=2)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    folder = Path(args.dir).resolve()
    config, as_of = prepare(folder, args.rows, args.days)
    return args, folder, config, as_of


def main() -> None:
    args, folder, config, as_of = bench_setup(__doc__)
    python = sys.executable
    run = [python, "-m", "perfmon_spark", "run", "--quiet", "--config", str(config), "--as-of", as_of]
    shutil.rmtree(folder / "monitoring", ignore_errors=True)
    full = timed([*run, "--full-refresh"])
    empty = timed(run)
    floor = [python, "bench/floor_job.py", "--config", str(config), "--as-of", as_of]
    counts = timed([*floor, "--out", str(folder / "floor_counts")])
    labels = timed([*floor, "--floor", "labels", "--out", str(folder / "floor_labels")])
    print(f"rows: {args.rows:,} predictions over {args.days} days; as_of {as_of}")
    print(f"full run F:                      {full:.1f} s")
    print(f"run with nothing new E:          {empty:.1f} s")
    print(f"floor (counts):                  {counts:.1f} s")
    print(f"floor (label work, Spark SQL):   {labels:.1f} s")
    print(f"F / counts floor: {full / counts:.2f}x (target <= 1.5x); F / label floor: {full / labels:.2f}x")
    print(f"E / counts floor: {empty / counts:.2f}x (target <= 1.25x)")


if __name__ == "__main__":
    main()
