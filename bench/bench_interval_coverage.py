"""Coverage of every metric's 95% interval over repeated simulated windows (no Spark): the share
of replicates whose interval holds the true value, at a small and a large window, printed per
metric with a flag outside [0.93, 0.97]. Each replicate is one window of a vectorised state built
from simulated rows (``tests/statebuild.py``), so the registry's own finalisers and intervals are
what is measured. True values come from one very large sample of the same population.

    .venv/bin/python bench/bench_interval_coverage.py --replicates 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfmon_spark.metrics import bind, metrics_for
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.states.layout import SPARSE
from tests.statebuild import binary_stats, multiclass_stats, regression_stats

Z = z_value(0.95)
LOW, HIGH = 0.93, 0.97


def _windows(stats: pd.DataFrame, problem_type: str) -> dict:
    """A stats frame (one row per replicate) as the vectorised state the finalisers read."""
    state = {
        c: stats[c].to_numpy(dtype=float)
        for c in stats.columns
        if c not in ("model_version", "slice_key", "slice_value", "bucket_start") and stats[c].dtype != object
    }
    sparse = SPARSE.get(problem_type)
    if sparse is not None:
        state[sparse.name] = [tuple(np.asarray(r[c]) for c in sparse.columns) for _, r in stats.iterrows()]
    return state


def _rows(make, replicates: int, n: int, rng) -> pd.DataFrame:
    rows = make(replicates * n, rng)
    rows["model_version"] = "v"
    rows["bucket_start"] = np.repeat(np.arange(replicates), n)
    return rows


def _binary(size: int, rng, pi=0.2, shift=1.2, spread=1.6) -> pd.DataFrame:
    """Unequal spreads (positives wider), where Hanley-McNeil under-covers and DeLong holds."""
    y = (rng.random(size) < pi).astype(float)
    x = np.where(y == 1, rng.normal(shift, spread, size), rng.normal(0, 1, size))
    score = 1 / (1 + np.exp(-x))
    return pd.DataFrame({"y": y, "score": score, "d": (score >= 0.5).astype(int)})


def _multiclass(size: int, rng) -> pd.DataFrame:
    y = rng.choice(["a", "b", "c"], size, p=[0.5, 0.3, 0.2])
    right = rng.random(size) < np.where(y == "a", 0.8, np.where(y == "b", 0.6, 0.5))
    pred = np.where(right, y, rng.choice(["a", "b", "c"], size))
    return pd.DataFrame({"y": y, "pred": pred, "p_true": np.clip(rng.beta(5, 2, size), 0.01, 0.99)})


def _regression(size: int, rng) -> pd.DataFrame:
    # positive labels away from 0 (prices, durations): with labels dense near 0, MAPE's mean is
    # infinite and no interval can cover it
    y = rng.lognormal(2.3, 0.3, size)
    return pd.DataFrame({"y": y, "pred": y + rng.normal(0.3, 1.5, size)})


# every registered metric with an interval; per-class families on one class each
PER_CLASS = {"recall": "recall[b]", "precision": "precision[c]"}


def _with_intervals(problem_type: str) -> tuple[str, ...]:
    return tuple(PER_CLASS[m.name] if m.per_class else m.name for m in metrics_for(problem_type) if m.interval)


CASES = {
    "binary": (_binary, binary_stats),
    "multiclass": (_multiclass, multiclass_stats),
    "regression": (_regression, regression_stats),
}


def coverage(problem_type: str, n: int, replicates: int, seed: int) -> dict[str, float]:
    make, build = CASES[problem_type]
    metrics = _with_intervals(problem_type)
    rng = np.random.default_rng(seed)
    state = _windows(build(_rows(make, replicates, n, rng)), problem_type)
    truth_state = _windows(build(_rows(make, 1, 400_000, np.random.default_rng(seed + 1))), problem_type)
    out = {}
    for metric in metrics:
        finalise, interval = bind(problem_type, metric)
        if interval is None:
            continue
        truth = float(finalise(truth_state)[0])
        lower, upper = interval(state, Z)
        defined = ~np.isnan(lower)
        out[metric] = float(np.mean((lower[defined] <= truth) & (truth <= upper[defined])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    for problem_type in CASES:
        for n in (60, 2000):
            for metric, value in coverage(problem_type, n, args.replicates, seed=n).items():
                flag = "" if LOW <= value <= HIGH else "  <- outside [0.93, 0.97]"
                print(f"{problem_type:<10} n={n:<5} {metric:<16} {value:.3f}{flag}")
    # the AUC of a window with few positives: 5 to 20 (n = 50 to 200 at 10%)
    for n in (50, 100, 200):
        rng = np.random.default_rng(n)
        state = _windows(
            binary_stats(_rows(lambda size, r: _binary(size, r, pi=0.1), args.replicates, n, rng)), "binary"
        )
        truth_state = _windows(
            binary_stats(_rows(lambda size, r: _binary(size, r, pi=0.1), 1, 400_000, np.random.default_rng(7))),
            "binary",
        )
        finalise, interval = bind("binary", "roc_auc")
        truth = float(finalise(truth_state)[0])
        lower, upper = interval(state, Z)
        defined = ~np.isnan(lower)
        value = float(np.mean((lower[defined] <= truth) & (truth <= upper[defined])))
        flag = "" if LOW <= value <= HIGH else "  <- outside [0.93, 0.97]"
        print(f"binary     n={n:<5} roc_auc, ~{n // 10} positives {value:.3f}{flag}")
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
