"""A numpy builder of perf_stats-shaped rows for testing finalisers without Spark.

It computes each state field from its definition in ``states.layout.FIELD_DOCS``; the Spark
builder is checked against scikit-learn separately, end to end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfmon_spark.metrics import histogram

EPS = np.finfo(float).eps


def binary_stats(
    rows: pd.DataFrame, scale: str = "probability", exact_limit: float = histogram.EXACT_LIMIT
) -> pd.DataFrame:
    """rows: model_version, bucket_start, y (NaN when unlabeled), score, d -> one row per bucket."""
    out = []
    for (version, bucket), g in rows.groupby(["model_version", "bucket_start"]):
        lab = g[g["y"].notna()]
        y, d, s = lab["y"].to_numpy(float), lab["d"].to_numpy(int), lab["score"].to_numpy(float)
        p = np.clip(s, EPS, 1 - EPS)
        loss = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        brier = (s - y) ** 2
        every = g["score"].to_numpy(float)  # labeled or not
        labels = g["y"].to_numpy(float)
        keys, pos, neg, unl = histogram.merge(
            [(histogram.transform(every, scale), labels == 1, labels == 0, np.isnan(labels))], scale, exact_limit
        )
        out.append(
            {
                **_base(version, bucket, g, lab),
                "n_decided_positive": int(g["d"].sum()),
                "tp": int(((y == 1) & (d == 1)).sum()),
                "fp": int(((y == 0) & (d == 1)).sum()),
                "tn": int(((y == 0) & (d == 0)).sum()),
                "fn": int(((y == 1) & (d == 0)).sum()),
                "sum_log_loss": loss.sum(),
                "sum_log_loss_sq": (loss**2).sum(),
                "sum_brier": brier.sum(),
                "sum_brier_sq": (brier**2).sum(),
                "sum_score": every.sum(),
                "sum_score_sq": (every**2).sum(),
                "hist_keys": keys,
                "hist_pos": pos.astype(np.int64),
                "hist_neg": neg.astype(np.int64),
                "hist_unl": unl.astype(np.int64),
            }
        )
    return pd.DataFrame(out)


def _base(version, bucket, g, lab) -> dict:
    return {
        "model_version": version,
        "slice_key": "*",
        "slice_value": "*",
        "bucket_start": bucket,
        "n_predictions": len(g),
        "n_labeled": len(lab),
    }


def multiclass_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """rows: model_version, bucket_start, y (class string or None), pred, p_true (NaN if none)."""
    out = []
    for (version, bucket), g in rows.groupby(["model_version", "bucket_start"]):
        lab = g[g["y"].notna()]
        loss = -np.log(np.clip(lab["p_true"].to_numpy(float), EPS, 1 - EPS)) if "p_true" in lab else np.zeros(len(lab))
        cm = g.assign(y=g["y"].where(g["y"].notna(), "\x01")).groupby(["y", "pred"]).size().sort_index()
        out.append(
            {
                **_base(version, bucket, g, lab),
                "n_correct": int((lab["y"] == lab["pred"]).sum()),
                "sum_log_loss": loss.sum(),
                "sum_log_loss_sq": (loss**2).sum(),
                "cm_label": np.array([None if a == "\x01" else a for a, _ in cm.index], dtype=object),
                "cm_pred": np.array([b for _, b in cm.index], dtype=object),
                "cm_count": cm.to_numpy(np.int64),
            }
        )
    return pd.DataFrame(out)


def regression_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """rows: model_version, bucket_start, y (NaN when unlabeled), pred."""
    out = []
    for (version, bucket), g in rows.groupby(["model_version", "bucket_start"]):
        lab = g[g["y"].notna()]
        y, p = lab["y"].to_numpy(float), lab["pred"].to_numpy(float)
        every = g["pred"].to_numpy(float)
        keys, n = histogram.merge(
            [(histogram.transform(every, "unbounded"), np.ones(len(every)))], "unbounded", arity=1
        )
        e = p - y
        nz = y != 0
        ape = np.abs(e[nz]) / np.abs(y[nz])
        out.append(
            {
                **_base(version, bucket, g, lab),
                "sum_prediction": every.sum(),
                "sum_prediction_sq": (every**2).sum(),
                "sum_error": e.sum(),
                "sum_abs_error": np.abs(e).sum(),
                "sum_sq_error": (e**2).sum(),
                "sum_quartic_error": (e**4).sum(),
                "sum_ape": ape.sum(),
                "sum_ape_sq": (ape**2).sum(),
                "n_ape": int(nz.sum()),
                "sum_label": y.sum(),
                "sum_label_sq": (y**2).sum(),
                "sum_label_cube": (y**3).sum(),
                "sum_label_quartic": (y**4).sum(),
                "sum_sq_error_label": (e**2 * y).sum(),
                "sum_sq_error_label_sq": (e**2 * y**2).sum(),
                "hist_keys": keys,
                "hist_n": n.astype(np.int64),
            }
        )
    return pd.DataFrame(out)
