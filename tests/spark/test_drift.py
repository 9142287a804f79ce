"""Feature drift on real Delta tables: the bins are fixed once from the first reference period and
never move (incremental runs, appends with another distribution), every drift measure of every
version, slice and window equals numpy / scipy on the same rows binned independently, and the
drift decision is the PSI threshold with the size-aware test after Benjamini-Hochberg (scipy's)
over each window's features."""

from __future__ import annotations

import functools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import false_discovery_control, wasserstein_distance

from perfmon_spark.config import parse_config
from perfmon_spark.errors import InputError
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics.drift import psi_p_value
from tests import oracle
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    make_inputs,
    read_table,
    side_by_side,
    with_tuples,
    write_delta,
)

DAY = timedelta(days=1)
AS_OF = T0 + 10 * DAY


def drifted_inputs(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """make_inputs over 10 days; from day 6 the amounts triple and most rows come from the app."""
    preds, labels = make_inputs(n=1500, days=10, seed=seed)
    late = preds["prediction_ts"] >= T0 + 6 * DAY
    preds.loc[late, "amount"] = preds.loc[late, "amount"] * 3
    rng = np.random.default_rng(seed)
    preds.loc[late & (rng.random(len(preds)) < 0.7), "channel"] = "app"
    preds.loc[rng.random(len(preds)) < 0.03, "amount"] = None
    return preds, labels


def drift_config(p, lab, out, **extra):
    data = config_dict(
        p,
        lab,
        out,
        name="drifting",
        metrics=["accuracy"],
        segments={"columns": ["country"], "max_values": 2},
        windows={"granularity": "1 day", "rolling": ["3 days"]},
        baseline={"source": "window", "window": "3 days"},
        drift={"features": ["amount"], "categorical": ["channel"], "bins": 6},
    )
    data.update(extra)
    return parse_config(data)


def oracle_measures(window: np.ndarray, reference: np.ndarray, centres: np.ndarray | None) -> dict[str, float]:
    p, q = window / window.sum(), reference / reference.sum()
    out = {"psi": oracle.psi(window, reference), "js": float(jensenshannon(p, q, base=2))}
    if centres is not None:
        out["wasserstein"] = float(wasserstein_distance(centres, centres, window[:-1], reference[:-1]))
    return out


def counts_of(rows: pd.DataFrame, feature: str, ref: pd.Series) -> np.ndarray:
    """Histogram of ``rows[feature]`` on the stored bins ``ref`` (a drift_reference row), cut
    independently of the job's code: pandas' right-closed intervals, nulls last."""
    v = rows[feature]
    if ref["kind"] == "numeric":
        edges = np.asarray(ref["edges"], dtype=float)
        cuts = [-np.inf, *edges[1:-1], np.inf]
        idx = pd.cut(v.astype(float), cuts, right=True, labels=False)
        size = len(cuts)  # value bins, then null
    else:
        cats = list(ref["categories"])
        idx = v.map(lambda x: cats.index(x) if x in cats else len(cats))
        idx = idx.where(v.notna())
        size = len(cats) + 2
    idx = idx.fillna(size - 1).astype(int)
    return np.bincount(idx, minlength=size).astype(float)


def test_drift_measures_equal_numpy_and_bins_stay_fixed(spark, tmp_path):
    preds, labels = drifted_inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    cfg = drift_config(p, lab, str(tmp_path / "out"))
    run_monitor(cfg, AS_OF, spark=spark)

    reference = read_table(spark, cfg, "drift_reference").set_index("feature")
    assert set(reference.index) == {"amount", "channel"}
    period = preds[(preds["prediction_ts"] >= T0) & (preds["prediction_ts"] < T0 + 3 * DAY)]
    amounts = period["amount"].dropna().astype(float).to_numpy()
    edges = np.asarray(reference.loc["amount", "edges"], dtype=float)
    for q, e in zip(np.linspace(0, 1, 7), edges):  # no ties here: 7 edges at the sextiles
        assert np.mean(amounts < e) <= q + 0.01 and np.mean(amounts <= e) >= q - 0.01
    top = period["channel"].value_counts()
    assert list(reference.loc["channel", "categories"]) == sorted(top.index, key=lambda c: (-top[c], c))
    assert reference.loc["amount", "n_reference"] == len(amounts)

    usable = oracle.resolve(preds, labels, AS_OF, timedelta(days=7), 0.5)
    usable["bucket"] = usable["prediction_ts"].dt.floor("D")
    seen = preds.loc[preds["prediction_ts"] <= AS_OF, "country"].value_counts()
    kept = sorted(sorted(seen.index, key=lambda c: (-seen[c], c))[:2])
    usable["slice_country"] = usable["country"].map(
        lambda c: "__null__" if pd.isna(c) else c if c in kept else "__other__"
    )
    got = read_table(spark, cfg, "drift_metrics")
    assert set(got["measure"]) == {"psi", "js", "wasserstein"}
    assert not got.query("feature == 'channel'")["measure"].eq("wasserstein").any()
    checked = 0
    for (version, key, value, feature), rows in got.groupby(["model_version", "slice_key", "slice_value", "feature"]):
        sub = usable if version == "*" else usable[usable["model_version"] == version]
        if key == "country":
            sub = sub[sub["slice_country"] == value]
        first = (
            usable["bucket"].min() if version == "*" else usable.loc[usable["model_version"] == version, "bucket"].min()
        )
        ref_rows = sub[(sub["bucket"] >= first) & (sub["bucket"] < first + 3 * DAY)]
        ref_counts = counts_of(ref_rows, feature, reference.loc[feature])
        for r in rows.itertuples():
            window = counts_of(
                sub[(sub["prediction_ts"] >= r.window_start) & (sub["prediction_ts"] < r.window_end)],
                feature,
                reference.loc[feature],
            )
            assert r.n_predictions == window.sum()
            if r.window_end < first + 3 * DAY or ref_counts.sum() == 0:
                assert pd.isna(r.value) and pd.isna(r.is_drifted) and pd.isna(r.p_value)
                continue
            centres = None
            if feature == "amount":
                centres = (edges[:-1] + edges[1:]) / 2
            expected = oracle_measures(window, ref_counts, centres)[r.measure]
            assert r.n_reference == ref_counts.sum()
            assert np.isclose(r.value, expected, rtol=1e-9, atol=1e-12), (version, key, value, feature, r)
            if r.measure == "psi":  # the test itself is checked against scipy in tests/unit/test_drift_decision.py
                p_psi = psi_p_value(window, ref_counts, ordered=feature == "amount")
                assert (
                    pd.isna(r.p_value) if np.isnan(p_psi) else np.isclose(r.p_value, p_psi, rtol=1e-9, atol=1e-300)
                ), r
            else:
                assert pd.isna(r.is_drifted) and pd.isna(r.p_value)
            checked += 1
    assert checked > 100
    tested = got[got["measure"].eq("psi") & got["p_value"].notna()]
    for _, family in tested.groupby(["model_version", "slice_key", "slice_value", "window", "window_start"]):
        q = false_discovery_control(family["p_value"].to_numpy(), method="bh")
        expected = (family["value"].to_numpy() > 0.2) & (q <= 0.05)
        assert family["is_drifted"].tolist() == expected.tolist(), family
    assert tested["is_drifted"].notna().all() and tested["is_drifted"].any() and not tested["is_drifted"].all()
    assert got.loc[got["p_value"].isna(), "is_drifted"].isna().all()
    late = got.query("model_version == '*' and slice_key == '*' and window == '1 day' and measure == 'psi'")
    late = late[late["window_start"] >= T0 + 6 * DAY]
    assert late["is_drifted"].all() and len(late) == 8  # amount and channel on days 6-9

    # New rows from another distribution, an incremental run: the bins do not move.
    more = preds.iloc[:200].copy()
    more["prediction_id"] = [f"n{i}" for i in range(200)]
    more["prediction_ts"] = more["prediction_ts"] + 10 * DAY
    more["amount"] = more["amount"] * 50
    write_delta(spark, more, PREDICTIONS_DDL, tmp_path / "predictions", mode="append")
    full = drift_config(p, lab, str(tmp_path / "full"))
    result, _ = side_by_side(
        functools.partial(run_monitor, cfg, AS_OF + 3 * DAY, spark=spark),
        functools.partial(run_monitor, full, AS_OF + 3 * DAY, spark=spark, mode="full"),
    )
    assert result.mode == "incremental"
    run_monitor(cfg, AS_OF + 3 * DAY, spark=spark, backfill=(T0 + 2 * DAY, T0 + 5 * DAY))
    again = read_table(spark, cfg, "drift_reference").set_index("feature")
    assert list(again.loc["amount", "edges"]) == list(edges)
    assert again.loc["amount", "created_run_id"] == reference.loc["amount", "created_run_id"]
    # the incremental run and the backfill end where one full run ends (the merge law of the histograms)
    for name, key in (
        ("drift_reference", ["feature"]),
        ("drift_stats", ["model_version", "slice_key", "slice_value", "bucket_start", "feature"]),
        (
            "drift_metrics",
            ["model_version", "slice_key", "slice_value", "window", "window_start", "feature", "measure"],
        ),
    ):
        a, b = (
            with_tuples(read_table(spark, c, name).drop(columns=["as_of", "run_id", "created_run_id"], errors="ignore"))
            .sort_values(key)
            .reset_index(drop=True)
            for c in (cfg, full)
        )
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, obj=name)


def test_bad_drift_columns_and_too_few_reference_rows_stop_the_run_before_any_write(spark, tmp_path):
    preds, labels = make_inputs(n=300, days=4, seed=2)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    out = tmp_path / "out"
    cases = [
        ({"features": ["amout"]}, r"column 'amout' \(drift.features\) not found; columns: amount, channel"),
        ({"features": ["country"]}, r"column 'country' \(drift.features\) has type string; allowed: number"),
        (
            {"features": ["amount"], "bins": 50},
            r"drift: column 'amount' has \d+ non-null values in the reference period",
        ),
    ]
    for drift, message in cases:
        with pytest.raises(InputError, match=message):
            run_monitor(drift_config(p, lab, str(out), drift=drift), T0 + 4 * DAY, spark=spark)
        assert not out.exists()
