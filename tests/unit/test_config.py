"""Config parsing and validation (SPEC §2), without Spark."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from perfmon_spark.config import MonitorConfig, load_config, parse_config, parse_duration
from perfmon_spark.errors import ConfigError
from perfmon_spark.vocabulary import ProblemType
from tests.helpers import BASE, with_changes
from tests.helpers import DELETE as _DELETE


def error_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_minimal_config_gets_the_documented_defaults():
    cfg = parse_config(BASE)
    assert cfg.predictions.threshold == 0.5
    assert cfg.labels.max_delay.text == "30 days"
    assert cfg.labels.positive == 1
    assert [w.text for w in cfg.window_lengths] == ["1 day", "7 days", "28 days"]
    assert cfg.confidence_level == 0.95
    assert cfg.auc.mode == "sketch"
    assert cfg.segments.max_values == 100
    assert cfg.output.table("perf_metrics").text == str(Path.cwd() / "lake" / "monitoring" / "perf_metrics")
    assert cfg.labels.negative == ("0",)
    assert not cfg.strict and cfg.labels.warn_ignored_share == 0.02
    assert not cfg.predictions.timestamp_is_date and not cfg.labels.timestamp_is_date


def test_strictness_the_late_label_share_and_date_timestamps_are_read():
    cfg = parse_config(
        with_changes(
            strict=True,
            labels__warn_ignored_share=0,
            predictions__timestamp_is_date=True,
            labels__timestamp_is_date=True,
        )
    )
    assert cfg.strict and cfg.labels.warn_ignored_share == 0
    assert cfg.predictions.timestamp_is_date and cfg.labels.timestamp_is_date


def test_catalog_output_location_and_prefix():
    cfg = parse_config(with_changes(output={"location": "main.ml", "prefix": "fraud_"}))
    ref = cfg.output.table("perf_metrics")
    assert ref.text == "main.ml.fraud_perf_metrics" and not ref.is_path


def test_spec_example_message_for_unknown_metric():
    message = error_of(with_changes(metrics=["accuracy", "precision", "auc"]))
    assert message.startswith("config error: metrics[2]: unknown metric 'auc'; known for binary: accuracy, precision")


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"colour": "blue"}, "colour: unknown key 'colour'; known keys: version, name, problem_type"),
        ({"predictions__scor": "s"}, "predictions.scor: unknown key 'scor'"),
        ({"version": "1"}, "version: expected int, got str '1'"),
        ({"predictions__threshold": "high"}, "predictions.threshold: expected int or float, got str 'high'"),
        (
            {"problem_type": "clustering"},
            "problem_type: unknown value 'clustering'; allowed: binary, multiclass, regression",
        ),
        ({"labels__max_delay": "3 fortnights"}, "labels.max_delay: invalid duration '3 fortnights'"),
        (
            {"windows": {"granularity": "2 days"}},
            "windows.granularity: unsupported '2 days'; allowed: 1 hour, 1 day, 1 week",
        ),
        (
            {"windows": {"granularity": "1 week", "rolling": ["10 days"]}},
            "windows.rolling[0]: '10 days' must be a multiple",
        ),
        (
            {"windows": {"rolling": ["7 days", "1 week"]}},
            "windows.rolling[1]: duplicate window '1 week' (same as '7 days')",
        ),
        ({"metrics": ["accuracy", "accuracy"]}, "metrics: duplicate metric 'accuracy'"),
        ({"metrics": ["rmse"]}, "metrics[0]: unknown metric 'rmse'; known for binary"),
        ({"labels__id": _DELETE}, "labels.id: required key is missing"),
        ({"output": _DELETE}, "output: required key is missing"),
        ({"predictions__score": _DELETE}, "predictions.score: required for problem_type binary"),
        (
            {"predictions__score_type": "logit", "metrics": ["log_loss"]},
            "metrics[0]: 'log_loss' needs probability scores",
        ),
        ({"segments": {"columns": ["a", "a"]}}, "segments.columns: duplicate entries"),
        ({"segments": {"cross": [["a"]]}}, "segments.cross[0]: expected a list of 2 or more column names"),
        ({"confidence_level": 1.5}, "confidence_level: 1.5 must be in [0.5, 1)"),
        ({"ranking": {}}, "ranking: applies to problem_type ranking only, not binary"),
        ({"name": "bad name!"}, "name: 'bad name!' may contain only"),
        ({"auc": {"mode": "approx"}}, "auc.mode: unknown value 'approx'; allowed: sketch, exact"),
        ({"predictions": "table"}, "predictions: expected dict, got str"),
        ({"strict": "yes"}, "strict: expected bool, got str 'yes'"),
        ({"labels__warn_ignored_share": 1.5}, "labels.warn_ignored_share: 1.5 must be in [0, 1]"),
        ({"labels__timestamp_is_date": "true"}, "labels.timestamp_is_date: expected bool, got str 'true'"),
    ],
)
def test_bad_configs_name_the_key_and_what_is_allowed(changes, expected):
    message = error_of(with_changes(**changes))
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"metrcs": ["roc_auc"]}, "metrcs: unknown key 'metrcs'; did you mean 'metrics'? known keys: version, name"),
        (
            {"labels__max_dealy": "3 days"},
            "labels.max_dealy: unknown key 'max_dealy'; did you mean 'max_delay'? known keys: table, id",
        ),
    ],
)
def test_a_misspelt_key_gets_the_closest_known_key(changes, expected):
    assert expected in error_of(with_changes(**changes))


def test_an_unknown_key_close_to_no_known_key_gets_no_suggestion():
    message = error_of(with_changes(colour="blue"))
    assert "colour: unknown key 'colour'; known keys: version, name" in message and "did you mean" not in message


def test_cross_segments_alias():
    cfg = parse_config(
        with_changes(segments={"columns": ["country", "channel"]}, cross_segments=[["country", "channel"]])
    )
    assert cfg.slice_keys == (("country",), ("channel",), ("country", "channel"))


def test_durations_are_canonical():
    assert parse_duration("1 weeks", "x").text == "1 week"
    assert parse_duration("14 day", "x").text == "14 days"
    assert parse_duration("90 minutes", "x").seconds == 5400
    with pytest.raises(ConfigError, match="must be positive"):
        parse_duration("0 days", "x")


def test_files(tmp_path):
    good = tmp_path / "ok.yml"
    good.write_text(yaml.safe_dump(BASE))
    assert load_config(good).name == "fraud_scoring"
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nname: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(bad)
    listing = tmp_path / "list.yml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="config: expected a mapping, got list"):
        load_config(listing)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yml")


def test_config_is_frozen():
    cfg = parse_config(BASE)
    with pytest.raises(AttributeError):
        cfg.name = "other"  # type: ignore[misc]


MULTICLASS = dict(
    BASE,
    problem_type="multiclass",
    predictions=dict(BASE["predictions"], prediction="predicted_class"),
    metrics=["accuracy", "recall[fraud]", "macro_f1"],
)
REGRESSION = dict(BASE, problem_type="regression", metrics=["rmse", "r2"])


def test_multiclass_and_regression_configs():
    assert parse_config(MULTICLASS).metrics == ("accuracy", "recall[fraud]", "macro_f1")
    assert "needs predictions.probabilities" in error_of(dict(MULTICLASS, metrics=["log_loss"]))
    no_pred = dict(MULTICLASS, predictions=BASE["predictions"])
    assert "predictions.prediction: required for problem_type multiclass" in error_of(no_pred)
    assert "unknown metric 'recall'" in error_of(dict(MULTICLASS, metrics=["recall"]))
    assert parse_config(REGRESSION).problem_type == "regression"
    assert "unknown metric 'roc_auc'; known for regression: mse, rmse, mae" in error_of(
        dict(REGRESSION, metrics=["roc_auc"])
    )
    with_threshold = dict(REGRESSION, predictions=dict(BASE["predictions"], threshold=0.3))
    assert "predictions.threshold: applies to binary only" in error_of(with_threshold)


def test_entity_horizon_join_config():
    labels = {
        "table": "./events",
        "label": "churned",
        "timestamp": "event_ts",
        "join": {"mode": "entity_horizon", "entity": "customer_id", "horizon": "30 days"},
    }
    cfg = parse_config(dict(BASE, labels=labels))
    assert cfg.labels.id is None and cfg.labels.join.entity == "customer_id"
    assert cfg.labels.max_delay.text == "30 days"  # the horizon sets maturity
    assert "labels.join.horizon: required key is missing" in error_of(
        dict(BASE, labels=dict(labels, join={"mode": "entity_horizon", "entity": "c"}))
    )
    assert "labels.max_delay: not used with join mode entity_horizon" in error_of(
        dict(BASE, labels=dict(labels, max_delay="5 days"))
    )
    assert "labels.join: entity and horizon apply to mode entity_horizon only" in error_of(
        dict(BASE, labels=dict(BASE["labels"], join={"mode": "prediction_id", "entity": "c"}))
    )


ALERT = {"name": "auc_drop", "metric": "roc_auc", "window": "7 days", "sustained": {"ratio": 0.9, "consecutive": 3}}


PSI_ALERT = {"name": "shift", "metric": "score_psi", "window": "7 days", "minor": {"max": 0.1}}


def test_a_proxy_rule_takes_absolute_levels_and_needs_no_baseline_value():
    cfg = parse_config(
        with_alerts(
            {**PSI_ALERT, "confidence": None},
            metrics=["roc_auc", "score_psi"],
            baseline={"source": "values", "values": {"roc_auc": 0.8}},
        )
    )
    (rule,) = cfg.alerts
    assert rule.absolute == "max" and [(lv.level, lv.limit) for lv in rule.levels] == [("MINOR", 0.1)]
    assert not cfg.needs_labels("score_psi") and cfg.needs_labels("roc_auc")


def with_alerts(*rules, **top):
    data = with_changes()
    data["alerts"] = list(rules)
    data.update(top)
    return data


def test_alert_rules_parse_with_their_defaults():
    cfg = parse_config(
        with_alerts(
            ALERT,
            {
                **ALERT,
                "name": "acc",
                "metric": "accuracy",
                "minor": {"ratio": 0.95},
                "sustained": {"ratio": 0.9, "of": 3, "within": 5},
                "confidence": None,
                "maturity": {"min_coverage": 0.8},
                "slices": "overall",
            },
        )
    )
    auc, acc = cfg.alerts
    assert [(lv.level, lv.of, lv.within) for lv in auc.levels] == [("SUSTAINED", 3, 3)]
    assert (auc.min_labeled, auc.confidence, auc.maturity.mode, auc.resolve_after, auc.slices) == (
        200,
        0.95,
        "mature",
        3,
        "all",
    )
    assert [(lv.level, lv.of, lv.within) for lv in acc.levels] == [("MINOR", 1, 1), ("SUSTAINED", 3, 5)]
    assert acc.confidence is None and acc.maturity.min_coverage == 0.8 and acc.slices == "overall"
    assert cfg.baseline.source == "window" and cfg.baseline.window.text == "14 days"
    assert cfg.retrain.triggers == ("sustained", "critical") and cfg.decides


@pytest.mark.parametrize(
    "data, message",
    [
        (with_alerts({**ALERT, "metric": "log_loss"}), "alerts[0].metric: 'log_loss' is not computed"),
        (with_alerts({**ALERT, "window": "14 days"}), "alerts[0].window: '14 days' is not computed"),
        (with_alerts({**ALERT, "sustained": {"ratio": 1.2}}), "alerts[0].sustained.ratio: 1.2 must be in (0, 1)"),
        (
            with_alerts({**ALERT, "sustained": {"ratio": 0.9, "consecutive": 0}}),
            "alerts[0].sustained: need 1 <= of <= within",
        ),
        (
            with_alerts({**ALERT, "sustained": {"ratio": 0.9, "consecutive": 2, "of": 2}}),
            "give either consecutive or of/within",
        ),
        (
            with_alerts({**ALERT, "sustained": {"ratio": 0.9, "of": 2, "within": None}}),
            "alerts[0].sustained.within: must be a whole number of windows, not null",
        ),
        (with_alerts({k: v for k, v in ALERT.items() if k != "sustained"}), "alerts[0]: give at least one level"),
        (with_alerts(ALERT, ALERT), "alerts: duplicate rule name 'auc_drop'"),
        (with_alerts({**ALERT, "slices": ["region"]}), "alerts[0].slices[0]: 'region' is not a configured segment"),
        (with_alerts({**ALERT, "maturity": "ripe"}), "alerts[0].maturity: unknown value 'ripe'"),
        (with_alerts({**ALERT, "extra": 1}), "alerts[0].extra: unknown key 'extra'"),
        (
            with_alerts({**ALERT, "metric": "score_mean"}, metrics=["roc_auc", "score_mean"]),
            "alerts[0].metric: 'score_mean' has no better direction: give its levels as max or min, not ratio",
        ),
        (
            with_alerts(PSI_ALERT, metrics=["roc_auc", "score_psi"]),
            "alerts[0].confidence: 'score_psi' has no confidence interval; set confidence: null",
        ),
        (
            with_alerts({**ALERT, "sustained": {"max": 0.2}, "minor": {"ratio": 0.9}}),
            "alerts[0]: levels mix max and ratio",
        ),
        (
            with_alerts(ALERT, baseline={"source": "values", "values": {"accuracy": 0.9}}),
            "alerts[0].metric: no baseline for 'roc_auc' in baseline.values",
        ),
        (with_alerts(ALERT, baseline={"source": "table"}), "baseline.table: required with source: table"),
        (
            with_alerts(ALERT, baseline={"window": "36 hours"}),
            "baseline.window: '36 hours' must be a multiple of the granularity",
        ),
        (
            with_alerts(ALERT, estimation={"backtest_period": "36 hours"}),
            "estimation.backtest_period: '36 hours' must be a multiple of the granularity",
        ),
        (with_alerts(ALERT, estimation={"max_calibration_error": 0.05}), "estimation.max_calibration_error"),
        (
            with_alerts(ALERT, notifications=[{"type": "email", "url_env": "X"}]),
            "notifications[0].type: unknown value 'email'",
        ),
        (
            with_alerts(ALERT, notifications=[{"type": "slack", "url_env": "X", "levels": ["HIGH"]}]),
            "notifications[0].levels[0]: unknown level 'HIGH'",
        ),
        (with_alerts(ALERT, retrain={"triggers": ["kpi"]}), "retrain.triggers[0]: 'kpi' needs a KPI with a max or min"),
        (with_alerts(ALERT, retrain={"triggers": ["always"]}), "retrain.triggers[0]: unknown trigger 'always'"),
        (
            with_alerts(ALERT, kpis=[{"name": "accuracy", "numerator": "1", "denominator": "1"}]),
            "kpis[0].name: 'accuracy' is a metric name",
        ),
        (
            with_alerts(ALERT, kpis=[{"name": "Loss", "numerator": "1", "denominator": "1"}]),
            "kpis[0].name: 'Loss' must be lower case",
        ),
    ],
)
def test_bad_alerting_configs_name_the_key(data, message):
    assert message in error_of(data)


def test_kpis_can_carry_alert_rules_and_durations_take_seconds():
    kpi = {"name": "loss_rate", "numerator": "amount * label", "denominator": "amount", "max": 0.02}
    cfg = parse_config(
        with_alerts(
            {"name": "loss", "metric": "loss_rate", "critical": {"ratio": 0.5}},
            kpis=[kpi],
            notifications=[{"type": "webhook", "url_env": "HOOK", "timeout": "30 seconds"}],
        )
    )
    assert cfg.metric_names[-1] == "loss_rate" and cfg.larger_is_better("loss_rate") is False
    assert cfg.notifications[0].timeout_seconds == 30 and cfg.notifications[0].levels == ("SUSTAINED", "CRITICAL")


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "m.yml").write_text(yaml.safe_dump(with_changes(baseline={"source": "table", "table": "../ref/b"})))
    cfg = load_config(folder / "m.yml")
    monkeypatch.chdir(folder)  # loaded from another working folder: the same tables, no full recompute
    assert load_config("m.yml").source_hash == cfg.source_hash
    assert cfg.predictions.table.text == str(folder / "lake" / "predictions")
    assert cfg.labels.table.text == str(folder / "lake" / "labels")
    assert cfg.baseline.table.text == str(tmp_path / "ref" / "b")
    assert cfg.output.table("runs").text == str(folder / "lake" / "monitoring" / "runs")
    absolute = with_changes(
        predictions__table=str(folder / "lake" / "predictions"),
        labels__table=str(folder / "lake/./labels"),
        output={"location": str(folder / "lake" / "monitoring") + "/"},
        baseline={"source": "table", "table": str(tmp_path / "ref" / "b")},
    )
    (folder / "abs.yml").write_text(yaml.safe_dump(absolute))
    # the same tables written absolutely are the same config: no full recompute on the switch
    assert load_config(folder / "abs.yml").source_hash == cfg.source_hash


def test_the_session_settings_do_not_change_the_config_hash_and_a_metric_setting_does():
    cfg = parse_config(with_changes())
    tuned = parse_config(with_changes(spark={"master": "local[4]", "conf": {"spark.driver.memory": "8g"}}))
    assert tuned.spark.conf != cfg.spark.conf and tuned.source_hash == cfg.source_hash
    assert parse_config(with_changes(labels__max_delay="3 days")).source_hash != cfg.source_hash


def test_strictness_and_the_warning_share_do_not_change_the_config_hash_and_date_timestamps_do():
    """strict and labels.warn_ignored_share change no stored value; reading dates changes every bucket."""
    cfg = parse_config(with_changes())
    assert parse_config(with_changes(strict=True, labels__warn_ignored_share=0.5)).source_hash == cfg.source_hash
    assert parse_config(with_changes(predictions__timestamp_is_date=True)).source_hash != cfg.source_hash
    assert parse_config(with_changes(labels__timestamp_is_date=True)).source_hash != cfg.source_hash


@pytest.mark.parametrize(
    "ref", ["s3://bucket/preds", "dbfs:/mnt/preds", "abfss://c@acct.dfs.core.windows.net/p", "main.ml.preds", "/abs/p"]
)
def test_uris_catalog_names_and_absolute_paths_are_kept(tmp_path, ref):
    assert parse_config(with_changes(predictions__table=ref), base_dir=tmp_path).predictions.table.text == ref


@pytest.mark.parametrize(
    ("positive", "negative"), [(1, "0"), (True, "false"), ("yes", "no"), ("Y", "n"), ("1", "0"), (0, "1")]
)
def test_the_negative_class_goes_without_saying_for_usual_positives(positive, negative):
    assert parse_config(with_changes(labels__positive=positive)).labels.negative == (negative,)


def test_other_positives_need_their_negatives_named():
    assert "labels.negative: required when labels.positive is 'churned'" in error_of(
        with_changes(labels__positive="churned")
    )
    cfg = parse_config(with_changes(labels__positive="churned", labels__negative=["stayed", "renewed"]))
    assert cfg.labels.negative == ("stayed", "renewed")
    assert "labels.negative" in error_of(with_changes(labels__positive="churned", labels__negative=["churned"]))
    assert "labels.negative[0]" in error_of(with_changes(labels__negative=[1.5]))


def test_a_version_is_inactive_after_the_longest_window_unless_configured():
    assert parse_config(BASE).inactive_after.text == "28 days"
    assert parse_config(with_changes(retrain={"inactive_after": "90 days"})).inactive_after.text == "90 days"
    assert "retrain.inactive_after" in error_of(with_changes(retrain={"inactive_after": "soon"}))


RANKING = dict(
    BASE,
    problem_type="ranking",
    predictions={"table": "p", "request": "req", "item": "item", "timestamp": "ts", "model_version": "v", "score": "s"},
    labels={"table": "l", "request": "req", "item": "item", "label": "clicks", "timestamp": "ts"},
    metrics=["ndcg@10", "mrr", "list_length_mean"],
)


def test_a_ranking_config_names_request_item_and_its_cut_offs():
    cfg = parse_config(RANKING)
    assert cfg.ranking.k == (5, 10) and cfg.ranking.no_relevant == "skip"
    assert cfg.predictions.id is None and cfg.labels.request == "req"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metrics": ["ndcg@7"]}, "metrics[0]: 'ndcg@7': k = 7 is not in ranking.k [5, 10]"),
        ({"metrics": ["ndcg"]}, "metrics[0]: unknown metric 'ndcg'; known for ranking: ndcg@k, precision@k"),
        ({"ranking": {"k": [0]}}, "ranking.k[0]"),
        ({"ranking": {"no_relevant": "drop"}}, "ranking.no_relevant: unknown value 'drop'"),
        (
            {"predictions": {"table": "p", "request": "r", "item": "i", "timestamp": "t", "model_version": "v"}},
            "predictions.score: required for problem_type ranking unless predictions.rank is given",
        ),
        (
            {"predictions": {"table": "p", "item": "i", "timestamp": "t", "model_version": "v", "rank": "k"}},
            "predictions.request: required for problem_type ranking",
        ),
        (
            {"labels": {"table": "l", "id": "x", "request": "r", "item": "i", "label": "c", "timestamp": "t"}},
            "labels.id: not used with problem_type ranking",
        ),
        (
            {"kpis": [{"name": "k", "numerator": "label", "denominator": "1"}]},
            "kpis: not supported with problem_type ranking",
        ),
    ],
)
def test_bad_ranking_configs_name_the_key(change, message):
    assert message in error_of(dict(RANKING, **change))


def test_ranking_keys_and_proxies_of_other_problem_types_are_refused():
    assert "ranking: applies to problem_type ranking only, not binary" in error_of(dict(BASE, ranking={"k": [5]}))
    assert "unknown metric 'score_psi'; known for multiclass" in error_of(
        dict(
            BASE,
            problem_type="multiclass",
            predictions=dict(BASE["predictions"], prediction="c"),
            metrics=["score_psi"],
        )
    )


# A valid config of each problem type: each is validated as its own class
CONFIG_OF = {
    ProblemType.BINARY: BASE,
    ProblemType.MULTICLASS: MULTICLASS,
    ProblemType.REGRESSION: REGRESSION,
    ProblemType.RANKING: RANKING,
}


@pytest.mark.parametrize("kind", ProblemType)
def test_each_problem_type_is_a_config_class_that_pickles_and_copies(kind):
    """Configs travel to Spark executors pickled, and validators and callers copy them."""
    cfg = parse_config(CONFIG_OF[kind])
    assert isinstance(cfg, MonitorConfig) and type(cfg) is not MonitorConfig and cfg.problem_type == kind
    assert cfg.cut_offs == ((5, 10) if kind == ProblemType.RANKING else ())
    for copy in (pickle.loads(pickle.dumps(cfg)), cfg.model_copy(update={"strict": True})):
        assert type(copy) is type(cfg) and copy.metrics == cfg.metrics
        assert copy.source_hash == cfg.source_hash and copy.section_hashes == cfg.section_hashes
    assert pickle.loads(pickle.dumps(cfg)) == cfg


@pytest.mark.parametrize("kind", [kind for kind in ProblemType if kind != ProblemType.RANKING])
def test_the_ranking_section_is_refused_in_a_config_of_another_type(kind):
    message = f"config error: ranking: applies to problem_type ranking only, not {kind}"
    assert error_of(dict(CONFIG_OF[kind], ranking={"k": [5]})) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({k: v for k, v in BASE.items() if k != "problem_type"}, "problem_type: required key is missing"),
        (
            dict(BASE, problem_type=None),
            "problem_type: unknown value None; allowed: binary, multiclass, regression, ranking",
        ),
        (dict(BASE, problem_type=["binary"]), "problem_type: unknown value ['binary']; allowed: binary, multiclass"),
        (with_changes(output=_DELETE), "output: required key is missing"),
        (dict(RANKING, ranking={"k": [0]}), "ranking.k[0]: 0 must be >= 1"),
        (dict(RANKING, colour=1), "colour: unknown key 'colour'; known keys: version, name, problem_type, predictions"),
    ],
)
def test_errors_name_the_key_path_without_the_problem_type_pydantic_prefixes(data, message):
    assert error_of(data).startswith(f"config error: {message}")
