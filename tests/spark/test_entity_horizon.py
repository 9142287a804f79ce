"""The entity-horizon label join against a pandas oracle, with events on the horizon's edges."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from tests.helpers import T0, read_table, write_delta
from tests.oracle import binary_metric

HORIZON = timedelta(days=3)
AS_OF = T0 + timedelta(days=8)


def oracle_labels(preds: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """1 if a positive event of the entity is in (ts, ts + horizon] and <= as_of; 0 once the
    horizon has passed; NaN before."""
    positive = events[(events["churned"] == 1) & (events["event_ts"] <= AS_OF)]
    out = []
    for row in preds.itertuples():
        times = positive.loc[positive["customer_id"] == row.customer_id, "event_ts"]
        hit = ((times > row.ts) & (times <= row.ts + HORIZON)).any()
        out.append(1.0 if hit else (0.0 if row.ts + HORIZON <= AS_OF else np.nan))
    return pd.Series(out, index=preds.index)


def test_entity_horizon_join_matches_pandas(spark, tmp_path):
    rng = np.random.default_rng(21)
    n = 300
    preds = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "customer_id": [f"c{i}" for i in rng.integers(0, 60, n)],
            "ts": [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 7 * 86400, n)],
            "version": "v1",
            "score": rng.random(n).round(3),
        }
    )
    events = []
    for row in preds.sample(120, random_state=1).itertuples():
        offset = rng.choice(
            [0.0, 1.5, 3.0, 3.0001, -1.0]
        )  # days: on the open edge, inside, on the closed edge, just after, before
        events.append((row.customer_id, int(rng.random() < 0.85), row.ts + timedelta(days=float(offset))))
    events.append(("nobody", 1, T0 + timedelta(days=2)))  # an orphan event
    events = pd.DataFrame(events, columns=["customer_id", "churned", "event_ts"])
    write_delta(
        spark,
        preds,
        "id string, customer_id string, ts timestamp, version string, score double",
        tmp_path / "predictions",
    )
    write_delta(spark, events, "customer_id string, churned int, event_ts timestamp", tmp_path / "events")
    cfg = parse_config(
        {
            "version": 1,
            "name": "churn",
            "problem_type": "binary",
            "predictions": {
                "table": str(tmp_path / "predictions"),
                "id": "id",
                "timestamp": "ts",
                "model_version": "version",
                "score": "score",
            },
            "labels": {
                "table": str(tmp_path / "events"),
                "label": "churned",
                "timestamp": "event_ts",
                "join": {"mode": "entity_horizon", "entity": "customer_id", "horizon": "3 days"},
            },
            "metrics": ["accuracy", "recall", "positive_rate"],
            "windows": {"granularity": "1 day", "rolling": []},
            "output": {"location": str(tmp_path / "monitoring")},
        }
    )
    result = run_monitor(cfg, AS_OF, spark=spark)
    assert result.orphan_labels == 1
    preds["y"] = oracle_labels(preds, events)
    preds["d"] = (preds["score"] >= 0.5).astype(int)
    metrics = read_table(spark, cfg, "perf_metrics")
    for r in metrics[metrics["model_version"] == "v1"].itertuples():
        sel = preds[(preds["ts"] >= r.window_start) & (preds["ts"] < r.window_end)]
        assert r.n_labeled == sel["y"].notna().sum(), r.window_start
        expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        assert pd.isna(r.value) if expected is None else r.value == pytest.approx(expected, abs=1e-12), (
            r.metric,
            r.window_start,
        )
        assert r.is_mature == (r.window_end + HORIZON <= AS_OF)
    assert preds["y"].isna().any() and (preds["y"] == 1).any() and (preds["y"] == 0).any()
