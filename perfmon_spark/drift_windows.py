"""Drift metrics: every window of every version, slice and feature, as merges of the bucket
histograms of ``drift_stats``, compared with the window's reference period.

The same windows as ``perf_metrics`` (tumbling where a bucket has data, rolling at every bucket
boundary; no label-count windows: drift needs no label), the same reference periods
(``windows.finalise.Reference``) and the same ``*`` version (the sum over versions). Histograms
on fixed bins are dense count vectors, so a window is a difference of cumulative sums. Pure
pandas/numpy per slice (``finalise_drift_slice``), run per slice by one ``applyInPandas``: a
window's drift decision weighs its features together.

A feature drifted in a window (``is_drifted``) when its PSI is above ``drift.psi_threshold`` and
its size-aware test (``metrics.drift.psi_p_value``) passes the Benjamini-Hochberg step at
``drift.fdr`` over the features tested in the same version, slice and window: the threshold says
the shift is large enough to matter, the test that chance alone is an unlikely cause at this
window's and reference's sizes, and the step that testing many features does not multiply the
false alarms (on stable data, a window has a drifted feature in at most about ``fdr`` of windows,
however many features there are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import DRIFT_METRICS, ddl
from perfmon_spark.metrics.drift import measures, psi_p_value, window_drifted
from perfmon_spark.states.drift import Binned
from perfmon_spark.vocabulary import ALL_VERSIONS, DriftMeasure, FeatureKind
from perfmon_spark.windows.finalise import Reference, epoch_seconds, reference_spans, seconds_of, spans

DRIFT_COLUMNS = DRIFT_METRICS.without("monitor", "as_of", "run_id")


@dataclass(frozen=True)
class DriftPlan:
    """What ``finalise_drift_slice`` needs, as plain picklable values."""

    granularity_seconds: int
    windows: tuple[tuple[str, int], ...]  # (text, seconds), the granularity first
    reference: Reference
    features: tuple[tuple[str, bool, tuple[float, ...]], ...]  # (feature, numeric?, edges)
    psi_threshold: float
    fdr: float
    label_windows: tuple = ()  # drift has none (``windows.finalise.spans`` reads it)
    since: int | None = None  # epoch seconds: only windows ending at or after it (None: all)

    @classmethod
    def from_config(
        cls, cfg: MonitorConfig, bins: tuple[Binned, ...], reference: Reference, since: datetime | None = None
    ) -> DriftPlan:
        return cls(
            granularity_seconds=cfg.windows.granularity.seconds,
            windows=tuple((w.text, w.seconds) for w in cfg.window_lengths),
            reference=reference,
            features=tuple((b.feature, b.kind == FeatureKind.NUMERIC, b.edges) for b in bins),
            psi_threshold=cfg.drift.psi_threshold,
            fdr=cfg.drift.fdr,
            since=epoch_seconds(since),
        )


def finalise_drift_slice(pdf: pd.DataFrame, plan: DriftPlan) -> pd.DataFrame:
    """All ``drift_metrics`` rows of one slice: every feature, version and ``*``, every window,
    each feature's PSI judged with the window's other features (``is_drifted``)."""
    columns = [c for c, _ in DRIFT_COLUMNS]
    if pdf.empty:
        return pd.DataFrame(columns=columns)
    frames = []
    for feature, rows in pdf.groupby("feature", sort=True):
        numeric, edges = next((n, e) for f, n, e in plan.features if f == feature)
        for v in sorted(rows["model_version"].unique()) + [ALL_VERSIONS]:
            sub = rows if v == ALL_VERSIONS else rows[rows["model_version"] == v]
            frames.append(_finalise_version(sub, v, numeric, edges, plan).assign(feature=feature))
    out = pd.concat(frames, ignore_index=True)
    out["slice_key"] = pdf["slice_key"].iloc[0]
    out["slice_value"] = pdf["slice_value"].iloc[0]
    out["is_drifted"] = drifted(out, plan)
    return out[columns]


def drifted(rows: pd.DataFrame, plan: DriftPlan) -> pd.Series:
    """``is_drifted`` of ``drift_metrics`` rows of one slice: on PSI rows with a p-value,
    ``metrics.drift.window_drifted`` over the features of the same version and window; null
    elsewhere."""
    out = pd.Series(pd.NA, index=rows.index, dtype="boolean")
    tested = rows[(rows["measure"] == DriftMeasure.PSI) & rows["p_value"].notna()]
    for _, family in tested.groupby(["model_version", "window", "window_start"]):
        out[family.index] = window_drifted(family["value"], family["p_value"], plan.psi_threshold, plan.fdr)
    return out


def _finalise_version(sub: pd.DataFrame, version: str, numeric: bool, edges, plan: DriftPlan) -> pd.DataFrame:
    g = plan.granularity_seconds
    starts = seconds_of(sub["bucket_start"])
    t0 = int(starts.min())
    idx = (starts - t0) // g
    n = int(idx.max()) + 1
    counts = np.stack([np.asarray(c, dtype=float) for c in sub["bin_counts"]])
    dense = np.zeros((n, counts.shape[1]))
    np.add.at(dense, idx, counts)
    cum = np.vstack([np.zeros(dense.shape[1]), np.cumsum(dense, axis=0)])
    totals = dense.sum(axis=1)
    rows = []
    for text, lo, ends, window_start in spans(plan, totals > 0, totals, t0):
        window_end = t0 + (ends + 1) * g
        if plan.since is not None:
            keep = window_end >= plan.since
            lo, ends, window_start, window_end = lo[keep], ends[keep], window_start[keep], window_end[keep]
        references = reference_spans(plan.reference, version, t0, g, n, window_end)
        for a, e, start, end, ref in zip(lo, ends, window_start, window_end, references):
            window = cum[e + 1] - cum[a]
            reference = None if ref is None else cum[ref[1] + 1] - cum[ref[0]]
            if reference is not None and reference.sum() <= 0:
                reference = None
            values = measures(numeric, edges, window, window if reference is None else reference)
            p_value = np.nan if reference is None else psi_p_value(window, reference, ordered=numeric)
            for measure, value in values.items():
                rows.append(
                    (
                        version,
                        text,
                        start,
                        measure,
                        end,
                        np.nan if reference is None else value,
                        int(window.sum()),
                        None if reference is None else int(reference.sum()),
                        p_value if measure == DriftMeasure.PSI else np.nan,
                    )
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "model_version",
            "window",
            "window_start",
            "measure",
            "window_end",
            "value",
            "n_predictions",
            "n_reference",
            "p_value",
        ],
    )
    for c in ("window_start", "window_end"):
        out[c] = pd.to_datetime(out[c].astype(np.int64), unit="s")
    out["n_reference"] = out["n_reference"].astype("Int64")
    return out


def drift_schema() -> str:
    return ddl(DRIFT_COLUMNS)


def compute_drift(stats, plan: DriftPlan):
    """``drift_metrics`` rows (without monitor / as_of / run_id) from ``drift_stats`` rows; NaN ->
    null. Features no longer configured are left out."""
    from pyspark.sql import functions as F

    wanted = [f for f, _, _ in plan.features]
    df = (
        stats.filter(F.col("feature").isin(*wanted))
        .select("model_version", "slice_key", "slice_value", "bucket_start", "feature", "bin_counts")
        .groupBy("slice_key", "slice_value")
        .applyInPandas(lambda pdf: finalise_drift_slice(pdf, plan), drift_schema())
    )
    return df.withColumns({c: F.when(~F.isnan(c), F.col(c)) for c in ("value", "p_value")})
