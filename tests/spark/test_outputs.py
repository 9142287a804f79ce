"""Where a run writes is checked before it computes anything (``Lake.check``): a schema that does
not exist, a file in the way of the output folder, or an output column of another type stops the
run in its validate stage with one line and exit 3, and nothing is written; ``validate
--check-tables`` says the same. A monitor's tables in a schema of the session catalog are read
and written by their back-quoted names (``io.quoting.table_name``; the local session catalog
refuses a hyphen in a schema name, which Unity Catalog takes back-quoted: the unit tests check
the quoting itself)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.errors import InputError
from perfmon_spark.io.catalog import PERF_METRICS, RUNS
from perfmon_spark.job import check_tables, run_monitor
from perfmon_spark.vocabulary import Stage
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, make_inputs, write_delta

AS_OF = T0 + timedelta(days=4)


@pytest.fixture(scope="module")
def inputs(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    preds, labels = make_inputs(n=200, days=3, seed=21)
    return (
        write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions"),
        write_delta(spark, labels, LABELS_DDL, root / "labels"),
    )


def config(inputs, location: str):
    p, lab = inputs
    data = config_dict(
        p, lab, location, metrics=["accuracy"], segments={}, windows={"granularity": "1 day", "rolling": []}
    )
    return parse_config(data)


def stages_logged(caplog) -> list[str]:
    return [r.getMessage().split()[0] for r in caplog.records if r.name == "perfmon_spark.progress"]


def test_a_bad_output_location_or_column_stops_the_run_before_it_computes(spark, inputs, tmp_path, caplog):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder would go")
    typed = tmp_path / "typed"  # a perf_metrics whose model_version is an int: no run can write it
    spark.createDataFrame([("fraud", 1, 0.5)], "monitor string, model_version int, value double").write.format(
        "delta"
    ).save(str(typed / PERF_METRICS.name))
    cases = [
        (
            "no_such_schema",
            r"^input error: output\.location: schema 'no_such_schema' does not exist; "
            r"create it \(CREATE SCHEMA `no_such_schema`\) or name an existing schema, or a folder$",
        ),
        (
            str(blocker / "monitoring"),
            rf"^input error: output\.location: '{re.escape(str(blocker))}' is a file, not a folder; ",
        ),
        (
            str(typed),
            rf"^input error: output tables under '{re.escape(str(typed))}': perf_metrics\.model_version is int, "
            "not string; a run cannot write these columns: fix their type, or move the table away",
        ),
    ]
    caplog.set_level(logging.INFO, logger="perfmon_spark.progress")
    for location, message in cases:
        cfg = config(inputs, location)
        caplog.clear()
        with pytest.raises(InputError) as stopped:
            run_monitor(cfg, AS_OF, spark=spark)
        assert re.match(message, str(stopped.value)) and stopped.value.exit_code == 3, str(stopped.value)
        assert "\n" not in str(stopped.value)
        assert stages_logged(caplog) == [Stage.READ.value]  # stopped in validate: no scan, no write
        with pytest.raises(InputError, match=re.escape(str(stopped.value))):
            check_tables(cfg, AS_OF, spark)
    assert not spark.catalog.databaseExists("no_such_schema")
    assert blocker.read_text() == "a file where the output folder would go"
    assert sorted(p.name for p in typed.iterdir()) == [PERF_METRICS.name]  # no runs row, no other table


def test_a_schema_holds_the_monitors_tables_by_their_quoted_names(spark, inputs, tmp_path):
    spark.sql(f"CREATE SCHEMA `ml_prod` LOCATION '{tmp_path / 'ml_prod'}'")
    try:
        cfg = config(inputs, "ml_prod")
        assert check_tables(cfg, AS_OF, spark)[-2:] == [
            "output location: schema ml_prod",
            "output tables: none yet (the first run creates them)",
        ]
        result = run_monitor(cfg, AS_OF, spark=spark)
        again = run_monitor(cfg, AS_OF, spark=spark)  # reads back what the first wrote, by name
        assert result.status == again.status == "SUCCEEDED" and again.metric_rows_written == 0
        runs = spark.table(f"`ml_prod`.{RUNS.name}").select("run_id").toPandas()
        assert sorted(runs["run_id"]) == sorted([result.run_id, again.run_id])
        assert spark.table(f"`ml_prod`.{PERF_METRICS.name}").count() > 0
        lines = check_tables(cfg, AS_OF, spark)
        assert lines[-2] == "output location: schema ml_prod"
        assert lines[-1].startswith("output tables: ") and lines[-1].endswith(", with the catalogue's column types")
        assert f"{PERF_METRICS.name}," in lines[-1] and RUNS.name in lines[-1]
    finally:
        spark.sql("DROP SCHEMA `ml_prod` CASCADE")
