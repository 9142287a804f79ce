"""Ranking monitors on real Delta tables against the pandas/numpy oracle (tests/oracle_ranking.py):
random lists with score ties, k beyond the list, graded relevance, requests never clicked,
feedback after max_delay, corrections and feedback after as_of, for daily buckets and rolling
windows merged from the states, under both no-relevant rules and both orderings."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics.intervals import z_value
from tests.helpers import BASE, T0, read_table, write_delta
from tests.oracle_ranking import group_metrics, request_values, resolve_ranking

PREDICTIONS_DDL = "request_id string, item_id string, prediction_ts timestamp, model_version string, score double, rank int, country string"
LABELS_DDL = "request_id string, item_id string, relevance double, label_ts timestamp"
DAY = timedelta(days=1)
AS_OF = T0 + 5 * DAY
MAX_DELAY = timedelta(days=2)
KS = (3, 5)
METRICS = [f"{m}@{k}" for k in KS for m in ("ndcg", "precision", "recall", "map", "hit_rate")]
METRICS += ["mrr", "list_length_mean", "top_score_mean"]


def lake(seed: int = 21) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    preds, events = [], []
    for r in range(240):
        rid, ts = f"q{r}", T0 + timedelta(minutes=int(rng.integers(0, 4 * 1440)))
        version, country = rng.choice(["v1", "v2"]), rng.choice(["US", "GB"])
        n = int(rng.integers(1, 9))
        scores = rng.integers(0, 6, n) / 5  # ties
        for j in range(n):
            preds.append((rid, f"i{rng.integers(0, 40)}_{j}", ts, version, float(scores[j]), None, country))
        clicked = rng.random()
        for j in range(n):
            item = preds[-n + j][1]
            if clicked < 0.25:  # never clicked: no feedback at all
                break
            if rng.random() < 0.5:
                rel = float(rng.integers(0, 4))  # graded, 0 is an explicit "not relevant"
                delay = timedelta(hours=int(rng.integers(1, 80)))  # some after max_delay (48 h)
                events.append((rid, item, rel, ts + delay))
                if rng.random() < 0.2:  # a correction, later
                    events.append((rid, item, float(rel == 0), ts + delay + timedelta(hours=3)))
    preds.append(("q0", preds[0][1], T0 + 3 * DAY, "v2", 0.9, None, "US"))  # a duplicate (request, item): later loses
    events.append(("q1", "i_unknown", 3.0, T0 + DAY))  # feedback for no prediction
    events.append((preds[5][0], preds[5][1], 3.0, AS_OF + DAY))  # after as_of
    columns = ["request_id", "item_id", "prediction_ts", "model_version", "score", "rank", "country"]
    frame = pd.DataFrame(preds, columns=columns)
    # the rank column orders the same lists differently: the score's order reversed
    frame["rank"] = frame.groupby("request_id")["score"].rank(method="first").astype(int)
    return frame, pd.DataFrame(events, columns=["request_id", "item_id", "relevance", "label_ts"])


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("ranking")
    preds, labels = lake()
    return (
        preds,
        labels,
        write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions"),
        write_delta(spark, labels, LABELS_DDL, root / "labels"),
        root,
    )


def config(tables, name: str, no_relevant: str, order: str):
    _, _, p, lab, root = tables
    predictions = {"table": p, "request": "request_id", "item": "item_id", "timestamp": "prediction_ts"}
    predictions |= {"model_version": "model_version", "score": "score"}
    if order == "rank":
        predictions["rank"] = "rank"
    data = dict(
        BASE,
        name=name,
        problem_type="ranking",
        predictions=predictions,
        labels={
            "table": lab,
            "request": "request_id",
            "item": "item_id",
            "label": "relevance",
            "timestamp": "label_ts",
            "max_delay": "2 days",
        },
        ranking={"k": list(KS), "no_relevant": no_relevant},
        metrics=METRICS,
        segments={"columns": ["country"]},
        windows={"granularity": "1 day", "rolling": ["2 days"]},
        output={"location": str(root / "out")},
    )
    return parse_config(data)


@pytest.mark.parametrize(("no_relevant", "order"), [("skip", "score"), ("zero", "rank")])
def test_ranking_metrics_equal_the_oracle_in_every_window(spark, tables, no_relevant, order):
    preds, labels, *_ = tables
    cfg = config(tables, f"rank_{no_relevant}", no_relevant, order)
    run_monitor(cfg, AS_OF, spark=spark)
    out = read_table(spark, cfg, "perf_metrics").query("monitor == @cfg.name")
    resolved = resolve_ranking(preds, labels, AS_OF, MAX_DELAY, order=order)
    requests = request_values(resolved, KS)
    country = resolved.drop_duplicates("request_id").set_index("request_id")["country"]
    requests["country"] = requests["request_id"].map(country)
    z = z_value(0.95)
    checked = 0
    for (version, key, value, start, end), rows in out.groupby(
        ["model_version", "slice_key", "slice_value", "window_start", "window_end"]
    ):
        sel = requests[(requests["request_ts"] >= start) & (requests["request_ts"] < end)]
        sel = sel if version == "*" else sel[sel["model_version"] == version]
        sel = sel if key == "*" else sel[sel[key] == value]
        expected = group_metrics(sel, KS, no_relevant)
        assert rows["n_predictions"].iloc[0] == expected["n_requests"]
        assert rows["n_labeled"].iloc[0] == expected["n_labeled"]
        for r in rows.itertuples():
            want = expected[r.metric]
            what = f"{r.metric} {version} {key}={value} {start}"
            if np.isnan(want):
                assert pd.isna(r.value), what
                continue
            assert r.value == pytest.approx(want, rel=1e-9, abs=1e-12), what
            checked += 1
            if r.metric != "top_score_mean" and expected["n_scored"] >= 2 and r.metric != "list_length_mean":
                scored = sel[sel["n_rel"] > 0] if no_relevant == "skip" else sel.fillna({r.metric: 0.0})
                values = scored[r.metric].to_numpy(dtype=float)
                half = z * values.std(ddof=1) / np.sqrt(len(values))
                # the variance from sums of squares cancels: ~1e-9 where every value is equal
                assert (r.ci_lower, r.ci_upper) == pytest.approx((want - half, want + half), abs=1e-7), what
    assert checked > 300
    runs = read_table(spark, cfg, "runs").query("monitor == @cfg.name")
    assert runs["rows_read_predictions"].iloc[-1] == len(preds)
    quarantine = read_table(spark, cfg, "quarantine").query("monitor == @cfg.name")
    assert set(quarantine["reason"]) == {"duplicate_id"}
