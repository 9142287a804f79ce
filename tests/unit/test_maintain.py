"""``perfmon maintain`` without Spark: the retention and its least value, the statements and table
names, the lines printed (tests/spark/test_maintain.py runs them on a lake)."""

from __future__ import annotations

import pytest
import yaml

import perfmon_spark.maintain
import perfmon_spark.session
from perfmon_spark.cli import main
from perfmon_spark.config import Duration, TableRef, parse_config
from perfmon_spark.errors import ConfigError
from perfmon_spark.io.catalog import OUTPUT_TABLES
from perfmon_spark.io.quoting import sql_table
from perfmon_spark.maintain import (
    TableMaintenance,
    expected_files,
    interval_hours,
    optimize_kind,
    report,
    retention_hours,
    retention_sql,
    vacuum_sql,
)
from tests.helpers import with_changes

DELTA_INDEXED_COLUMNS = 32  # delta.dataSkippingNumIndexedCols: the columns Delta keeps min/max of


@pytest.mark.parametrize(
    "retention, hours", [("7 days", 168), ("1 week", 168), ("168 hours", 168), ("30 days", 720), ("10081 minutes", 169)]
)
def test_a_retention_of_a_week_or_more_is_kept_in_whole_hours_rounded_up(retention, hours):
    cfg = parse_config(with_changes(output__retention=retention))
    assert retention_hours(cfg.output.retention) == hours


def test_the_retention_defaults_to_a_week():
    assert parse_config(with_changes()).output.retention == Duration.parse("7 days")


@pytest.mark.parametrize("retention", ["6 days", "167 hours", "1 day", "10079 minutes"])
def test_a_retention_shorter_than_a_week_is_a_config_error_naming_the_key(retention):
    with pytest.raises(ConfigError) as info:
        parse_config(with_changes(output__retention=retention))
    assert str(info.value).startswith(f"config error: output.retention: {retention!r} is shorter than 7 days")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_the_retention_does_not_change_the_config_hash():
    """Keeping removed files longer changes no stored value: no full recompute."""
    cfg = parse_config(with_changes())
    assert parse_config(with_changes(output__retention="30 days")).source_hash == cfg.source_hash
    assert parse_config(with_changes(output__prefix="x_")).source_hash != cfg.source_hash


@pytest.mark.parametrize(
    "ref, sql",
    [
        ("/lake/out/perf_metrics", "delta.`/lake/out/perf_metrics`"),
        ("s3://bucket/we`ird/runs", "delta.`s3://bucket/we``ird/runs`"),
        ("main.ml.perf_metrics", "`main`.`ml`.`perf_metrics`"),
        ("ml.x_runs", "`ml`.`x_runs`"),
        ("`main`.`my-schema`.runs", "`main`.`my-schema`.runs"),  # quoted by its author: as written
    ],
)
def test_tables_are_named_in_sql_with_back_quotes(ref, sql):
    assert sql_table(TableRef(ref)) == sql


def test_vacuum_names_the_table_and_the_retention_in_hours():
    ref = TableRef("/lake/out/runs")
    assert vacuum_sql(ref, 168) == "VACUUM delta.`/lake/out/runs` RETAIN 168 HOURS"
    assert vacuum_sql(ref, 720, dry_run=True) == "VACUUM delta.`/lake/out/runs` RETAIN 720 HOURS DRY RUN"
    assert retention_sql(TableRef("main.ml.runs"), 336) == (
        "ALTER TABLE `main`.`ml`.`runs` SET TBLPROPERTIES ('delta.deletedFileRetentionDuration' = 'interval 336 hours')"
    )


@pytest.mark.parametrize(
    "text, hours",
    [
        ("interval 1 week", 168),
        ("interval 1 weeks", 168),
        ("interval 30 days", 720),
        ("INTERVAL 336 HOURS", 336),
        ("interval 7 days 30 minutes", 169),  # rounded up: never keeps less than the table asks
        ("2 days", 48),
        ("interval 1 month", None),  # Delta refuses months here: not read, so not touched
        ("interval 7 dayz", None),
        ("interval", None),
        ("", None),
    ],
)
def test_a_tables_retention_property_is_read_in_whole_hours(text, hours):
    assert interval_hours(text) == hours


@pytest.mark.parametrize("table", OUTPUT_TABLES, ids=lambda t: t.name)
def test_a_table_laid_out_on_time_is_z_ordered_on_that_column_and_the_others_compacted(table):
    if table.clustered_by is None:
        assert optimize_kind(table) == "compaction"
    else:
        assert optimize_kind(table) == f"ZORDER BY ({table.clustered_by})"
        # Delta Z-orders only on columns it keeps statistics of, and the MERGEs skip files by them
        assert table.names.index(table.clustered_by) < DELTA_INDEXED_COLUMNS


