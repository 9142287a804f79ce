"""Alert fatigue check on simulated data (no Spark): a year of daily windows per slice with
50-500 labels each, metric values and Wilson intervals from the registry's own finaliser,
baselines from each slice's first 28 days, rules as a user would configure them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.alerts.rules import RulePlan, evaluate_history
from perfmon_spark.config import AlertRule, MaturityPolicy
from perfmon_spark.metrics import bind
from perfmon_spark.vocabulary import Level

DAYS, SLICES, ACCURACY = 365, 5, 0.85
DROP_SLICE, DROP_DAY, DROP = 2, 200, 0.10
RULE = AlertRule(
    name="accuracy_drop",
    metric="accuracy",
    window="1 day",
    slices="all",
    minor={"ratio": 0.98},
    sustained={"ratio": 0.97, "of": 3, "within": 7},
    critical={"ratio": 0.80},
    min_labeled=50,
    confidence=0.95,
    maturity=MaturityPolicy(mode="mature"),
    resolve_after=3,
)
PLAN = RulePlan.build(RULE, larger_is_better=True, confidence_level=0.95)
BASELINE_DAYS = 28


def simulate(seed: int, drop: float) -> dict[str, pd.DataFrame]:
    """Per slice (and overall) the daily history a rule sees: value, interval, counts, baseline."""
    rng = np.random.default_rng(seed)
    n = rng.integers(50, 501, size=(SLICES, DAYS))
    p = np.full((SLICES, DAYS), ACCURACY)
    p[DROP_SLICE, DROP_DAY:] *= 1 - drop
    correct = rng.binomial(n, p)
    series = {f"s{i}": (correct[i], n[i]) for i in range(SLICES)}
    series["*"] = (correct.sum(axis=0), n.sum(axis=0))
    finalise, interval = bind("binary", "accuracy")
    out = {}
    for name, (k, m) in series.items():
        state = {
            "tp": k.astype(float),
            "fp": (m - k).astype(float),
            "tn": np.zeros(DAYS),
            "fn": np.zeros(DAYS),
            "n_labeled": m.astype(float),
        }
        lower, upper = interval(state, 1.959963984540054)
        base_state = {f: np.array([v[:BASELINE_DAYS].sum()]) for f, v in state.items()}
        base_lower, base_upper = interval(base_state, 1.959963984540054)
        out[name] = pd.DataFrame(
            {
                "window_start": pd.date_range("2026-01-01", periods=DAYS, freq="D"),
                "value": finalise(state),
                "ci_lower": lower,
                "ci_upper": upper,
                "n_labeled": m,
                "label_coverage": 1.0,
                "is_mature": True,
                "baseline": finalise(base_state)[0],
                "baseline_ci_lower": base_lower[0],  # estimated from data, as the job's window baseline
                "baseline_ci_upper": base_upper[0],
            }
        )
    return out


def worst_level(episodes: list[dict]) -> int:
    return max((Level(e["level"]).rank for e in episodes), default=0)


@pytest.mark.parametrize("seed", range(5))
def test_stable_year_raises_no_sustained_or_critical_alert(seed):
    for name, h in simulate(seed, drop=0.0).items():
        assert worst_level(evaluate_history(h, PLAN)) < Level.SUSTAINED.rank, name


@pytest.mark.parametrize("seed", range(5))
def test_ten_percent_drop_in_one_slice_is_sustained_within_the_rule_windows_there_only(seed):
    histories = simulate(seed, drop=DROP)
    # the stable slices stay quiet; the overall slice carries a real drop of 2% (a fifth of the
    # traffic lost 10%), whose points fall past the 3% threshold on some days, so it is not asserted
    for name, h in histories.items():
        if name not in (f"s{DROP_SLICE}", "*"):
            assert worst_level(evaluate_history(h, PLAN)) < Level.SUSTAINED.rank, name
    h = histories[f"s{DROP_SLICE}"]
    window = RULE.levels[1].within
    # windows are daily and mature here, so the drop's windows are evaluated from DROP_DAY on
    early = evaluate_history(h.iloc[: DROP_DAY + window], PLAN)
    assert any(e["status"] == "OPEN" and e["level"] == "SUSTAINED" for e in early)
    assert all(e["opened_window_start"] >= h["window_start"][DROP_DAY] for e in early if Level(e["level"]).rank >= 2)
