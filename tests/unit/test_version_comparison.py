"""The champion-challenger comparison (``metrics.comparison``, #39 item 1's statistics), without
Spark: the standardised difference and its interval against a direct numpy computation, a mix
effect (worse in every stratum, better overall) found WORSE with the unadjusted figure beside it,
the verdicts' edges, and the bench's core on few seeds."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from bench import bench_version_comparison as bench
from perfmon_spark.metrics.comparison import MIN_MIX_COVERED, Stratum, compare, verdict_of
from perfmon_spark.vocabulary import Verdict


def proportion(correct: int, n: int, predictions: int | None = None) -> Stratum:
    p = correct / n
    return Stratum(p, math.sqrt(p * (1 - p) / n), n, n if predictions is None else predictions)


def test_the_difference_is_standardised_to_the_champions_mix_and_its_interval_pooled():
    champion = {"de": proportion(800, 1000), "fr": proportion(270, 300), "it": proportion(45, 50, predictions=100)}
    challenger = {"de": proportion(70, 100), "fr": proportion(540, 600), "es": proportion(10, 10)}
    found = compare(
        champion, challenger, (0.81, 0.85), larger_is_better=True, margin=0.0, confidence=0.9, family=3, min_labeled=1
    )
    # numpy, directly: the strata both have (de, fr), weighted by the champion's predictions there
    n_champ, n_chal = np.array([1000, 300]), np.array([100, 600])
    p_champ, p_chal = np.array([0.8, 0.9]), np.array([0.7, 0.9])
    w = n_champ / n_champ.sum()
    per_label = (p_champ * (1 - p_champ) * n_champ + p_chal * (1 - p_chal) * n_chal) / (n_champ + n_chal)
    se = np.sqrt(np.sum(w**2 * per_label * (1 / n_champ + 1 / n_chal)))
    z = NormalDist().inv_cdf(1 - 0.1 / 3 / 2)
    d = np.sum(w * (p_chal - p_champ))
    assert found.difference == pytest.approx(d) and found.unadjusted_difference == pytest.approx(0.04)
    assert (found.ci_lower, found.ci_upper) == (pytest.approx(d - z * se), pytest.approx(d + z * se))
    assert (found.n_labeled_champion, found.n_labeled_challenger) == (1300, 700)
    # de and fr hold 1,300 of the champion's 1,400 predictions (enough of its mix); the interval is below 0
    assert MIN_MIX_COVERED <= 1300 / 1400 and found.verdict is Verdict.WORSE


def test_a_challenger_worse_in_every_stratum_but_better_overall_is_worse():
    """Simpson's paradox: the challenger serves mostly the easy stratum."""
    champion = {"hard": proportion(14_000, 20_000), "easy": proportion(9_500, 10_000)}
    challenger = {"hard": proportion(650, 1_000), "easy": proportion(18_400, 20_000)}
    overall = (23_500 / 30_000, 19_050 / 21_000)
    found = compare(champion, challenger, overall, larger_is_better=True, margin=0.01, confidence=0.95)
    assert found.unadjusted_difference > 0.1  # better overall by more than ten points
    assert found.difference < 0 and found.verdict is Verdict.WORSE


def test_equal_versions_are_not_worse_with_enough_labels_and_inconclusive_with_too_few():
    same = {"a": proportion(9_000, 10_000), "b": proportion(16_000, 20_000)}
    found = compare(same, same, (0.833, 0.833), larger_is_better=True, margin=0.01, confidence=0.95)
    assert found.difference == 0 and found.verdict is Verdict.NOT_WORSE
    # one label under min_labeled on a side, with an interval narrow enough to say NOT_WORSE otherwise
    narrow = {"a": Stratum(0.9, 1e-6, 14, 100), "b": Stratum(0.8, 1e-6, 15, 100)}
    args = {"larger_is_better": True, "margin": 0.01, "confidence": 0.95}
    assert compare(narrow, narrow, (0.85, 0.85), min_labeled=29, **args).verdict is Verdict.NOT_WORSE
    assert compare(narrow, narrow, (0.85, 0.85), min_labeled=30, **args).verdict is Verdict.INCONCLUSIVE


def test_too_little_of_the_champions_mix_or_no_common_stratum_is_inconclusive():
    """Intervals narrow enough for NOT_WORSE: only the share of the mix covered decides."""
    args = {"larger_is_better": True, "margin": 0.01, "confidence": 0.95}
    tight = Stratum(0.9, 1e-6, 10_000, 10_000)
    covered = MIN_MIX_COVERED * 10_000
    champion = {
        "a": Stratum(0.9, 1e-6, 10_000, round(covered)),
        "b": Stratum(0.9, 1e-6, 10_000, 10_000 - round(covered)),
    }
    assert compare(champion, {"a": tight}, (0.9, 0.9), **args).verdict is Verdict.NOT_WORSE  # just enough of the mix
    champion["a"] = Stratum(0.9, 1e-6, 10_000, round(covered) - 1)
    found = compare(champion, {"a": tight}, (0.9, 0.9), **args)
    assert found.difference == pytest.approx(0.0) and found.verdict is Verdict.INCONCLUSIVE
    nothing = compare(champion, {"c": tight}, (0.9, None), **args)
    assert (nothing.difference, nothing.unadjusted_difference, nothing.verdict) == (None, None, Verdict.INCONCLUSIVE)
    # a stratum whose value is undefined on one side is not compared: here, most of the mix
    undefined = {"a": Stratum(None, None, 0, 50), "b": tight}
    found = compare({"a": tight, "b": Stratum(0.9, 1e-6, 10_000, 100)}, undefined, (0.9, 0.9), **args)
    assert found.n_labeled_challenger == 10_000 and found.verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    "lower, upper, larger, margin, verdict",
    [
        (0.001, 0.02, True, 0.0, Verdict.BETTER),
        (0.0, 0.02, True, 0.0, Verdict.NOT_WORSE),  # the bound on the margin itself is not worse
        (-0.01, 0.02, True, 0.01, Verdict.NOT_WORSE),
        (-0.011, 0.02, True, 0.01, Verdict.INCONCLUSIVE),
        (-0.03, -0.011, True, 0.01, Verdict.WORSE),
        (-0.03, -0.005, True, 0.01, Verdict.INCONCLUSIVE),  # worse, perhaps by less than the margin
        (0.011, 0.03, False, 0.01, Verdict.WORSE),  # a loss that went up
        (-0.02, 0.005, False, 0.01, Verdict.NOT_WORSE),
    ],
)
def test_the_verdict_reads_the_interval_of_the_improvement_against_the_margin(lower, upper, larger, margin, verdict):
    assert verdict_of(lower, upper, larger, margin) is verdict


def test_the_bench_runs_every_figure_on_few_seeds():
    found = bench.figures(seeds=20, family=2)
    assert set(found) == {
        "equal_runs_with_worse",
        "equal_runs_with_better_or_worse",
        "equal_verdicts_not_worse",
        "mix_found_worse",
        "mix_found_better_or_not_worse",
        "mix_unadjusted_said_better",
    }
    assert all(0 <= v <= 1 for v in found.values())
    assert found["mix_unadjusted_said_better"] > 0.5  # the bench's mix effect is one
