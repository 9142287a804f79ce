"""Label-count windows ("N labels") against an oracle that walks the buckets back from each end
until N labels are behind it, on the same rows as the states."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.windows.finalise import WindowPlan, finalise_slice
from tests.helpers import BASE
from tests.statebuild import binary_stats

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1)


def rows(seed: int = 3) -> pd.DataFrame:
    """Two versions over 20 days; labels dense early, sparse and absent later (v2 has fewer)."""
    rng = np.random.default_rng(seed)
    frames = []
    for version, per_day in (("v1", 40), ("v2", 8)):
        for day in range(20):
            n = int(rng.integers(0, per_day))
            labeled = rng.random(n) < (0.9 if day < 8 else 0.3 if day < 15 else 0.0)
            score = rng.random(n)
            y = np.where(labeled, (rng.random(n) < score).astype(float), np.nan)
            frames.append(
                pd.DataFrame(
                    {
                        "model_version": version,
                        "bucket_start": T0 + day * DAY,
                        "score": score,
                        "y": y,
                        "d": (score >= 0.5),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True).astype({"d": int})


def walk_back(sub: pd.DataFrame, count: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of each window: from each bucket back to the nearest start with >= count
    labels; of ends sharing a start, the latest."""
    first, last = sub["bucket_start"].min(), sub["bucket_start"].max()
    days = pd.date_range(first, last, freq="D")
    per_day = sub.groupby("bucket_start")["y"].count().reindex(days, fill_value=0)
    found: dict[pd.Timestamp, pd.Timestamp] = {}
    for e in range(len(days)):
        total, start = 0, e
        while start >= 0 and total < count:
            total += per_day.iloc[start]
            start -= 1
        if total >= count:
            found[days[start + 1]] = days[e] + pd.Timedelta(days=1)  # later ends overwrite
    return sorted(found.items())


@pytest.mark.parametrize("count", [1, 60, 250, 10_000])
def test_label_count_windows_walk_back_to_n_labels(count):
    data = rows()
    cfg = parse_config(
        dict(BASE, metrics=["accuracy"], windows={"granularity": "1 day", "rolling": [f"{count} labels"]})
    )
    out = finalise_slice(binary_stats(data), WindowPlan.from_config(cfg, T0 + 40 * DAY))
    out = out[out["window"] == f"{count} labels"]
    for version in ("v1", "v2", "*"):
        sub = data if version == "*" else data[data["model_version"] == version]
        got = out[out["model_version"] == version]
        spans = walk_back(sub, count)
        assert list(zip(got["window_start"], got["window_end"])) == spans, version
        for start, end, value, labeled in zip(got["window_start"], got["window_end"], got["value"], got["n_labeled"]):
            window = sub[(sub["bucket_start"] >= start) & (sub["bucket_start"] < end) & sub["y"].notna()]
            assert labeled == len(window) >= count
            assert value == pytest.approx((window["y"] == window["d"]).mean())
    if count == 10_000:
        assert out.empty  # never reached: no row
