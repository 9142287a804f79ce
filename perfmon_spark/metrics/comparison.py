"""A challenger against the champion, fairly: on the same window, standardised to the champion's
mix of slices (SPEC §6 ``version_comparison``). No Spark: the inputs are each version's metric per
stratum (a value of the stratifying segment column), as ``perf_metrics`` holds them.

**Why standardise.** A canary serving 10% of web traffic and a champion serving everything see
different mixes. The overall difference mixes the versions' quality with their traffic: a version
can look better overall and be worse in every segment (Simpson's paradox). Direct standardisation
asks instead: on the champion's traffic, how much better or worse would the challenger be? The
difference is the champion's-share-weighted mean of the per-stratum differences,

    D = sum_s w_s (m_challenger,s - m_champion,s),   w_s = the champion's predictions in s / in all,

over the strata both versions have, the weights renormalised over them; with independent samples
and the weights taken as known, Var(D) = sum_s w_s^2 Var_s, where Var_s pools the two sides'
per-label variances (``_pooled_variance``).

**The verdict** reads the interval of the improvement (D, signed so that positive is better, at
the family's confidence), against the non-inferiority margin ``margin`` (in the metric's units):
BETTER where its lower bound is above 0; NOT_WORSE where it is above -margin (a challenger worse by
less than the margin is not worse, which is what a margin means); WORSE where its upper bound is
below -margin; INCONCLUSIVE where it spans -margin, or where too few labels or too little of the
champion's mix stand behind it.

**Many comparisons.** At each window start a run compares each challenger on each metric and window
length; the intervals are Bonferroni-adjusted over that family (``family``): the chance that any
verdict of one window start is wrong stays within 1 - confidence. It is not adjusted over the
history (every window start of the table): a long history of equal versions holds a wrong verdict
now and then, as any series of tests does; read the latest window. The alerts control a false
discovery rate instead; a verdict is read from its own row's interval, which a rate over the family
could not keep true row by row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from perfmon_spark.metrics.intervals import z_value
from perfmon_spark.vocabulary import Verdict

# Under this share of the champion's predictions in strata the challenger also serves, the
# standardised difference speaks for too little of the champion's traffic: INCONCLUSIVE.
MIN_MIX_COVERED = 0.8


@dataclass(frozen=True)
class Stratum:
    """One version's metric in one stratum: its value and standard error (null where undefined),
    its labels and its predictions (the mix)."""

    value: float | None
    std_error: float | None
    n_labeled: int
    n_predictions: int


@dataclass(frozen=True)
class Comparison:
    """``version_comparison``'s figures for one challenger, metric and window."""

    difference: float | None  # challenger minus champion, standardised to the champion's mix
    ci_lower: float | None
    ci_upper: float | None
    unadjusted_difference: float | None  # of the overall values, as the dashboards show them
    n_labeled_champion: int
    n_labeled_challenger: int
    verdict: Verdict


def compare(
    champion: Mapping[str, Stratum],
    challenger: Mapping[str, Stratum],
    overall: tuple[float | None, float | None],
    *,
    larger_is_better: bool,
    margin: float,
    confidence: float,
    family: int = 1,
    min_labeled: int = 30,
) -> Comparison:
    """The challenger against the champion, stratum by stratum (keys: the stratifying column's
    values), with ``overall`` = (the champion's, the challenger's) overall values.

    Args:
        margin: the non-inferiority margin, >= 0, in the metric's units.
        confidence: of the interval before the family's adjustment (``confidence_level``).
        family: how many comparisons the run makes at this window start (Bonferroni).
        min_labeled: the labels each side needs, in the strata compared, for a verdict other than
            INCONCLUSIVE.
    """
    common = [
        s
        for s in champion
        if s in challenger and all(_usable(x) for x in (champion[s], challenger[s])) and champion[s].n_predictions > 0
    ]
    n_champion = sum(champion[s].n_labeled for s in common)
    n_challenger = sum(challenger[s].n_labeled for s in common)
    unadjusted = None if None in overall else overall[1] - overall[0]
    total = sum(x.n_predictions for x in champion.values())
    covered = sum(champion[s].n_predictions for s in common)
    if not common or total <= 0:
        return Comparison(None, None, None, unadjusted, n_champion, n_challenger, Verdict.INCONCLUSIVE)
    weights = {s: champion[s].n_predictions / covered for s in common}
    difference = sum(w * (challenger[s].value - champion[s].value) for s, w in weights.items())
    variance = sum(w * w * _pooled_variance(champion[s], challenger[s]) for s, w in weights.items())
    half = z_value(1 - (1 - confidence) / max(family, 1)) * math.sqrt(variance)
    lower, upper = difference - half, difference + half
    enough = min(n_champion, n_challenger) >= min_labeled and covered / total >= MIN_MIX_COVERED
    verdict = verdict_of(lower, upper, larger_is_better, margin) if enough else Verdict.INCONCLUSIVE
    return Comparison(difference, lower, upper, unadjusted, n_champion, n_challenger, verdict)


def verdict_of(lower: float, upper: float, larger_is_better: bool, margin: float) -> Verdict:
    """The verdict of an interval of challenger minus champion (module docstring).

    >>> verdict_of(0.01, 0.03, True, 0.01), verdict_of(-0.005, 0.02, True, 0.01)
    (<Verdict.BETTER: 'BETTER'>, <Verdict.NOT_WORSE: 'NOT_WORSE'>)
    >>> verdict_of(-0.05, -0.02, True, 0.01), verdict_of(-0.02, 0.01, True, 0.01)
    (<Verdict.WORSE: 'WORSE'>, <Verdict.INCONCLUSIVE: 'INCONCLUSIVE'>)
    >>> verdict_of(-0.03, -0.01, False, 0.0)  # a loss that went down is better
    <Verdict.BETTER: 'BETTER'>
    """
    low, high = (lower, upper) if larger_is_better else (-upper, -lower)  # of the improvement
    if low > 0:
        return Verdict.BETTER
    if low >= -margin:
        return Verdict.NOT_WORSE
    if high < -margin:
        return Verdict.WORSE
    return Verdict.INCONCLUSIVE


def _pooled_variance(a: Stratum, b: Stratum) -> float:
    """The variance of b's value minus a's in one stratum, from one per-label variance pooled over
    both sides (each side's ``std_error^2 x n_labeled``, weighted by its labels).

    Each side's own standard error moves with its value (a binomial proportion nearer 1 has a
    smaller one), so a small side that came out high would look surer than one that came out low:
    with its own errors, equal versions had a BETTER or WORSE verdict in 5.6% of simulated runs
    (family of 6, target <= 5%; pooled: 2.1%; bench/bench_version_comparison.py). The pooled variance is dominated by the larger
    side, whose value moves little."""
    per_label = (a.std_error**2 * a.n_labeled**2 + b.std_error**2 * b.n_labeled**2) / (a.n_labeled + b.n_labeled)
    return per_label * (1 / a.n_labeled + 1 / b.n_labeled)


def _usable(x: Stratum) -> bool:
    return (
        x.n_labeled > 0
        and x.value is not None
        and x.std_error is not None
        and math.isfinite(x.value)
        and math.isfinite(x.std_error)
    )
