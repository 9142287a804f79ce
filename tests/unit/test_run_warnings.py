"""The warnings a run derives from its stored buckets and label delays (``job.run_warnings``),
without Spark: each fires on the case it names and stays quiet on healthy data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from perfmon_spark.config import parse_config
from perfmon_spark.job.label_delay import LabelDelay
from perfmon_spark.job.run_warnings import BUCKET_COLUMNS, from_states, late_labels
from perfmon_spark.vocabulary import WarningCode
from tests.helpers import config_dict

T0 = datetime(2026, 3, 1)
DAY = timedelta(days=1)
CFG = parse_config(config_dict("./p", "./l", "./out"))  # max_delay 7 days, daily buckets


def buckets(version: str, labeled: list[int], n: int = 100) -> list[tuple]:
    return [(version, T0 + i * DAY, T0 + (i + 1) * DAY, n, k) for i, k in enumerate(labeled)]


def frame(*rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([r for part in rows for r in part], columns=list(BUCKET_COLUMNS))


def codes(found) -> list[str]:
    return [w.code for w in found]


def test_healthy_buckets_raise_nothing_and_no_bucket_is_no_predictions():
    as_of = T0 + 20 * DAY
    assert from_states(CFG, frame(buckets("v1", [80] * 20)), as_of) == []
    assert codes(from_states(CFG, frame(), as_of)) == [WarningCode.NO_PREDICTIONS]


def test_a_recently_matured_window_below_half_its_expected_coverage_is_named():
    # days 0-19; as_of day 20: days 6..12 matured within the last 7 days; day 10 lost its labels
    labeled = [80] * 20
    labeled[10] = 10
    labeled[2] = 0  # an older mature day: outside the last max_delay, not warned again
    found = from_states(CFG, frame(buckets("v1", labeled)), T0 + 20 * DAY)
    assert codes(found) == [WarningCode.LOW_LABEL_COVERAGE]
    assert "1 of the 1 day windows" in found[0].message and "window from 2026-03-11 00:00, 10.0%" in found[0].message


def test_a_version_with_mature_predictions_and_no_label_is_named_and_a_new_one_is_not():
    as_of = T0 + 20 * DAY
    silent = buckets("v2", [0] * 20)
    new = [("v3", T0 + 18 * DAY, T0 + 19 * DAY, 50, 0)]  # not mature: labels may still come
    found = from_states(CFG, frame(buckets("v1", [80] * 20), silent, new), as_of)
    assert codes(found) == [WarningCode.VERSION_WITHOUT_LABELS]
    assert "'v2'" in found[0].message and "'v3'" not in found[0].message


def test_late_labels_warn_above_the_share_and_suggest_the_p99_in_whole_days():
    delay = LabelDelay(events=1000, late=30, days={"p50": 2.0, "p90": 8.5, "p99": 12.2, "max": 20.0})
    found = late_labels(CFG, delay)
    assert found.code == WarningCode.LATE_LABELS_IGNORED
    assert "30 of 1,000 label events read (3.0%)" in found.message and "max_delay: 13 days" in found.message
    assert late_labels(CFG, LabelDelay(1000, 20, delay.days)) is None  # 2% is not above the 2% default
    assert late_labels(CFG, None) is None
