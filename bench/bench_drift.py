"""Benchmark: a full run with 10 drift features against the same run without them, on the same
predictions table (the sample lakehouse's, with 6 more numeric columns), each in its own process,
JVM start included. Prints both times and the ratio (the drift issue's target: at most 1.3x).

    .venv/bin/python bench/bench_drift.py --rows 2000000 --days 30

Both runs read the same table; the one with drift also fixes the bins (its first run) and writes
the drift tables, so the ratio is what turning drift on costs a first full run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup, timed  # noqa: E402

EXTRA = 6  # numeric columns added to the sample's amount and device_risk
DRIFT = """\
drift:
  features: [amount, device_risk, {extra}]
  categorical: [country, channel]
"""


def widen(folder: Path) -> str:
    """The sample's predictions with ``EXTRA`` hashed numeric columns, written once beside them."""
    wide = folder / "predictions_wide"
    if not (wide / "_delta_log").is_dir():
        from pyspark.sql import functions as F

        from perfmon_spark.config import SparkConfig
        from perfmon_spark.session import get_spark

        spark = get_spark(SparkConfig(conf=(("spark.driver.memory", "12g"), ("spark.sql.shuffle.partitions", "16"))))
        preds = spark.read.format("delta").load(str(folder / "predictions"))
        columns = {
            f"f{i}": (F.pmod(F.xxhash64("prediction_id", F.lit(100 + i)), F.lit(10_000)) / 100.0).cast("double")
            for i in range(EXTRA)
        }
        preds.withColumns(columns).write.format("delta").mode("overwrite").partitionBy("prediction_date").save(
            str(wide)
        )
        spark.stop()
    return str(wide)


def main() -> None:
    args, folder, config, as_of = bench_setup(__doc__)
    wide = widen(folder)
    text = config.read_text().replace("table: ./predictions", f"table: {wide}")
    plain, drifting = folder / "bench_plain.yml", folder / "bench_drift.yml"
    plain.write_text(text.replace("location: ./monitoring", "location: ./monitoring_plain"))
    extra = ", ".join(f"f{i}" for i in range(EXTRA))
    drifting.write_text(
        text.replace("location: ./monitoring", "location: ./monitoring_drift") + DRIFT.format(extra=extra)
    )
    python = sys.executable
    times = {}
    for name, cfg in (("without drift", plain), ("with 10 drift features", drifting)):
        shutil.rmtree(folder / f"monitoring_{'plain' if cfg is plain else 'drift'}", ignore_errors=True)
        times[name] = timed([python, "-m", "perfmon_spark", "run", "--config", str(cfg), "--as-of", as_of])
    print(f"rows: {args.rows:,} predictions over {args.days} days; as_of {as_of}")
    for name, seconds in times.items():
        print(f"full run {name}: {seconds:.1f} s")
    ratio = times["with 10 drift features"] / times["without drift"]
    print(f"ratio: {ratio:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
