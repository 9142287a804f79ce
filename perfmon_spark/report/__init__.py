"""``perfmon report``: one self-contained HTML file from a monitor's output tables (``data``
reads the aggregated rows it needs into ``model.ReportData``, ``render`` draws them without
Spark). Spark is imported where the tables are read, so that ``model`` and ``render`` load
without it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from perfmon_spark.config import MonitorConfig
from perfmon_spark.report.model import ReportOptions
from perfmon_spark.report.render import render

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def write_report(spark: SparkSession, cfg: MonitorConfig, out: Path, options: ReportOptions) -> int:
    """Write the report of ``cfg``'s tables to ``out`` (its folder is created); returns its bytes."""
    from perfmon_spark.report.data import load_report_data

    page = render(load_report_data(spark, cfg, options))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return len(page.encode("utf-8"))


__all__ = ["ReportOptions", "write_report"]
