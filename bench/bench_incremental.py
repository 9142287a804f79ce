"""Benchmark: an incremental run after one new day against a full run on the same tables, each
in its own process, JVM start included. Prints both times and the ratio (target <= 25%).

    .venv/bin/python bench/bench_incremental.py --rows 20000000 --days 90

The lakehouse of ``bench_full_run.py`` (14-day max delay) is used. The full run is as of the
start of the last day; the incremental run is as of one day later, so it sees one new day of
predictions and the label events that arrived during that day (the watermark path of
``incremental.py``; appends reach the same code through the change data feed). A third run at
the same as_of finds nothing to recompute: its time is what every run costs before any row work
(JVM, session, Delta snapshots, planning, the perf_metrics MERGE and the ``runs`` row).
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup, timed  # noqa: E402


def main() -> None:
    args, folder, config, end = bench_setup(__doc__)
    shutil.rmtree(folder / "monitoring", ignore_errors=True)
    day_before = (date.fromisoformat(end) - timedelta(days=1)).isoformat()
    python = sys.executable
    run = [python, "-m", "perfmon_spark", "run", "--config", str(config)]
    full = timed([*run, "--as-of", day_before, "--full-refresh"])
    incremental = timed([*run, "--as-of", end])
    unchanged = timed([*run, "--as-of", end])
    print(f"rows: {args.rows:,} predictions over {args.days} days")
    print(f"full run as of {day_before}: {full:.1f} s")
    print(f"incremental run as of {end}: {incremental:.1f} s")
    print(f"ratio: {incremental / full:.0%} of the full run (target <= 25%)")
    print(
        f"the same run again, nothing new to read: {unchanged:.1f} s ({unchanged / full:.0%} of the full run: a run's fixed cost)"
    )


if __name__ == "__main__":
    main()
