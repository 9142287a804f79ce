"""What the report shows, as plain values: the command's options and the data ``render`` draws
(``ReportData``, small pandas frames), with the bounds that keep the page small. Pure: ``data``
fills it from the tables with Spark, ``render`` draws it without Spark, and the tests build it
by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from perfmon_spark.config import MonitorConfig

MAX_WINDOWS = 120  # windows per series: the chart's default span is this many granularity buckets
CURVE_WINDOWS = 3  # latest rolling windows drawn as precision/recall curves, per version


@dataclass(frozen=True)
class ReportOptions:
    """The command's filters: one model version, some metrics, a first day (default: the last
    ``MAX_WINDOWS`` buckets)."""

    model_version: str | None = None
    metrics: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything ``render`` draws, as pandas frames (empty where a table does not exist)."""

    cfg: MonitorConfig
    as_of: datetime
    last_run: dict
    metrics: tuple[str, ...]  # one chart each
    series: pd.DataFrame  # perf_metrics rows of the charted metrics: every window, overall slice
    slices: pd.DataFrame  # perf_metrics rows of the heat-map metric and window: every slice
    heat_metric: str
    heat_window: str
    # the rules' windows with baseline (alerts.evaluate.rule_histories): overall, and every slice of
    # the heat-map metric and window
    histories: pd.DataFrame
    # rule_windows rows of the overall slice: what each rule saw and decided, thresholds included
    rule_windows: pd.DataFrame
    alerts: pd.DataFrame
    status: pd.DataFrame
    decisions: pd.DataFrame
    curves: pd.DataFrame  # per version and latest rolling window: the merged score summary
    drift: pd.DataFrame  # drift_metrics PSI, overall slice
    drift_performance: pd.DataFrame
    drift_correlation: pd.DataFrame
    # version_comparison at each challenger's, metric's and window length's latest window start
    # (window_start as epoch seconds); empty without versions
    comparisons: pd.DataFrame
    # the last successful run's ``runs.warnings`` as (code, message); None where its row has no list
    warnings: tuple[tuple[str, str], ...] | None
    label_delay: dict[str, float] | None  # its ``runs.label_delay``; None where not recorded


def main_window(cfg: MonitorConfig) -> str:
    """The first rolling window, else the granularity: the line the charts draw."""
    return cfg.windows.rolling[0].text if cfg.windows.rolling else cfg.windows.granularity.text
