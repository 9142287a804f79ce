"""Busy cells are binned as rows are aggregated (``states.cells.large_cells``): perf_stats must
hold exactly the score summary entries the documented rule gives, computed here with numpy.

With the exact limit lowered to 40: the cell US/web has 120 predictions (15 labeled), so it is
binned although every group it belongs to but the overall one has at most 40 labeled rows; the
cell GB/app has 30 predictions, all labeled, and stays exact unless its group is over the limit.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.states import histogram
from tests.builders import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, write_delta

LIMIT = 40
CELLS = (("US", "web", 120, 15), ("GB", "app", 30, 30))


def make_rows(seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    preds, labels = [], []
    for country, channel, n, n_labeled in CELLS:
        for i in range(n):
            pid = f"{country}{i}"
            ts = T0 + timedelta(minutes=int(rng.integers(0, 1440)))
            preds.append((pid, ts, "v1", float(rng.random()), country, channel, 1.0))
            if i < n_labeled:
                labels.append((pid, int(rng.random() < 0.4), ts + timedelta(hours=1)))
    return pd.DataFrame(preds, columns=["prediction_id", "prediction_ts", "model_version", "score", "country", "channel", "amount"]), pd.DataFrame(
        labels, columns=["prediction_id", "is_fraud", "label_ts"]
    )


def expected_summary(preds: pd.DataFrame, labels: pd.DataFrame, members) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rule: a row of a cell with more than LIMIT predictions is keyed by its grid bin centre;
    a group with more than LIMIT labeled rows keys every entry by bin centre."""
    grid = histogram.Grid.for_scale("probability")
    sizes = preds.groupby(["country", "channel"])["prediction_id"].transform("size")
    rows = preds.assign(large=sizes > LIMIT).merge(labels, on="prediction_id")
    rows = rows[members(rows)]
    keys = histogram.transform(rows["score"].to_numpy(), "probability")
    keys = np.where(rows["large"].to_numpy(), grid.centres(keys), keys)
    if len(rows) > LIMIT:
        keys = grid.centres(keys)
    y = rows["is_fraud"].to_numpy()
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=y), np.bincount(inverse, weights=1 - y)


def test_busy_cells_are_binned_and_quiet_ones_stay_exact(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(histogram, "EXACT_LIMIT", LIMIT)
    preds, labels = make_rows()
    data = config_dict(
        write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "p"), write_delta(spark, labels, LABELS_DDL, tmp_path / "l"), str(tmp_path / "m")
    )
    cfg = parse_config(data)
    run_monitor(cfg, T0 + timedelta(days=2), mode="full", spark=spark)
    stats = spark.read.format("delta").load(cfg.output.table("perf_stats").text).toPandas()
    groups = {
        ("*", "*"): lambda r: r["country"].notna(),
        ("country", "US"): lambda r: r["country"] == "US",
        ("country", "GB"): lambda r: r["country"] == "GB",
        ("channel", "web"): lambda r: r["channel"] == "web",
        ("country&channel", "GB&app"): lambda r: r["country"] == "GB",
    }
    for (key, value), members in groups.items():
        row = stats[(stats["slice_key"] == key) & (stats["slice_value"] == value)]
        assert len(row) == 1, (key, value)
        row = row.iloc[0]
        keys, pos, neg = expected_summary(preds, labels, members)
        np.testing.assert_allclose(np.asarray(row["hist_keys"]), keys, rtol=0, atol=1e-12, err_msg=f"{key}={value}")
        np.testing.assert_array_equal(np.asarray(row["hist_pos"]), pos, err_msg=f"{key}={value}")
        np.testing.assert_array_equal(np.asarray(row["hist_neg"]), neg, err_msg=f"{key}={value}")
    # the quiet cell's own group is exact: one entry per distinct score
    gb = stats[(stats["slice_key"] == "country") & (stats["slice_value"] == "GB")].iloc[0]
    assert len(gb["hist_keys"]) == 30
