"""Estimated performance on real Delta tables: the intervals of the estimates cover the value the
labels realise about as often as the confidence level says (one monitor, 24 slices each with its
own reference of 500 labels), and the back-test marks the estimator unreliable once a concept
shift's labels mature, not before; the job writes what the numpy path computes from the same rows."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, read_table, side_by_side, write_delta
from tests.statebuild import binary_stats

DAY = timedelta(days=1)
ESTIMATES = ("estimated_accuracy", "estimated_precision", "estimated_roc_auc")


def estimate_rows(slices: int, days: int, per_day: int, shift_from: int | None, seed: int) -> pd.DataFrame:
    """Calibrated scores (Beta(2, 5)), every prediction labeled 2 hours later, one slice value
    per ``country``; from day ``shift_from`` a concept shift: the scores keep their distribution,
    the positive rate at each score halves."""
    rng = np.random.default_rng(seed)
    n = slices * days * per_day
    day = np.tile(np.repeat(np.arange(days), per_day), slices)
    score = rng.beta(2, 5, n).round(3)
    rate = score if shift_from is None else np.where(day >= shift_from, score / 2, score)
    ts = [T0 + int(d) * DAY + timedelta(seconds=int(s)) for d, s in zip(day, rng.integers(0, 86400 - 7200, n))]
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "prediction_ts": ts,
            "model_version": "v1",
            "score": score,
            "country": np.repeat([f"c{i:02d}" for i in range(slices)], days * per_day),
            "channel": "web",
            "amount": 1.0,
            "is_fraud": (rng.random(n) < rate).astype(int),
        }
    )


def write_lake(spark, root, rows: pd.DataFrame) -> None:
    labels = rows[["prediction_id", "is_fraud"]].assign(label_ts=rows["prediction_ts"] + timedelta(hours=2))
    write_delta(spark, rows.drop(columns="is_fraud"), PREDICTIONS_DDL, root / "predictions")
    write_delta(spark, labels, LABELS_DDL, root / "labels")


def estimate_config(root, metrics, reference: str, segments: dict):
    data = config_dict(
        str(root / "predictions"),
        str(root / "labels"),
        str(root / "out"),
        name="estimates",
        metrics=list(metrics),
        segments=segments,
        windows={"granularity": "1 day", "rolling": []},
        baseline={"source": "window", "window": reference},
    )
    data["labels"]["max_delay"] = "1 day"
    return parse_config(data)


COVERAGE = {"slices": 24, "days": 12, "per_day": 125, "shift_from": None, "seed": 41}  # 4 reference days: 500 labels
BACKTEST = {"slices": 1, "days": 20, "per_day": 300, "shift_from": 10, "seed": 42}  # 3 reference days: 900 labels
AS_OF = {"coverage": T0 + 13 * DAY, "backtest": T0 + 21 * DAY}


@pytest.fixture(scope="module")
def lakes(spark, tmp_path_factory):
    """The two lakes and their monitors, run side by side."""
    out = {}
    for name, shape, metrics, reference, segments in (
        (
            "coverage",
            COVERAGE,
            [*ESTIMATES, *(m.removeprefix("estimated_") for m in ESTIMATES)],
            "4 days",
            {"columns": ["country"]},
        ),
        ("backtest", BACKTEST, ["estimated_precision", "estimates_reliable"], "3 days", {}),
    ):
        root = tmp_path_factory.mktemp(name)
        rows = estimate_rows(**shape)
        write_lake(spark, root, rows)
        out[name] = (rows, estimate_config(root, metrics, reference, segments))
    side_by_side(*(functools.partial(run_monitor, cfg, AS_OF[name], spark=spark) for name, (_, cfg) in out.items()))
    return out


def test_the_intervals_of_the_estimates_cover_the_realised_values(spark, lakes):
    """Every window of a country after its reference (8 days x 24 countries): the realised
    value (the labeled metric of the same window, every prediction labeled) lies within the
    estimate's 95% interval in 85% of them at least (the bench measures 90-98% on thousands)."""
    _, cfg = lakes["coverage"]
    metrics = read_table(spark, cfg, "perf_metrics")
    metrics = metrics[(metrics["slice_key"] == "country") & (metrics["model_version"] == "v1")]
    metrics = metrics[metrics["window_start"] >= T0 + 4 * DAY]
    realised = metrics.set_index(["slice_value", "window_start", "metric"])["value"]
    rates = {}
    for name in ESTIMATES:
        rows = metrics[metrics["metric"] == name]
        assert len(rows) == 24 * 8 and rows["value"].notna().all(), name
        truth = realised.loc[
            [(r.slice_value, r.window_start, name.removeprefix("estimated_")) for r in rows.itertuples()]
        ]
        inside = (rows["ci_lower"].to_numpy() <= truth.to_numpy()) & (truth.to_numpy() <= rows["ci_upper"].to_numpy())
        rates[name] = float(inside.mean())
    print("\ncoverage of the realised values:", rates)
    assert all(rate >= 0.85 for rate in rates.values()), rates


def test_the_backtest_flags_a_concept_shift_once_its_labels_mature(spark, lakes):
    """One slice, 20 days, the reference the first 3, the positive rate halved from day 10,
    labels mature a day later: no back-test on the reference days, reliable until the shift,
    unreliable from its fourth day at the latest (from its second on the same rows without
    Spark); and the job writes what ``finalise_slice`` computes from the same rows (the
    estimates to 1e-9, the flags exactly)."""
    rows, cfg = lakes["backtest"]
    metrics = read_table(spark, cfg, "perf_metrics")
    metrics = metrics[(metrics["slice_key"] == OVERALL) & (metrics["model_version"] == "v1")]
    flags = metrics[metrics["metric"] == "estimates_reliable"].set_index("window_end")["value"].sort_index()
    assert len(flags) == 20
    assert flags.loc[: T0 + 3 * DAY].isna().all()  # the reference days: no reference, or in-sample
    assert flags.loc[T0 + 4 * DAY : T0 + 10 * DAY].eq(1.0).all()
    assert flags.loc[T0 + 14 * DAY :].eq(0.0).all()

    plan = WindowPlan.from_config(cfg, AS_OF["backtest"])
    first = int(np.datetime64(T0, "s").astype(np.int64))  # the version's first bucket (the job finds it)
    plan = replace(plan, reference=replace(plan.reference, version_starts=((ALL_VERSIONS, first), ("v1", first))))
    y = rows["is_fraud"].astype(float)
    local = rows.assign(bucket_start=rows["prediction_ts"].dt.floor("D"), y=y, d=(rows["score"] >= 0.5).astype(int))
    expected = finalise_slice(binary_stats(local), plan)
    expected = expected[expected["model_version"] == "v1"].assign(window_end=lambda f: pd.to_datetime(f["window_end"]))
    got = expected[["window_end", "metric"]].merge(metrics, on=["window_end", "metric"], how="left")
    assert len(got) == len(expected) == 2 * 20
    np.testing.assert_allclose(got["value"], expected["value"], rtol=0, atol=1e-9)
