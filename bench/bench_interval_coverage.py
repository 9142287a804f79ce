"""Coverage of the 95% intervals over simulated windows (no Spark), printed per metric with a flag
outside [0.93, 0.97]:

- every other metric with an interval, at a small and a large window: the share of replicates
  whose interval holds the population's value. Each replicate is one window of a vectorised
  state built from simulated rows (``tests/statebuild.py``), so the registry's own finalisers
  and intervals are what is measured; the population's value comes from one large sample.
- the estimated metrics (CBPE), through ``windows.finalise.finalise_slice`` as a run finalises them: many
  references of a few hundred labels, each followed by daily windows whose labels are drawn but
  withheld from the estimates. Per metric, the share of windows whose interval holds the value the
  labels realise, the mean error over the mean half-width, and the share of windows that
  ``estimates_reliable`` marks reliable; with calibrated scores, with a covariate shift (the
  windows' scores move, the outcome given the score does not), and with a concept shift (the
  positive rate at each score halves from a day on: how soon the back-test fails).

    .venv/bin/python bench/bench_interval_coverage.py --replicates 2000 --references 200
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfmon_spark.config import parse_config
from perfmon_spark.metrics import bind, metrics_for
from perfmon_spark.metrics.estimated import ESTIMATES
from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.states.layout import SPARSE
from perfmon_spark.vocabulary import ALL_VERSIONS
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice, views
from tests.helpers import BASE
from tests.statebuild import binary_stats, multiclass_stats, regression_stats

Z = z_value(0.95)
LOW, HIGH = 0.93, 0.97
THRESHOLD = 0.5
SCALE = {"binary": "probability", "regression": "unbounded", "multiclass": None}


def _windows(stats: pd.DataFrame, problem_type: str) -> dict:
    """A stats frame (one row per replicate) as the vectorised state the finalisers read."""
    state = {
        c: stats[c].to_numpy(dtype=float)
        for c in stats.columns
        if c not in ("model_version", "slice_key", "slice_value", "bucket_start") and stats[c].dtype != object
    }
    sparse = SPARSE.get(problem_type)
    if sparse is not None:
        merged = [tuple(np.asarray(r[c]) for c in sparse.columns) for _, r in stats.iterrows()]
        state.update(views(problem_type, merged, SCALE[problem_type]))
    return state | {"threshold": THRESHOLD, "z": Z}


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
    return pd.DataFrame({"y": y, "score": score, "d": (score >= THRESHOLD).astype(int)})


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


# every registered metric with an interval but the estimates; per-class families on one class each
PER_CLASS = {"recall": "recall[b]", "precision": "precision[c]", "predicted_share": "predicted_share[a]"}


def _with_intervals(problem_type: str) -> tuple[str, ...]:
    return tuple(
        PER_CLASS[m.name] if m.per_class else m.name
        for m in metrics_for(problem_type)
        if m.interval and m.name not in ESTIMATES
    )


CASES = {
    "binary": (_binary, binary_stats),
    "multiclass": (_multiclass, multiclass_stats),
    "regression": (_regression, regression_stats),
}


def coverage(problem_type: str, n: int, replicates: int, seed: int, truth_rows: int = 400_000, make=None):
    """{metric: share of the ``replicates`` windows of ``n`` rows whose interval holds the value of
    a sample of ``truth_rows``} for every metric of the problem type with an interval but the
    estimates."""
    default, build = CASES[problem_type]
    make = make or default
    state = _windows(build(_rows(make, replicates, n, np.random.default_rng(seed))), problem_type)
    truth_state = _windows(build(_rows(make, 1, truth_rows, np.random.default_rng(seed + 1))), problem_type)
    out = {}
    for metric in _with_intervals(problem_type):
        finalise, interval = bind(problem_type, metric)
        truth = float(finalise(truth_state)[0])
        lower, upper, _ = interval(state, Z)
        defined = ~np.isnan(lower)
        out[metric] = float(np.mean((lower[defined] <= truth) & (truth <= upper[defined])))
    return out


# --- estimated metrics ------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1)
DAY = timedelta(days=1)
SCENARIOS = ("calibrated", "covariate shift", "concept shift")


def _estimate_rows(scenario: str, days: int, reference_labels: int, window: int, shift_from: int, rng):
    """One version: day 0 the reference (``reference_labels`` labeled predictions), days 1 to
    ``days`` daily windows of ``window`` predictions, every label drawn from the score (scores
    Beta(2, 5), calibrated), except: covariate shift, the windows' scores Beta(3, 4); concept
    shift, from day ``shift_from`` the positive rate at each score halves."""
    frames = []
    for day in range(days + 1):
        n = reference_labels if day == 0 else window
        score = (rng.beta(3, 4, n) if scenario == "covariate shift" and day else rng.beta(2, 5, n)).round(3)
        rate = score / 2 if scenario == "concept shift" and day >= shift_from else score
        y = (rng.random(n) < rate).astype(float)
        frames.append(pd.DataFrame({"bucket_start": T0 + day * DAY, "y": y, "score": score}))
    rows = pd.concat(frames, ignore_index=True).assign(model_version="v1")
    return rows.assign(d=(rows["score"] >= THRESHOLD).astype(int))


def estimate_plan(days: int, threshold: float = THRESHOLD) -> WindowPlan:
    """The plan of one version laid out as ``_estimate_rows`` lays it: day 0 the reference period,
    days 1 to ``days`` daily windows; every estimate, the metric its labels realise, and
    ``estimates_reliable``."""
    data = dict(BASE, metrics=[*ESTIMATES, *(m.removeprefix("estimated_") for m in ESTIMATES), "estimates_reliable"])
    data |= {"windows": {"granularity": "1 day", "rolling": []}, "baseline": {"window": "1 day"}}
    data["predictions"] = dict(BASE["predictions"], threshold=threshold)
    data["labels"] = dict(BASE["labels"], max_delay="1 day")
    plan = WindowPlan.from_config(parse_config(data), T0 + (days + 2) * DAY)
    first = int(np.datetime64(T0, "s").astype(np.int64))  # the reference: day 0 (Spark finds the first bucket)
    return replace(plan, reference=replace(plan.reference, version_starts=((ALL_VERSIONS, first), ("v1", first))))


def estimate_figures(
    scenario: str, references: int, days: int, reference_labels: int, window: int, seed: int, shift_from: int
) -> dict:
    """Over ``references`` references and their ``days`` daily windows: per estimated metric the
    coverage of the realised value and the mean error over the mean half-width; the share of
    windows marked reliable; for a concept shift, the days from the shift to the first window
    marked unreliable (per reference; None where it never was) and the share of windows before
    the shift marked unreliable."""
    rng = np.random.default_rng(seed)
    plan = estimate_plan(days)
    frames = []
    for r in range(references):
        out = finalise_slice(
            binary_stats(_estimate_rows(scenario, days, reference_labels, window, shift_from, rng)), plan
        )
        frames.append(out[(out["model_version"] == "v1") & (out["window_start"] >= T0 + DAY)].assign(reference=r))
    out = pd.concat(frames, ignore_index=True).set_index(["reference", "window_start", "metric"])
    if scenario == "concept shift":
        out = out[out.index.get_level_values("window_start") < T0 + shift_from * DAY]  # estimates: before it
    figures: dict = {"coverage": {}, "bias/half-width": {}}
    for name in ESTIMATES:
        estimated = out.xs(name, level="metric")
        realised = out.xs(name.removeprefix("estimated_"), level="metric")["value"].loc[estimated.index]
        defined = estimated["ci_lower"].notna() & realised.notna()
        e, truth = estimated[defined], realised[defined]
        figures["coverage"][name] = float(((e["ci_lower"] <= truth) & (truth <= e["ci_upper"])).mean())
        figures["bias/half-width"][name] = float(
            (e["value"] - truth).mean() / ((e["ci_upper"] - e["ci_lower"]) / 2).mean()
        )
    flags = pd.concat(frames).query("metric == 'estimates_reliable'").dropna(subset=["value"])
    figures["reliable"] = float(flags["value"].mean())
    if scenario == "concept shift":
        before = flags[flags["window_start"] < T0 + shift_from * DAY]
        figures["reliable"] = float(before["value"].mean())
        after = flags[(flags["window_start"] >= T0 + shift_from * DAY) & (flags["value"] == 0)]
        first = after.groupby("reference")["window_start"].min()
        figures["days to unreliable"] = [
            None if r not in first.index else (first[r] - (T0 + shift_from * DAY)).days + 1 for r in range(references)
        ]
    return figures


def _flag(value: float) -> str:
    return "" if LOW <= value <= HIGH else f"  <- outside [{LOW}, {HIGH}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000, help="windows per labeled metric and size")
    parser.add_argument("--truth-rows", type=int, default=400_000, help="rows of the sample giving the true value")
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 2000], help="rows per window (labeled metrics)")
    parser.add_argument("--references", type=int, default=200, help="references per estimate scenario")
    parser.add_argument("--days", type=int, default=30, help="daily windows after each reference")
    parser.add_argument("--reference-labels", type=int, default=500)
    parser.add_argument("--window", type=int, default=1000, help="predictions per daily window (estimates)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for problem_type in CASES:
        for n in args.sizes:
            for metric, value in coverage(problem_type, n, args.replicates, n, args.truth_rows).items():
                print(f"{problem_type:<10} n={n:<5} {metric:<16} {value:.3f}{_flag(value)}")
    # the AUC of a window with few positives: 5 to 20 (n = 50 to 200 at 10%)
    for n in (50, 100, 200):
        value = coverage("binary", n, args.replicates, n, args.truth_rows, lambda size, r: _binary(size, r, pi=0.1))
        print(f"binary     n={n:<5} roc_auc, ~{n // 10} positives {value['roc_auc']:.3f}{_flag(value['roc_auc'])}")
    print(
        f"estimates: {args.references} references of {args.reference_labels} labels, each followed by "
        f"{args.days} daily windows of {args.window} predictions (threshold {THRESHOLD})"
    )
    for i, scenario in enumerate(SCENARIOS):
        figures = estimate_figures(
            scenario, args.references, args.days, args.reference_labels, args.window, seed=i, shift_from=args.days // 2
        )
        for name in ESTIMATES:
            cover = figures["coverage"][name]
            print(
                f"{scenario:<16} {name:<20} coverage {cover:.3f}  bias/half-width "
                f"{figures['bias/half-width'][name]:+.3f}{_flag(cover)}"
            )
        print(f"{scenario:<16} estimates_reliable   share reliable {figures['reliable']:.3f}")
        if "days to unreliable" in figures:
            delays = [d for d in figures["days to unreliable"] if d is not None]
            print(
                f"{scenario:<16} estimates_reliable   unreliable after the shift: {len(delays)} of "
                f"{len(figures['days to unreliable'])} references, after {np.median(delays) if delays else float('nan'):.0f} "
                f"days (median; max {max(delays, default=float('nan'))})"
            )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
