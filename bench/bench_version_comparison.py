"""The champion-challenger comparison (``metrics.comparison``) on simulated traffic, no Spark.

Five strata (say, countries) whose accuracies differ (0.75 to 0.95); the champion serves all
traffic in one mix, a canary challenger 10% of it in another, skewed to the easy strata; a 7-day
window of 2,000 champion labels a day; the accuracy of each stratum moves from day to day by
``--day-sd`` (both versions see the same days). Each seed is one run comparing ``--family``
challenger windows at once (Bonferroni over them), margin 0.01.

Prints, over ``--seeds`` seeds:
- equal versions (the same accuracy in every stratum): the share of runs with any WORSE verdict
  (target <= 5%), with any BETTER or WORSE, and the share of verdicts NOT_WORSE;
- a mix effect (the challenger 3 points worse in every stratum, better overall through its mix):
  the share of comparisons found WORSE, found BETTER or NOT_WORSE (target 0), and the share whose
  unadjusted difference said better.

    .venv/bin/python bench/bench_version_comparison.py --seeds 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perfmon_spark.metrics.comparison import Stratum, compare
from perfmon_spark.vocabulary import Verdict

ACCURACY = np.array([0.75, 0.80, 0.85, 0.90, 0.95])
CHAMPION_MIX = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
CANARY_MIX = np.array([0.05, 0.10, 0.15, 0.30, 0.40])  # the easy strata
MARGIN = 0.01


def side(rng, accuracy_by_day: np.ndarray, mix: np.ndarray, per_day: int) -> tuple[dict, float]:
    """One version's strata over the window (days x strata accuracies), and its overall accuracy."""
    n = rng.multinomial(per_day, mix, size=accuracy_by_day.shape[0])  # labels per day and stratum
    correct = rng.binomial(n, accuracy_by_day)
    n_s, k_s = n.sum(axis=0), correct.sum(axis=0)
    strata = {}
    for s, (ns, ks) in enumerate(zip(n_s, k_s)):
        p = ks / ns if ns else None
        se = None if not ns else max(np.sqrt(p * (1 - p) / ns), 1e-12)
        strata[f"s{s}"] = Stratum(p, se, int(ns), int(ns))
    return strata, k_s.sum() / n_s.sum()


def one_run(rng, shift: float, family: int, day_sd: float, days: int = 7, per_day: int = 2000) -> list:
    """The family's comparisons of one run, with the challenger's accuracy ``shift`` off in every stratum."""
    out = []
    for _ in range(family):
        daily = np.clip(ACCURACY + rng.normal(0, day_sd, (days, ACCURACY.size)), 0.01, 0.99)
        champion, champion_overall = side(rng, daily, CHAMPION_MIX, per_day)
        challenger, challenger_overall = side(rng, np.clip(daily + shift, 0.01, 0.99), CANARY_MIX, per_day // 9)
        out.append(
            compare(
                champion,
                challenger,
                (champion_overall, challenger_overall),
                larger_is_better=True,
                margin=MARGIN,
                confidence=0.95,
                family=family,
            )
        )
    return out


def figures(seeds: int, family: int = 6, day_sd: float = 0.02) -> dict[str, float]:
    """Every figure the bench prints (the unit tests run it on few seeds)."""
    rng = np.random.default_rng(7)
    equal = [one_run(rng, 0.0, family, day_sd) for _ in range(seeds)]
    mixed = [c for _ in range(seeds) for c in one_run(rng, -0.03, 1, day_sd)]
    verdicts = [c.verdict for run in equal for c in run]
    return {
        "equal_runs_with_worse": float(np.mean([any(c.verdict is Verdict.WORSE for c in run) for run in equal])),
        "equal_runs_with_better_or_worse": float(
            np.mean([any(c.verdict in (Verdict.WORSE, Verdict.BETTER) for c in run) for run in equal])
        ),
        "equal_verdicts_not_worse": verdicts.count(Verdict.NOT_WORSE) / len(verdicts),
        "mix_found_worse": float(np.mean([c.verdict is Verdict.WORSE for c in mixed])),
        "mix_found_better_or_not_worse": float(
            np.mean([c.verdict in (Verdict.BETTER, Verdict.NOT_WORSE) for c in mixed])
        ),
        "mix_unadjusted_said_better": float(np.mean([c.unadjusted_difference > 0 for c in mixed])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--family", type=int, default=6)
    parser.add_argument("--day-sd", type=float, default=0.02)
    args = parser.parse_args()
    start = time.perf_counter()
    found = figures(args.seeds, args.family, args.day_sd)
    for name, value in found.items():
        print(f"{name}: {value:.4f}")
    print(
        f"seeds: {args.seeds}, family: {args.family}, day-to-day sd: {args.day_sd}; {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
