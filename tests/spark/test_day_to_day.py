"""Day-to-day variation on real Delta tables (issue #35's Spark test): one monitor, five slices of
300 to 1,000 labels a day, each day's accuracy moving around 0.85 with a standard deviation of 2
points (traffic mix, campaigns) beyond its sampling error, and the rules of the simulation bench
(2% MINOR, 3% SUSTAINED in 3 of 7 daily windows, 10% CRITICAL, a 21-day baseline).

- v_stable stays where it was: no SUSTAINED or CRITICAL in any slice, no RETRAIN, and ``perfmon
  decide`` exits 0 for it;
- v_drop loses 8 accuracy points in its largest slice from day 30: SUSTAINED there within 14 days,
  a RETRAIN, and ``perfmon decide`` exits 10.

Without the extra variance (``extra_variance: none``, the same rule beside it in the same run) the
stable windows' p-values are far too small: the daily windows' intervals shrink with the traffic,
the day-to-day spread does not.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark import cli
from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.vocabulary import Level
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, read_table, write_delta

DAYS, DROP_DAY = 44, 30
DAY = timedelta(days=1)
SLICES = {"s0": 1000, "s1": 700, "s2": 500, "s3": 400, "s4": 300}  # labels a day
ACCURACY, DAILY_SD, DROP = 0.85, 0.02, 0.08
SERIOUS = (Level.SUSTAINED, Level.CRITICAL)


def make_lake(seed: int = 11) -> pd.DataFrame:
    """Every prediction labeled 6 hours later; a decision is right with the day's accuracy."""
    rng = np.random.default_rng(seed)
    parts = []
    for version in ("v_stable", "v_drop"):
        for name, n in SLICES.items():
            day = np.repeat(np.arange(DAYS), n)
            daily = ACCURACY + rng.normal(0, DAILY_SD, DAYS)
            if version == "v_drop" and name == "s0":
                daily[DROP_DAY:] -= DROP
            y = (rng.random(len(day)) < 0.3).astype(int)
            right = rng.random(len(day)) < daily[day]
            decision = np.where(right, y, 1 - y)
            parts.append(
                pd.DataFrame(
                    {
                        "model_version": version,
                        "country": name,
                        "day": day,
                        "seconds": rng.integers(0, 86400 - 6 * 3600, len(day)),
                        "score": np.where(decision == 1, 0.75, 0.25),
                        "is_fraud": y,
                    }
                )
            )
    rows = pd.concat(parts, ignore_index=True)
    rows["prediction_ts"] = pd.Timestamp(T0) + pd.to_timedelta(rows["day"], "D") + pd.to_timedelta(rows["seconds"], "s")
    rows["prediction_id"] = [f"p{i}" for i in range(len(rows))]
    return rows.assign(channel="web", amount=1.0)


def rule(name: str, extra_variance: str) -> dict:
    return {
        "name": name,
        "metric": "accuracy",
        "window": "1 day",
        "min_labeled": 100,
        "minor": {"ratio": 0.98},
        "sustained": {"ratio": 0.97, "of": 3, "within": 7},
        "critical": {"ratio": 0.90},
        "extra_variance": extra_variance,
    }


@pytest.fixture(scope="module")
def outcome(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("day_to_day")
    rows = make_lake()
    labels = rows[["prediction_id", "is_fraud"]].assign(label_ts=rows["prediction_ts"] + timedelta(hours=6))
    columns = ["prediction_id", "prediction_ts", "model_version", "score", "country", "channel", "amount"]
    p = write_delta(spark, rows[columns], PREDICTIONS_DDL, root / "p")
    lab = write_delta(spark, labels, LABELS_DDL, root / "l")
    data = config_dict(p, lab, str(root / "monitoring"), name="day_to_day", metrics=["accuracy"])
    data["labels"]["max_delay"] = "1 day"
    data["segments"] = {"columns": ["country"]}
    data["windows"] = {"granularity": "1 day", "rolling": []}
    data["baseline"] = {"source": "window", "window": "21 days"}
    data["alerts"] = [rule("accuracy_drop", "moments"), rule("without_extra_variance", "none")]
    data["retrain"] = {"triggers": ["sustained", "critical"], "cooldown": "60 days"}
    cfg = parse_config(data)
    as_of = T0 + DAYS * DAY
    run_monitor(cfg, as_of, spark=spark)
    (root / "day_to_day.yml").write_text(json.dumps(data))
    return cfg, read_table(spark, cfg, "perf_alerts"), read_table(spark, cfg, "rule_windows"), root / "day_to_day.yml"


def serious(alerts: pd.DataFrame, rule_name: str, version: str) -> pd.DataFrame:
    mine = alerts[(alerts["rule"] == rule_name) & (alerts["model_version"] == version)]
    return mine[[bool(set(json.loads(e)["reached"]) & set(SERIOUS)) for e in mine["evidence"]]]


def test_stable_slices_raise_nothing_serious_and_decide_exits_0(outcome):
    _, alerts, _, config = outcome
    assert serious(alerts, "accuracy_drop", "v_stable").empty
    drop = serious(alerts, "accuracy_drop", "v_drop")
    assert set(drop["slice_value"]) <= {"s0", "*"}  # only the slice that dropped, and the whole
    assert cli.main(["decide", "--config", str(config), "--model-version", "v_stable"]) == 0


def test_the_drop_is_sustained_within_14_days_and_decide_exits_10(outcome):
    _, alerts, _, config = outcome
    (episode,) = serious(alerts, "accuracy_drop", "v_drop").query("slice_value == 's0'").itertuples()
    sustained = pd.Timestamp(json.loads(episode.evidence)["reached"][Level.SUSTAINED])
    assert pd.Timestamp(T0) + DROP_DAY * DAY <= sustained < pd.Timestamp(T0) + (DROP_DAY + 14) * DAY
    assert cli.main(["decide", "--config", str(config), "--model-version", "v_drop"]) == 10


def test_the_extra_variance_is_what_keeps_the_stable_slices_quiet(outcome):
    """The same rule with ``extra_variance: none`` on the same windows: its tests count sampling
    error only, and the stable slices' day-to-day spread goes beyond it."""
    _, _, windows, _ = outcome
    stable = windows[(windows["model_version"] == "v_stable") & (windows["slice_key"] == "country")]
    counted = stable[stable["rule"] == "accuracy_drop"]
    assert counted["extra_variance"].notna().all() and (counted["extra_variance"] > 0).all()
    assert stable[stable["rule"] == "without_extra_variance"]["extra_variance"].isna().all()
    # the measured extra variance is the simulated daily variance, within its sampling error (df ~ 20)
    per_slice = counted.groupby("slice_value")["extra_variance"].first()
    assert np.sqrt(per_slice.median()) == pytest.approx(DAILY_SD, rel=0.5)
    # the stable windows' p-values: about uniform with it (1% below 0.01), far too small without
    low = {
        r: (stable[stable["rule"] == r]["p_value"] < 0.01).mean() for r in ("accuracy_drop", "without_extra_variance")
    }
    assert low["accuracy_drop"] < 0.03 and low["without_extra_variance"] > max(0.05, 3 * low["accuracy_drop"]), low
