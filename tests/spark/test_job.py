"""The job on real Delta tables, checked against pandas + scikit-learn on the same rows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from perfmon_spark.config import parse_config
from perfmon_spark.errors import InputError
from perfmon_spark.job import run_monitor
from perfmon_spark.session import prepare_session
from perfmon_spark.vocabulary import Stage
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    load_table,
    make_inputs,
    read_table,
    with_tuples,
    write_delta,
)
from tests.oracle import binary_metric, resolve

AS_OF = T0 + timedelta(days=12)
MAX_DELAY = timedelta(days=7)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    preds, labels = make_inputs()
    p = write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, root / "labels")
    versions = {"champion": "v1", "challengers": ["v2"], "metrics": ["roc_auc", "accuracy"], "min_labeled": 5}
    cfg = parse_config(config_dict(p, lab, str(root / "monitoring"), versions=versions))
    first = run_monitor(cfg, AS_OF, spark=spark)
    return {"root": root, "preds": preds, "labels": labels, "cfg": cfg, "first": first}


def oracle_slices(rows: pd.DataFrame, visible: pd.DataFrame, max_values: int) -> dict[str, pd.Series]:
    """slice_key -> slice_value per row, from SPEC §4 and segments.max_values (top values by
    the volume of predictions visible as of the run)."""
    out = {"*": pd.Series("*", index=rows.index)}
    mapped = {}
    for col in ("country", "channel"):
        counts = visible[col].dropna().value_counts()
        top = sorted(counts.sort_index().sort_values(ascending=False, kind="mergesort").index[:max_values])
        mapped[col] = rows[col].map(lambda v: "__null__" if v is None or v != v else (v if v in top else "__other__"))  # noqa: B023  (used at once, inside the loop)
        out[col] = mapped[col]
    out["country&channel"] = mapped["country"] + "&" + mapped["channel"]
    return out


def test_metrics_match_sklearn_for_every_version_slice_and_window(spark, lake):
    cfg = lake["cfg"]
    rows = resolve(lake["preds"], lake["labels"], AS_OF, MAX_DELAY, 0.5)
    rows["score"] = rows["score"].astype(float)
    preds = lake["preds"]
    slices = oracle_slices(rows, preds[preds["prediction_ts"] <= AS_OF], cfg.segments.max_values)
    metrics = read_table(spark, cfg, "perf_metrics")
    assert set(metrics["slice_key"]) == set(slices)
    assert "__other__" in set(metrics["slice_value"]) and "__null__" in set(metrics["slice_value"])
    assert not metrics.duplicated(
        ["model_version", "slice_key", "slice_value", "window", "window_start", "metric"]
    ).any()
    stored = load_table(spark, cfg, "perf_metrics")
    assert stored.filter("isnan(value) OR isnan(ci_lower) OR isnan(ci_upper) OR isnan(std_error)").count() == 0
    # a standard error exactly where there is an interval
    assert stored.filter("(std_error IS NULL) <> (ci_lower IS NULL) OR std_error < 0").count() == 0
    assert stored.filter("value IS NULL").count() > 0
    checked = 0
    selections = {}
    for r in metrics.itertuples():
        group = (r.model_version, r.slice_key, r.slice_value, r.window_start, r.window_end)
        if group not in selections:
            sel = rows[(rows["prediction_ts"] >= r.window_start) & (rows["prediction_ts"] < r.window_end)]
            sel = sel[slices[r.slice_key].loc[sel.index] == r.slice_value]
            selections[group] = sel if r.model_version == "*" else sel[sel["model_version"] == r.model_version]
        sel = selections[group]
        expected = binary_metric(r.metric, sel["y"].to_numpy(), sel["score"].to_numpy(), sel["d"].to_numpy())
        what = f"{r.metric} {r.model_version} {r.slice_key}={r.slice_value} {r.window} {r.window_start}"
        if expected is None:
            assert pd.isna(r.value), what
        else:
            assert r.value == pytest.approx(expected, abs=1e-9), what
        assert r.n_predictions == len(sel) and r.n_labeled == sel["y"].notna().sum(), what
        assert r.is_mature == (r.window_end + MAX_DELAY <= AS_OF)
        checked += 1
    assert checked > 3000


def test_runs_row_counts_every_kind_of_trouble(spark, lake):
    cfg, first = lake["cfg"], lake["first"]
    assert first.status == "SUCCEEDED"
    assert first.rows_read_predictions == len(lake["preds"])
    labels = lake["labels"]
    assert first.rows_read_labels == (labels["label_ts"] <= AS_OF).sum()
    quarantine = read_table(spark, cfg, "quarantine")
    by_reason = quarantine.groupby(["source", "reason"]).size().to_dict()
    assert by_reason == {
        ("predictions", "score_out_of_range"): 2,
        ("predictions", "null_score"): 1,
        ("predictions", "null_model_version"): 1,
        ("predictions", "duplicate_id"): 2,
        ("labels", "bad_label"): 2,
        ("labels", "null_id"): 1,
        ("labels", "label_before_prediction"): 1,
    }
    assert first.rows_quarantined == len(quarantine) == 10
    # ghost-1, plus labels of the 4 predictions quarantined for their values (p5..p8)
    expected_orphans = 1 + labels["prediction_id"].isin(["p5", "p6", "p7", "p8"]).sum()
    assert first.orphan_labels == expected_orphans
    valid = labels[labels["label_ts"].le(AS_OF) & labels["is_fraud"].isin([0, 1]) & labels["prediction_id"].notna()]
    joined = valid.merge(resolve(lake["preds"], labels, AS_OF, MAX_DELAY, 0.5)[["prediction_id", "prediction_ts"]])
    late = joined[joined["label_ts"] > joined["prediction_ts"] + MAX_DELAY]
    assert first.late_labels_ignored == len(late) >= 1
    runs = read_table(spark, cfg, "runs")
    assert list(runs.columns) == [
        "run_id",
        "monitor",
        "as_of",
        "started_at",
        "finished_at",
        "status",
        "mode",
        "predictions_version",
        "labels_version",
        "rows_read_predictions",
        "rows_read_labels",
        "rows_quarantined",
        "orphan_labels",
        "late_labels_ignored",
        "buckets_recomputed",
        "metric_rows_written",
        "config_hash",
        "state_version",
        "package_version",
        "message",
        "stage_seconds",
        "warnings",
        "label_delay",
        "config_sections",
        "predictions_table_id",
        "labels_table_id",
        "registry_versions",
    ]
    assert runs["registry_versions"].isna().all()  # no versions.registry
    # every stage before the row's own write, timed (alerts only for a monitor that decides)
    stages = [s.value for s in Stage if s not in (Stage.WRITE, *(() if cfg.decides else (Stage.ALERTS,)))]
    assert list(first.stage_seconds) == stages
    assert set(runs["stage_seconds"].iloc[0]) == set(stages)
    assert all(0 <= first.stage_seconds[s] <= 3600 for s in stages)
    record = quarantine[quarantine["reason"] == "label_before_prediction"].iloc[0]
    assert record["record_id"] == "p21" and '"prediction_id":"p21"' in record["record"]


def test_perf_metrics_has_exactly_the_contract_columns(spark, lake):
    metrics = load_table(spark, lake["cfg"], "perf_metrics")
    assert [(f.name, f.dataType.simpleString()) for f in metrics.schema.fields] == [
        ("monitor", "string"),
        ("model_version", "string"),
        ("slice_key", "string"),
        ("slice_value", "string"),
        ("window", "string"),
        ("window_start", "timestamp"),
        ("window_end", "timestamp"),
        ("metric", "string"),
        ("value", "double"),
        ("ci_lower", "double"),
        ("ci_upper", "double"),
        ("std_error", "double"),
        ("n_predictions", "bigint"),
        ("n_labeled", "bigint"),
        ("label_coverage", "double"),
        ("expected_coverage", "double"),
        ("is_mature", "boolean"),
        ("as_of", "timestamp"),
        ("run_id", "string"),
    ]


def test_rerun_with_same_as_of_leaves_identical_rows(spark, lake):
    cfg = lake["cfg"]
    before = {name: with_tuples(read_table(spark, cfg, name)) for name in ("perf_metrics", "perf_stats", "quarantine")}
    second = run_monitor(cfg, AS_OF, spark=spark)
    assert lake["first"].metric_rows_written == len(before["perf_metrics"]) > 0  # the creating write's count
    assert second.metric_rows_written == 0
    for name, old in before.items():
        new = with_tuples(read_table(spark, cfg, name))
        # every column, the score summaries (hist_*) too, unchanged to the bit: nothing is rewritten
        key = [c for c in old.columns if c not in ("hist_keys", "hist_pos", "hist_neg")]
        a = old.sort_values(key[:8]).reset_index(drop=True)
        b = new.sort_values(key[:8]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    assert len(read_table(spark, cfg, "runs")) == 2


def test_a_run_keeps_generated_methods_compilable_unless_the_user_set_the_limit(spark, lake):
    """A fused stage whose generated method passes HotSpot's 8,000-byte limit runs interpreted; a
    run sets Spark's huge-method limit to 8,000 (Spark then splits such a stage) but leaves a
    limit the user set alone."""
    key = "spark.sql.codegen.hugeMethodLimit"
    spark.conf.unset(key)
    run_monitor(lake["cfg"], AS_OF, spark=spark)
    assert spark.conf.get(key) == "8000"
    spark.conf.set(key, "20000")
    try:
        prepare_session(spark)
        assert spark.conf.get(key) == "20000"
    finally:
        spark.conf.unset(key)


def test_missing_table_is_an_input_error_and_writes_nothing(spark, lake, tmp_path):
    data = config_dict(str(tmp_path / "nope"), str(lake["root"] / "labels"), str(tmp_path / "out"))
    with pytest.raises(InputError, match=r"predictions table '/.*/nope' \(predictions.table\) does not exist"):
        run_monitor(parse_config(data), AS_OF, spark=spark)
    assert not (tmp_path / "out").exists()


def test_missing_or_mistyped_column_names_table_and_columns(spark, lake, tmp_path):
    data = config_dict(str(lake["root"] / "predictions"), str(lake["root"] / "labels"), str(tmp_path / "out"))
    data["predictions"]["score"] = "scor"
    with pytest.raises(
        InputError, match=r"column 'scor' \(predictions.score\) not found; columns: amount, channel, country"
    ):
        run_monitor(parse_config(data), AS_OF, spark=spark)
    data["predictions"]["score"] = "country"
    with pytest.raises(InputError, match=r"column 'country' \(predictions.score\) has type string; allowed: number"):
        run_monitor(parse_config(data), AS_OF, spark=spark)
    assert not (tmp_path / "out").exists()


def test_a_run_prints_one_progress_line_per_stage_unless_quiet(spark, lake, tmp_path, capfd):
    from perfmon_spark.cli import main

    config = tmp_path / "monitor.yml"
    config.write_text(
        yaml.safe_dump(
            config_dict(*(str(lake["root"] / t) for t in ("predictions", "labels")), str(lake["root"] / "monitoring"))
        )
    )
    assert main(["run", "--config", str(config), "--as-of", AS_OF.isoformat()]) == 0
    err = capfd.readouterr().err.splitlines()
    lines = [line for line in err if not line.startswith("warning: ")]  # warnings: test_never_silent
    stages = [s.value for s in Stage if s is not Stage.ALERTS]  # the test monitor has no alert rules
    assert [line.split()[1] for line in lines] == stages, lines
    assert all(line.startswith("perfmon: ") and " s  " in line for line in lines)
    assert "predictions and" in lines[stages.index(Stage.STATES)]
    assert main(["run", "--config", str(config), "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    quiet = capfd.readouterr().err.splitlines()  # warnings are never quiet
    assert all(line.startswith("warning: [fraud] ") for line in quiet), quiet


def test_version_comparison_weighs_each_country_by_the_champions_predictions(spark, lake):
    """v2 against v1 in every window both have, from perf_metrics: the difference is the champion's
    country mix applied to the per-country differences (numpy, from the perf_metrics rows), and the
    row's interval and verdict are ``metrics.comparison``'s (unit-tested against numpy)."""
    cfg = lake["cfg"]
    metrics = read_table(spark, cfg, "perf_metrics")
    found = read_table(spark, cfg, "version_comparison")
    both = metrics[metrics["model_version"].isin(["v1", "v2"]) & (metrics["slice_key"] == "*")]
    windows = both.groupby(["metric", "window", "window_start"])["model_version"].nunique()
    compared = windows[(windows == 2) & windows.index.get_level_values("metric").isin(["roc_auc", "accuracy"])]
    compared = compared[compared.index.get_level_values("window").isin(["1 day", "3 days"])]
    assert len(found) == len(compared) > 0
    assert set(found["verdict"]) <= {"BETTER", "WORSE", "NOT_WORSE", "INCONCLUSIVE"}
    countries = (
        metrics[metrics["slice_key"] == "country"]
        .set_index(["model_version", "metric", "window", "window_start", "slice_value"])
        .sort_index()
    )
    for r in found.itertuples():
        at = (r.metric, r.window, r.window_start)
        champion, challenger = countries.loc[("v1", *at)], countries.loc[("v2", *at)]
        common = champion.index.intersection(challenger.index)
        usable = common[champion.loc[common, "value"].notna() & challenger.loc[common, "value"].notna()]
        if len(usable) == 0:
            assert np.isnan(r.difference) and r.verdict == "INCONCLUSIVE"
            continue
        w = champion.loc[usable, "n_predictions"] / champion.loc[usable, "n_predictions"].sum()
        expected = float((w * (challenger.loc[usable, "value"] - champion.loc[usable, "value"])).sum())
        assert r.difference == pytest.approx(expected, abs=1e-12)
        assert r.ci_lower <= r.difference <= r.ci_upper
        overall = both.set_index(["model_version", "metric", "window", "window_start"])["value"]
        assert r.unadjusted_difference == pytest.approx(overall.loc[("v2", *at)] - overall.loc[("v1", *at)])
