"""Independent reference for the tests: label resolution in pandas, metrics by scikit-learn.

Written from SPEC §3 and §4 without reading the job's code paths, so that a test comparing the
two can fail.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def resolve(
    preds: pd.DataFrame, labels: pd.DataFrame, as_of: datetime, max_delay: timedelta, threshold: float
) -> pd.DataFrame:
    """Usable predictions (earliest of duplicate ids) with ``y`` (NaN if unlabeled) and ``d``."""
    p = preds[preds["prediction_ts"] <= as_of].copy()
    ok = (
        p["prediction_id"].notna()
        & p["model_version"].notna()
        & p["score"].notna()
        & np.isfinite(p["score"].astype(float))
        & p["score"].between(0, 1)
    )
    p = p[ok].sort_values(["prediction_ts", "model_version", "score"], kind="mergesort")
    p = p.drop_duplicates("prediction_id", keep="first")
    lab = labels[labels["label_ts"].notna() & (labels["label_ts"] <= as_of) & labels["prediction_id"].notna()]
    lab = lab[lab["is_fraud"].isin([0, 1])]
    m = lab.merge(p[["prediction_id", "prediction_ts"]], on="prediction_id")
    m = m[(m["label_ts"] >= m["prediction_ts"]) & (m["label_ts"] <= m["prediction_ts"] + max_delay)]
    latest = m.sort_values(["label_ts", "is_fraud"]).groupby("prediction_id").tail(1)
    out = p.merge(latest[["prediction_id", "is_fraud"]], on="prediction_id", how="left")
    out["y"] = out["is_fraud"].astype(float)
    out["d"] = (out["score"] >= threshold).astype(int)
    return out


PROXIES = {
    "score_mean": lambda s: float(np.mean(s)) if len(s) else None,
    "score_std": lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else None,
    "score_p50": lambda s: float(np.quantile(s, 0.5, method="inverted_cdf")) if len(s) else None,
    "score_p90": lambda s: float(np.quantile(s, 0.9, method="inverted_cdf")) if len(s) else None,
}


def binary_metric(name: str, y: np.ndarray, score: np.ndarray, d: np.ndarray) -> float | None:
    """scikit-learn's value, or None where it warns, raises or returns nan (SPEC §4)."""
    if name == "prediction_rate":
        return float(np.mean(d)) if len(d) else None
    if name in PROXIES:  # over every prediction, labeled or not
        return PROXIES[name](np.asarray(score, dtype=float))
    keep = ~np.isnan(y)
    y, score, d = y[keep].astype(int), score[keep], d[keep]
    if len(y) == 0:
        return None
    fns = {
        "accuracy": lambda: skm.accuracy_score(y, d),
        "precision": lambda: skm.precision_score(y, d),
        "recall": lambda: skm.recall_score(y, d),
        "f1": lambda: skm.f1_score(y, d),
        "specificity": lambda: skm.recall_score(y, d, pos_label=0),
        "roc_auc": lambda: skm.roc_auc_score(y, score),
        "pr_auc": lambda: skm.average_precision_score(y, score),
        "log_loss": lambda: skm.log_loss(y, score, labels=[0, 1]),
        "brier": lambda: skm.brier_score_loss(y, score, pos_label=1) if len(set(y)) > 1 else np.mean((score - y) ** 2),
        "positive_rate": lambda: np.mean(y == 1),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            value = float(fns[name]())
        except (ValueError, Warning):
            return None
    return None if np.isnan(value) else value


def multiclass_metric(
    name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None = None, classes=None
) -> float | None:
    """scikit-learn with zero_division=np.nan; ``recall[c]`` / ``precision[c]`` for one class."""
    if len(y) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            if name == "accuracy":
                value = skm.accuracy_score(y, pred)
            elif name == "log_loss":
                value = skm.log_loss(y, proba, labels=classes)
            elif "[" in name:
                family, cls = name[:-1].split("[")
                if cls not in set(y) | set(pred):
                    return None
                fn = skm.recall_score if family == "recall" else skm.precision_score
                value = fn(y, pred, labels=[cls], average=None, zero_division=np.nan)[0]
            else:
                average, kind = name.split("_")
                fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[kind]
                value = fn(y, pred, average=average, zero_division=np.nan)
        except (ValueError, Warning):
            return None
    return None if np.isnan(value) else float(value)


def regression_metric(name: str, y: np.ndarray, pred: np.ndarray) -> float | None:
    """scikit-learn's regression metrics; mape over labels != 0; r2 with force_finite=False."""
    if len(y) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            if name == "mape":
                keep = y != 0
                if not keep.any():
                    return None
                value = skm.mean_absolute_percentage_error(y[keep], pred[keep])
            elif name == "r2":
                value = skm.r2_score(y, pred, force_finite=False)
            elif name == "mean_error":
                value = np.mean(pred - y)
            else:
                fn = {
                    "rmse": skm.root_mean_squared_error,
                    "mse": skm.mean_squared_error,
                    "mae": skm.mean_absolute_error,
                }[name]
                value = fn(y, pred)
        except (ValueError, Warning):
            return None
    return None if not np.isfinite(value) else float(value)


def cross_fitted_map(scores: np.ndarray, y: np.ndarray, folds: int, bins: int):
    """The estimates' calibration from labeled rows, with scikit-learn's ``IsotonicRegression``:
    the rows in order of score (positives first) dealt to ``folds`` folds in turn, each fold's
    residuals (label minus the isotonic fit of the other folds), their mean per ``bins``-quantile
    of the rows (a score's rows all in the quantile of its middle row) added to the isotonic fit
    of all rows, clipped to [0, 1]; a function of scores, linear between the labeled ones and
    constant beyond them."""
    from sklearn.isotonic import IsotonicRegression

    order = np.lexsort((1 - y, scores))
    x, t = scores[order], y[order]
    fold = np.arange(len(x)) % folds
    residual = np.empty(len(x))
    for f in range(folds):
        fit = IsotonicRegression(out_of_bounds="clip").fit(x[fold != f], t[fold != f])
        residual[fold == f] = t[fold == f] - fit.predict(x[fold == f])
    values, first, count = np.unique(x, return_index=True, return_counts=True)
    share = np.minimum(((first + count / 2) / len(x) * bins).astype(int), bins - 1)
    rows = np.repeat(share, count)
    shift = np.bincount(rows, residual, bins) / np.maximum(np.bincount(rows, minlength=bins), 1)
    mapped = np.clip(IsotonicRegression().fit(x, t).predict(values) + shift[share], 0, 1)
    return lambda s: np.interp(s, values, mapped)


def psi(window: np.ndarray, reference: np.ndarray) -> float:
    """PSI of two count vectors on the same bins, one half added to each bin either side uses
    (SPEC §5 and the drift issue: add-one-half smoothing, bins empty on both sides left out)."""
    keep = (np.asarray(window) > 0) | (np.asarray(reference) > 0)
    a = np.asarray(window, dtype=float)[keep] + 0.5
    b = np.asarray(reference, dtype=float)[keep] + 0.5
    a, b = a / a.sum(), b / b.sum()
    return float(np.dot(a - b, np.log(a) - np.log(b)))