def test_the_time_ordered_tables_are_those_runs_bound_in_time():
    clustered = {t.name: t.clustered_by for t in OUTPUT_TABLES if t.clustered_by}
    assert clustered["perf_metrics"] == "window_end" and clustered["perf_stats"] == "bucket_start"


@pytest.mark.parametrize(
    "size, target, files", [(0, 100, 1), (99, 100, 1), (100, 100, 1), (101, 100, 2), (950, 100, 10)]
)
def test_optimize_leaves_about_one_file_per_target_size(size, target, files):
    assert expected_files(size, target) == files


def maintained(**changes) -> TableMaintenance:
    fields = {
        "table": "perf_metrics",
        "files_before": 12,
        "bytes_before": 48_213,
        "optimize": "ZORDER BY (window_end)",
        "files_after": 1,
        "bytes_after": 40_100,
        "retention_hours": 168,
        "vacuum_files": 7,
        "vacuum_bytes": 30_500,
        "dry_run": False,
    }
    return TableMaintenance(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes, line",
    [
        (
            {},
            "perf_metrics: OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> 1 file (40.1 kB); "
            "VACUUM RETAIN 168 HOURS: 7 files (30.5 kB) deleted",
        ),
        (
            {"optimize": None, "files_before": 1, "bytes_before": 950, "files_after": 1, "vacuum_files": 0},
            "perf_metrics: OPTIMIZE not needed: 1 file (950 B); VACUUM RETAIN 168 HOURS: 0 files (30.5 kB) deleted",
        ),
        (
            {"vacuum_files": None, "vacuum_bytes": None},
            "perf_metrics: OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> 1 file (40.1 kB); "
            "VACUUM RETAIN 168 HOURS: done (this storage does not log how many files VACUUM deleted)",
        ),
        (
            {"dry_run": True, "bytes_after": None, "vacuum_bytes": None, "retention_hours": 720},
            "perf_metrics: would OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> about 1 file; "
            "would VACUUM RETAIN 720 HOURS: 7 files to delete",
        ),
        (
            {"dry_run": True, "optimize": None, "files_before": 1, "files_after": 1, "bytes_after": None},
            "perf_metrics: OPTIMIZE not needed: 1 file (48.2 kB); would VACUUM RETAIN 168 HOURS: 7 files to delete",
        ),
        (
            {"retention_before": 168, "retention_hours": 336},
            "perf_metrics: OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> 1 file (40.1 kB); "
            "retention raised from 168 to 336 hours; VACUUM RETAIN 336 HOURS: 7 files (30.5 kB) deleted",
        ),
        (
            {"retention_before": 168, "retention_hours": 336, "dry_run": True, "vacuum_bytes": None},
            "perf_metrics: would OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> about 1 file; "
            "would raise retention from 168 to 336 hours; would VACUUM RETAIN 336 HOURS: 7 files to delete",
        ),
        (
            {"retention_before": 720, "retention_hours": 720},  # the table's own, longer: kept, not said
            "perf_metrics: OPTIMIZE ZORDER BY (window_end): 12 files (48.2 kB) -> 1 file (40.1 kB); "
            "VACUUM RETAIN 720 HOURS: 7 files (30.5 kB) deleted",
        ),
    ],
    ids=[
        "done",
        "compact-already",
        "vacuum-not-logged",
        "dry-run",
        "dry-run-compact-already",
        "retention-raised",
        "dry-run-retention-raised",
        "table-keeps-longer",
    ],
)
def test_each_table_is_one_line_with_its_files_before_and_after_and_what_vacuum_deleted(changes, line):
    assert maintained(**changes).line() == line


def test_the_report_names_the_location_the_retention_and_that_the_tables_are_shared(tmp_path):
    cfg = parse_config(with_changes(output__retention="2 weeks"), base_dir=tmp_path)
    where = tmp_path / "lake" / "monitoring"
    assert report(cfg, [maintained()], dry_run=False).splitlines() == [
        f"output tables under {where} (shared by every monitor writing there), retention 2 weeks",
        maintained().line(),
    ]
    assert report(cfg, [], dry_run=True).splitlines() == [
        f"dry run, nothing changed: output tables under {where} (shared by every monitor writing there), "
        "retention 2 weeks",
        "no output table yet: nothing to maintain",
    ]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "m.yml"
    path.write_text(yaml.safe_dump(with_changes()), encoding="utf-8")
    return path


def test_maintain_refuses_a_short_retention_before_spark_starts(config_file, monkeypatch, capsys):
    monkeypatch.setattr(perfmon_spark.session, "get_spark", lambda *a, **k: pytest.fail("Spark was started"))
    code = main(["maintain", "--config", str(config_file), "--set", "output.retention=3 days"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("config error: output.retention: '3 days' is shorter than 7 days")


def test_maintain_needs_a_config(capsys):
    assert main(["maintain"]) == 2
    assert "the following arguments are required: --config" in capsys.readouterr().err
