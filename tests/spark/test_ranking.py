"""Ranking monitors on real Delta tables against the pandas/numpy oracle (tests/oracle_ranking.py):
random lists with score ties, k beyond the list, graded relevance, requests never clicked,
feedback after max_delay, corrections and feedback after as_of, for daily buckets and rolling
windows merged from the states, under both no-relevant rules and both orderings."""

from __future__ import annotations

import functools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics.intervals import z_value
from tests.helpers import T0, ranking_config_dict, ranking_lake, read_table, side_by_side
from tests.oracle_ranking import group_metrics, request_values, resolve_ranking

DAY = timedelta(days=1)
AS_OF = T0 + 5 * DAY
MAX_DELAY = timedelta(days=2)
KS = (3, 5)
METRICS = [f"{m}@{k}" for k in KS for m in ("ndcg", "precision", "recall", "map", "hit_rate")]
METRICS += ["mrr", "list_length_mean", "top_score_mean", "catalog_coverage@3", "catalog_coverage@5"]
SKETCH_ERROR = 0.05  # relative: a ratio of two HyperLogLog estimates, about two standard errors


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("ranking")
    return (*ranking_lake(spark, root, AS_OF), root)


RULES = [("skip", "score"), ("zero", "rank")]  # (no_relevant, order)


def config(tables, name: str, no_relevant: str, order: str):
    _, _, p, lab, root = tables
    data = ranking_config_dict(p, lab, str(root / name), name=name, metrics=METRICS)
    data["ranking"] = {"k": list(KS), "no_relevant": no_relevant}
    if order == "rank":
        data["predictions"]["rank"] = "rank"
    return parse_config(data)


@pytest.fixture(scope="module")
def monitors(spark, tables):
    """One monitor per rule pair, each with its own output tables, run side by side."""
    cfgs = {rule: config(tables, f"rank_{rule[0]}", *rule) for rule in RULES}
    side_by_side(*(functools.partial(run_monitor, cfg, AS_OF, spark=spark) for cfg in cfgs.values()))
    return cfgs


@pytest.mark.parametrize(("no_relevant", "order"), RULES)
def test_ranking_metrics_equal_the_oracle_in_every_window(spark, tables, monitors, no_relevant, order):
    preds, labels, *_ = tables
    cfg = monitors[no_relevant, order]
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
        expected = group_metrics(sel, KS, no_relevant, resolved=resolved)
        assert rows["n_predictions"].iloc[0] == expected["n_requests"]
        assert rows["n_labeled"].iloc[0] == expected["n_labeled"]
        for r in rows.itertuples():
            want = expected[r.metric]
            what = f"{r.metric} {version} {key}={value} {start}"
            if np.isnan(want):
                assert pd.isna(r.value), what
                continue
            if r.metric.startswith("catalog_coverage"):
                assert r.value == pytest.approx(want, rel=SKETCH_ERROR), what
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
