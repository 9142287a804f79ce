"""Benchmark: the daily incremental run I with its late labels moved by label deltas against the
same run re-reading the label-changed buckets' rows, each run in its own process, on the lakehouse
of ``bench_full_run.py``:

    .venv/bin/python bench/bench_label_deltas.py --rows 2000000 --days 90

After one full run as of the start of the last day, it copies the output tables aside and runs I
(one day later) from that copy with ``LABEL_DELTA_SETTING`` at 0 (label deltas at any size) and at
a size no lakehouse reaches (always rows), alternately ``--repeat`` times. The predictions the
label-changed buckets hold, against I's time on each path, are what ``LABEL_DELTA_MIN_PREDICTIONS``
(``job/scope.py``) is set from.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup, timed, timed_output  # noqa: E402
from bench.bench_incremental import with_delay  # noqa: E402
from perfmon_spark.job.scope import LABEL_DELTA_SETTING  # noqa: E402

PATHS = {"label deltas": 0, "rows": 10**15}


def with_setting(config: Path, value: int) -> Path:
    """A copy of the bench config whose session sets ``LABEL_DELTA_SETTING``."""
    text = config.read_text()
    if "conf: {" not in text:
        sys.exit(f"{config}: no 'conf: {{' to add the setting to")
    out = config.with_name(f"{config.stem}-min{value}.yml")
    out.write_text(text.replace("conf: {", f'conf: {{{LABEL_DELTA_SETTING}: "{value}", ', 1))
    return out


def main() -> None:
    args, folder, config, end = bench_setup(
        __doc__,
        repeat=True,
        extra=lambda parser: parser.add_argument("--max-delay", default="14 days"),
    )
    config = with_delay(config, args.max_delay)
    output, saved = folder / "monitoring", folder / "monitoring-after-full"
    run = [sys.executable, "-m", "perfmon_spark", "run", "--quiet"]
    shutil.rmtree(output, ignore_errors=True)
    day_before = (date.fromisoformat(end) - timedelta(days=1)).isoformat()
    full = timed([*run, "--config", str(config), "--as-of", day_before, "--full-refresh"])
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(output, saved)
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    messages: dict[str, str] = {}
    for _ in range(args.repeat):
        for path, value in PATHS.items():
            shutil.rmtree(output)
            shutil.copytree(saved, output)
            spent, printed = timed_output([*run, "--config", str(with_setting(config, value)), "--as-of", end])
            times[path].append(spent)
            messages[path] = printed.strip()
    print(f"rows: {args.rows:,} predictions over {args.days} days, max_delay {args.max_delay}; F {full:.1f} s")
    for path, spent in times.items():
        print(f"I, {path}: {' / '.join(f'{t:.1f}' for t in spent)} s")
        print(f"  {messages[path]}")
    best = {path: min(spent) for path, spent in times.items()}
    print(f"best I with label deltas / best I re-reading rows: {best['label deltas'] / best['rows']:.2f}")


if __name__ == "__main__":
    main()
