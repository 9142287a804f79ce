"""Benchmark of alert quality (not speed): false alarms on stable data and detection delay of a
10% drop, over many simulated years (the simulation of ``tests/unit/test_alert_simulation.py``:
5 slices, daily windows of 50-500 labels, accuracy 0.85, baselines from the first 28 days).

    .venv/bin/python bench/bench_alert_rules.py --seeds 300
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfmon_spark.alerts.rules import evaluate_history
from perfmon_spark.vocabulary import Level
from tests.unit.test_alert_simulation import DROP, DROP_DAY, DROP_SLICE, PLAN, RULE, simulate, worst_level


def detection_delay(history, limit: int = 60) -> int | None:
    """Windows after the drop until a SUSTAINED (or worse) episode is open; None beyond ``limit``."""
    for k in range(1, limit + 1):
        found = evaluate_history(history.iloc[: DROP_DAY + k], PLAN)
        if any(e["status"] == "OPEN" and Level(e["level"]).rank >= Level.SUSTAINED.rank for e in found):
            return k
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=300)
    args = parser.parse_args()
    started = time.perf_counter()
    false_stable = false_other = 0
    delays = Counter()
    for seed in range(args.seeds):
        for h in simulate(seed, 0.0).values():
            false_stable += worst_level(evaluate_history(h, PLAN)) >= Level.SUSTAINED.rank
        drifted = simulate(seed, DROP)
        for name, h in drifted.items():
            if name != f"s{DROP_SLICE}":
                false_other += worst_level(evaluate_history(h, PLAN)) >= Level.SUSTAINED.rank
        delays[detection_delay(drifted[f"s{DROP_SLICE}"])] += 1
    series = args.seeds * (5 + 1)
    within = RULE.levels[1].within
    detected = sum(n for d, n in delays.items() if d is not None and d <= within)
    print(f"stable data: {false_stable} SUSTAINED-or-worse episodes in {series} series-years (5 slices + overall)")
    print(f"10% drop in one slice: {false_other} SUSTAINED-or-worse episodes in the {series - args.seeds} other series")
    print(f"detected within {within} windows (3 of {within}): {detected}/{args.seeds} = {detected / args.seeds:.1%}")
    print(
        "delay distribution (windows: runs):", dict(sorted(delays.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
    )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
