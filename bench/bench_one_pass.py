"""Benchmark: where the row work of a full run goes, against the floor's query, in one JVM.

    .venv/bin/python bench/bench_one_pass.py --rows 20000000 --days 90

``bench_full_run.py`` times whole processes; this script times the row-level steps alone, each
written to Spark's ``noop`` sink (every row computed, nothing stored) and run ``--repeat`` times
in one session, keeping the fastest (the first run of a step also pays for JIT warm-up):

- scan: read both inputs as of the run;
- floor: the floor's join and count (``floor_job.floor_counts``);
- cell counts: the scan that ranks segment values and decides where summaries are binned;
- resolve: label resolution (one shuffle, sort and windows: de-duplication, eligibility, statuses);
- one pass: resolve plus the state aggregation (``states.build.aggregate_rows``);
- bucket states: slices and score summaries from the output of the one pass (materialised once).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import bench_setup  # noqa: E402
from bench.floor_job import floor_counts  # noqa: E402


def main() -> None:
    from perfmon_spark.config import load_config
    from perfmon_spark.ingest.labels import resolve
    from perfmon_spark.ingest.validate import visible_predictions
    from perfmon_spark.io.tables import read_snapshot
    from perfmon_spark.session import get_spark, prepare_session
    from perfmon_spark.states.build import aggregate_rows, bucket_states
    from perfmon_spark.states.cells import binning, cell_counts, top_segment_values

    args, _, config, end = bench_setup(__doc__, repeat=True)
    cfg = load_config(config)
    as_of = datetime.fromisoformat(end)
    spark = get_spark(cfg.spark)
    prepare_session(spark)
    predictions = visible_predictions(cfg, read_snapshot(spark, cfg.predictions.table, "predictions"), as_of)
    labels = read_snapshot(spark, cfg.labels.table, "labels").df
    # Checkpointed, not cached: a cached frame would also serve the timed steps that compute it.
    counts = cell_counts(predictions, cfg).localCheckpoint()
    top = top_segment_values(counts, cfg)
    binned = binning(counts, cfg, top)
    aggregated = aggregate_rows(resolve(cfg, predictions, labels, as_of), cfg, top, binned).localCheckpoint()
    steps = {
        "scan": lambda: predictions.unionByName(labels, allowMissingColumns=True),
        "floor": lambda: floor_counts(spark, cfg, as_of),
        "cell counts": lambda: cell_counts(predictions, cfg),
        "resolve": lambda: resolve(cfg, predictions, labels, as_of),
        "one pass": lambda: aggregate_rows(resolve(cfg, predictions, labels, as_of), cfg, top, binned),
        "bucket states": lambda: bucket_states(aggregated, cfg, binned),
    }
    best = {}
    for _ in range(args.repeat):
        for name, frame in steps.items():
            start = time.perf_counter()
            frame().write.format("noop").mode("overwrite").save()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    print(f"rows: {args.rows:,} predictions over {args.days} days; as_of {end}; best of {args.repeat}")
    for name, seconds in best.items():
        print(f"{name:14s} {seconds:6.1f} s  {seconds / best['floor']:4.2f}x the floor")


if __name__ == "__main__":
    main()
