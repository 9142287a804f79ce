"""What a run tells the user it could not see or had to drop (``runs.warnings``, SPEC §6): labels
ignored past max_delay, no labels or labels that stopped arriving, no prediction, mature windows
whose labels fell short, versions that never got a label.

A warning is data (a code and a one-line message), printed on stderr by the run and failing it
under ``--strict``. The checks read what the run already has (its counts, its label delays and
latest label arrival) and one small read of the states it wrote (``bucket_coverage``: a few numbers
per version and bucket), and a partial run probes the labels table (``limit(1)``, which Delta's
file statistics bound): none scans the prediction rows again. The late-label share is over the label events this
run read (an incremental run reads those new since the last one, so a re-run with nothing new has
none to warn about); every other check is a function of the config, the inputs and as_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.ingest.times import label_time
from perfmon_spark.io.catalog import PERF_STATS, C
from perfmon_spark.io.lake import Lake
from perfmon_spark.io.tables import Snapshot
from perfmon_spark.job.label_delay import KEPT_SHARE, LabelDelay
from perfmon_spark.vocabulary import OVERALL, WarningCode

# A mature window whose label coverage is below this share of its expected coverage (that of
# the mature buckets before it) has lost labels, not waited too little for them.
LOW_COVERAGE_SHARE = 0.5
BUCKET_COLUMNS = (C.model_version, C.bucket_start, C.bucket_end, C.n_predictions, C.n_labeled)


@dataclass(frozen=True)
class RunWarning:
    code: WarningCode
    message: str

    def row(self) -> tuple[str, str]:
        """The ``runs.warnings`` element."""
        return (str(self.code), self.message)


def late_labels(cfg: MonitorConfig, delay: LabelDelay | None) -> RunWarning | None:
    """More than ``labels.warn_ignored_share`` of the matched label events came after max_delay."""
    if delay is None or delay.share_late <= cfg.labels.warn_ignored_share:
        return None
    return RunWarning(
        WarningCode.LATE_LABELS_IGNORED,
        f"{delay.late:,} of {delay.events:,} label events read ({delay.share_late:.1%}) arrived later than "
        f"labels.max_delay ({cfg.labels.max_delay.text}) after their prediction and were ignored; "
        f"max_delay: {delay.suggested_max_delay()} would keep {KEPT_SHARE:.0%} of them "
        f"(p99 delay {delay.days['p99']:.1f} days)",
    )


def label_arrivals(
    cfg: MonitorConfig, labels: Snapshot, as_of: datetime, latest: datetime | None, complete: bool
) -> RunWarning | None:
    """No label event at or before as_of (NO_LABELS), or none within max_delay before it
    (STALLED_LABELS: the labels feed stopped).

    Args:
        latest: the latest arrival among the label rows the run read.
        complete: the run read every label row (a full run): ``latest`` decides. A partial run
            reads only some, so it asks the table: a ``limit(1)`` probe of the last max_delay
            (Delta's file statistics skip older files), and the latest arrival only if that finds
            nothing.
    """
    since = as_of - cfg.labels.max_delay.delta
    if not complete and (latest is None or latest <= since):
        ts = label_time(cfg)
        seen = labels.df.filter(ts <= F.lit(as_of))
        latest = as_of if seen.filter(ts > F.lit(since)).limit(1).count() else seen.agg(F.max(ts)).first()[0]
    if latest is not None and latest > since:
        return None
    if latest is None:
        return RunWarning(
            WarningCode.NO_LABELS,
            f"labels table {labels.ref.text!r} has no label event at or before as_of {as_of:%Y-%m-%dT%H:%M:%S}: "
            "every metric that needs labels is null",
        )
    return RunWarning(
        WarningCode.STALLED_LABELS,
        f"no label event arrived in labels table {labels.ref.text!r} in the {cfg.labels.max_delay.text} "
        f"before as_of (the latest at {latest:%Y-%m-%dT%H:%M:%S}): labels may have stopped arriving",
    )


def bucket_coverage(spark: SparkSession, cfg: MonitorConfig) -> pd.DataFrame:
    """``model_version``, ``bucket_start``, ``bucket_end``, ``n_predictions``, ``n_labeled`` of every
    stored bucket of the overall slice: a few numbers per version and bucket (the states are
    written for every visible prediction before the checks run), empty before any state."""
    stats = Lake(spark, cfg).read_if_exists(PERF_STATS)
    columns = list(BUCKET_COLUMNS)
    if stats is None:
        return pd.DataFrame(columns=columns)
    rows = stats.filter(F.col(C.slice_key) == OVERALL).select(*columns).collect()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def from_states(cfg: MonitorConfig, buckets: pd.DataFrame, as_of: datetime) -> list[RunWarning]:
    """NO_PREDICTIONS, LOW_LABEL_COVERAGE and VERSION_WITHOUT_LABELS from the stored buckets of the
    overall slice (``bucket_coverage``), in that order.

    - no bucket: no usable prediction at or before as_of;
    - a version's bucket (its tumbling window) that matured within the last max_delay with a label
      coverage below ``LOW_COVERAGE_SHARE`` of its expected coverage (that of the version's mature
      buckets up to it, as ``perf_metrics.expected_coverage``);
    - a version with a mature bucket and not one label.
    """
    if buckets.empty:
        return [
            RunWarning(
                WarningCode.NO_PREDICTIONS,
                f"no usable prediction at or before as_of {as_of:%Y-%m-%dT%H:%M:%S} (none, or all quarantined; "
                "check --as-of and predictions.filter): nothing was measured",
            )
        ]
    delay = cfg.labels.max_delay.delta
    mature = as_of - delay
    short, silent = [], []
    for version, rows in buckets.sort_values(C.bucket_start).groupby(C.model_version, sort=True):
        done = rows[rows[C.bucket_end] <= mature]
        if done.empty:
            continue
        if rows[C.n_labeled].sum() == 0:
            silent.append(version)
            continue
        expected = done[C.n_labeled].cumsum() / done[C.n_predictions].cumsum()
        coverage = done[C.n_labeled] / done[C.n_predictions]
        low = (done[C.bucket_end] > mature - delay) & (expected > 0) & (coverage < LOW_COVERAGE_SHARE * expected)
        short += [
            (c / e, version, start, c, e)
            for c, e, start in zip(coverage[low], expected[low], done[C.bucket_start][low])
        ]
    found = []
    if short:
        _, version, start, coverage, expected = min(short)
        found.append(
            RunWarning(
                WarningCode.LOW_LABEL_COVERAGE,
                f"{len(short)} of the {cfg.windows.granularity.text} windows that matured in the last "
                f"{cfg.labels.max_delay.text} have less than {LOW_COVERAGE_SHARE:.0%} of their expected label "
                f"coverage; worst: model {version}, window from {pd.Timestamp(start):%Y-%m-%d %H:%M}, "
                f"{coverage:.1%} against {expected:.1%} expected (labels lost or not joined?)",
            )
        )
    if silent:
        found.append(
            RunWarning(
                WarningCode.VERSION_WITHOUT_LABELS,
                f"model version(s) {', '.join(map(repr, silent))} have predictions older than labels.max_delay "
                f"({cfg.labels.max_delay.text}) and not one label: check that their labels are written and join "
                "on labels.id",
            )
        )
    return found
