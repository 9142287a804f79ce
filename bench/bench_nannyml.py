"""Benchmark: a full perfmon-spark run against NannyML's pandas calculators on the same rows, each
a whole process (JVM or Python start included), in one invocation:

    .venv/bin/python bench/bench_nannyml.py --rows 1000000 --days 30

NannyML runs in its own virtual environment (``bench/.venv-nannyml``, made once with
``NANNYML_VERSION``), over Parquet copies of the lakehouse's tables (written once, not timed):
``bench/nannyml_job.py`` does the same label work and the daily metrics of every version and
slice. perfmon-spark computes more (rolling 7 and 28 day windows, intervals, score PSI): the ratio
is against the work a NannyML user gets. The label-work floor of ``bench_full_run.py`` (the least
Spark job that does that label work) is timed beside them: what any Spark process costs here.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup, timed  # noqa: E402

NANNYML_VERSION = "0.13.1"
NANNYML_VENV = ROOT / "bench" / ".venv-nannyml"


def nannyml_python() -> Path:
    python = NANNYML_VENV / "bin" / "python"
    if not python.exists():
        venv.create(NANNYML_VENV, with_pip=True)
        # NannyML imports statsmodels without declaring it
        subprocess.run([python, "-m", "pip", "install", "-q", f"nannyml=={NANNYML_VERSION}", "statsmodels"], check=True)
    return python


def export_parquet(config: Path, folder: Path) -> None:
    """The inputs as Parquet for pandas (once)."""
    if (folder / "labels.parquet").exists():
        return
    from perfmon_spark.config import load_config
    from perfmon_spark.session import get_spark

    cfg = load_config(config)
    spark = get_spark(cfg.spark)
    for name, ref in (("predictions", cfg.predictions.table), ("labels", cfg.labels.table)):
        spark.read.format("delta").load(ref.text).toPandas().to_parquet(folder / f"{name}.parquet")
    spark.stop()


def main() -> None:
    args, folder, config, as_of = bench_setup(__doc__)
    python = str(nannyml_python())
    export_parquet(config, folder)
    ours = timed(
        [
            sys.executable,
            "-m",
            "perfmon_spark",
            "run",
            "--quiet",
            "--config",
            str(config),
            "--as-of",
            as_of,
            "--full-refresh",
        ]
    )
    theirs = timed(
        [
            python,
            "bench/nannyml_job.py",
            "--dir",
            str(folder),
            "--as-of",
            as_of,
            "--out",
            str(folder / "nannyml.parquet"),
        ]
    )
    floor = timed(
        [
            sys.executable,
            "bench/floor_job.py",
            "--config",
            str(config),
            "--as-of",
            as_of,
            "--floor",
            "labels",
            "--out",
            str(folder / "floor_labels"),
        ]
    )
    print(f"rows: {args.rows:,} predictions over {args.days} days; as_of {as_of}")
    print(f"perfmon-spark full run: {ours:.1f} s")
    print(f"NannyML {NANNYML_VERSION}:         {theirs:.1f} s")
    print(f"label-work floor (Spark SQL): {floor:.1f} s")
    print(f"ratio: {ours / theirs:.2f}x (target <= 0.75x); the floor itself: {floor / theirs:.2f}x NannyML")


if __name__ == "__main__":
    main()
