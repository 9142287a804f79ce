"""Benchmark: what a daily run costs beside a full one, each run in its own process (JVM start
included), on the lakehouse of ``bench_full_run.py``:

    .venv/bin/python bench/bench_incremental.py --rows 20000000 --days 90

For each ``--max-delay`` (the config's ``labels.max_delay``) it prints

- F: a full run as of the start of the last day;
- I: an incremental run one day later (one new day of predictions, recomputed from rows, and the
  label events that arrived during it, which move the earlier days' states by label deltas:
  ``job/scope.py``, ``job/label_deltas.py``);
- E: the same run again, with nothing new to read: what every run costs before any row work;
- the row-work ratio (I - E) / (F - E): the share of a full run's row work a new day costs.

Then E on ``--history-days`` of history with the same rows per day (a second lakehouse), against
E on ``--days``: whether a run's fixed part grows with history (``--history-days 0`` skips it).
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup, prepare, timed  # noqa: E402

DEMO_DELAY = "max_delay: 14 days"  # as the demo's config writes it


def with_delay(config: Path, delay: str) -> Path:
    """A copy of the bench config with another ``labels.max_delay``."""
    text = config.read_text()
    if DEMO_DELAY not in text:
        sys.exit(f"{config}: no '{DEMO_DELAY}' to replace")
    out = config.with_name(f"bench-{delay.replace(' ', '')}.yml")
    out.write_text(text.replace(DEMO_DELAY, f"max_delay: {delay}"))
    return out


def runs(config: Path, end: str) -> tuple[float, float, float]:
    """(F, I, E) on a fresh output folder."""
    shutil.rmtree(config.parent / "monitoring", ignore_errors=True)
    day_before = (date.fromisoformat(end) - timedelta(days=1)).isoformat()
    run = [sys.executable, "-m", "perfmon_spark", "run", "--quiet", "--config", str(config)]
    full = timed([*run, "--as-of", day_before, "--full-refresh"])
    incremental = timed([*run, "--as-of", end])
    empty = timed([*run, "--as-of", end])
    return full, incremental, empty


def main() -> None:
    args, folder, config, end = bench_setup(
        __doc__,
        extra=lambda parser: (
            parser.add_argument("--max-delay", nargs="+", default=["14 days", "90 days"]),
            parser.add_argument("--history-days", type=int, default=720),
        ),
    )
    print(f"rows: {args.rows:,} predictions over {args.days} days")
    empty_short = None
    for delay in args.max_delay:
        full, incremental, empty = runs(with_delay(config, delay), end)
        empty_short = empty if empty_short is None else empty_short
        print(
            f"max_delay {delay}: F {full:.1f} s, I {incremental:.1f} s, E {empty:.1f} s; "
            f"(I - E) / (F - E) = {(incremental - empty) / (full - empty):.2f} (target <= 0.10)"
        )
    if not args.history_days:
        return
    long_rows = args.rows * args.history_days // args.days
    long_folder = folder.with_name(f"{folder.name}-{args.history_days}d")
    long_config, long_end = prepare(long_folder, long_rows, args.history_days)
    _, _, empty_long = runs(with_delay(long_config, args.max_delay[0]), long_end)
    print(
        f"E with {args.history_days} days of history ({long_rows:,} rows): {empty_long:.1f} s against "
        f"{empty_short:.1f} s with {args.days} days: {empty_long / empty_short:.2f}x (target <= 1.25x)"
    )


if __name__ == "__main__":
    main()
