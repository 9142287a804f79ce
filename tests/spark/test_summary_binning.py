"""Where the score summary is binned (``states.cells.Binning``): perf_stats must hold exactly the
entries the documented rule gives, computed here with numpy.

The rule: a slice group's summary in a bucket is on the grid when the group has more than the
exact limit of prediction rows there (quarantined rows included), and exact otherwise. With the
limit lowered to 40, the cells below give binned groups with few labels (US/web: 120 predictions,
15 labeled), exact groups inside binned ones (GB/app and US/app: 30 each), and a group binned
only because of its quarantined rows (FR/app: 35 usable and 6 with a null score). US/web and
FR/app belong to binned groups only, so their rows are binned as they are aggregated; the others
are binned after the merge where their group is over the limit.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.metrics import histogram
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, read_table, write_delta

LIMIT = 40
# country, channel, predictions, of which labeled, extra rows with a null score
CELLS = (("US", "web", 120, 15, 0), ("GB", "app", 30, 30, 0), ("US", "app", 30, 20, 0), ("FR", "app", 35, 35, 6))


def make_rows(seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    preds, labels = [], []
    for country, channel, n, n_labeled, n_bad in CELLS:
        for i in range(n + n_bad):
            pid = f"{country}{channel}{i}"
            ts = T0 + timedelta(minutes=int(rng.integers(0, 1440)))
            score = float(rng.random()) if i < n else None
            preds.append((pid, ts, "v1", score, country, channel, 1.0))
            if i < n_labeled:
                labels.append((pid, int(rng.random() < 0.4), ts + timedelta(hours=1)))
    return pd.DataFrame(
        preds, columns=["prediction_id", "prediction_ts", "model_version", "score", "country", "channel", "amount"]
    ), pd.DataFrame(labels, columns=["prediction_id", "is_fraud", "label_ts"])


def expected_summary(preds: pd.DataFrame, labels: pd.DataFrame, members) -> tuple[np.ndarray, ...]:
    """The rule, in numpy: the usable rows of the group, labeled or not, keyed by exact
    transformed score, or by grid bin centre when the group has more than LIMIT prediction rows;
    positive, negative and unlabeled counts at each key."""
    group = preds[members(preds)]
    rows = group[group["score"].notna()].merge(labels, on="prediction_id", how="left")
    keys = histogram.transform(rows["score"].to_numpy(), "probability")
    if len(group) > LIMIT:
        keys = histogram.Grid.for_scale("probability").centres(keys)
    y = rows["is_fraud"].to_numpy(dtype=float)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, *(np.bincount(inverse, weights=w) for w in (y == 1, y == 0, np.isnan(y)))


def assert_summaries(stats: pd.DataFrame, preds: pd.DataFrame, labels: pd.DataFrame) -> None:
    """Every slice group's score summary in ``stats`` against ``expected_summary``."""
    country, channel = (lambda v: lambda r: r["country"] == v), (lambda v: lambda r: r["channel"] == v)
    groups = {
        ("*", "*"): lambda r: r["country"].notna(),
        **{("country", v): country(v) for v in ("US", "GB", "FR")},
        **{("channel", v): channel(v) for v in ("web", "app")},
        **{
            ("country&channel", f"{c}&{h}"): (lambda c, h: lambda r: country(c)(r) & channel(h)(r))(c, h)  # noqa: B023  (bound by the outer call)
            for c, h, *_ in CELLS
        },
    }
    assert len(stats) == len(groups)
    for (key, value), members in groups.items():
        row = stats[(stats["slice_key"] == key) & (stats["slice_value"] == value)]
        assert len(row) == 1, (key, value)
        row = row.iloc[0]
        keys, *counts = expected_summary(preds, labels, members)
        np.testing.assert_allclose(np.asarray(row["hist_keys"]), keys, rtol=0, atol=1e-12, err_msg=f"{key}={value}")
        for column, expected in zip(("hist_pos", "hist_neg", "hist_unl"), counts):
            np.testing.assert_array_equal(np.asarray(row[column]), expected, err_msg=f"{key}={value} {column}")
    exact = {
        v: len(stats[(stats["slice_key"] == "country&channel") & (stats["slice_value"] == v)].iloc[0]["hist_keys"])
        for v in ("GB&app", "US&app")
    }
    assert exact == {"GB&app": 30, "US&app": 30}  # one entry per distinct score: nothing binned


def test_groups_over_the_limit_are_binned_and_the_others_stay_exact(spark, tmp_path, monkeypatch):
    """The rule after a full run, and again after late labels and corrections moved the
    summaries by label deltas (``job.label_deltas``): binned and exact entries alike."""
    monkeypatch.setattr(histogram, "EXACT_LIMIT", LIMIT)
    preds, labels = make_rows()
    data = config_dict(
        write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "p"),
        write_delta(spark, labels, LABELS_DDL, tmp_path / "l"),
        str(tmp_path / "m"),
        segments={"columns": ["country", "channel"], "cross": [["country", "channel"]]},
    )
    cfg = parse_config(data)
    run_monitor(cfg, T0 + timedelta(days=2), mode="full", spark=spark)
    assert_summaries(read_table(spark, cfg, "perf_stats"), preds, labels)

    rng = np.random.default_rng(3)
    scored = preds[preds["score"].notna()]
    unlabeled = scored[~scored["prediction_id"].isin(labels["prediction_id"])].sample(25, random_state=1)
    fixes = labels.sample(15, random_state=2)
    events = pd.DataFrame(
        {
            "prediction_id": [*unlabeled["prediction_id"], *fixes["prediction_id"]],
            "is_fraud": [*rng.integers(0, 2, len(unlabeled)), *(1 - fixes["is_fraud"])],
            "label_ts": T0 + timedelta(days=2, hours=12),
        }
    )
    write_delta(spark, events, LABELS_DDL, tmp_path / "l", mode="append")
    result = run_monitor(cfg, T0 + timedelta(days=3), spark=spark)
    assert result.message.startswith("2 buckets recomputed from rows, 1 moved by label deltas"), result.message
    latest = pd.concat([labels[~labels["prediction_id"].isin(events["prediction_id"])], events])
    assert_summaries(read_table(spark, cfg, "perf_stats"), preds, latest)
