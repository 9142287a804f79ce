"""Independent reference for the ranking tests: resolution in pandas, list metrics in numpy.

Written from the ranking contract (resolution, order, metric definitions, the no-relevant rule)
without reading the job's code paths, so that a test comparing the two can fail. One request at a
time in plain Python: slow, but each metric reads like its definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

KEYS = ["request_id", "item_id"]


def daily(ts: pd.Timestamp) -> pd.Timestamp:
    """The default bucket: the day of the request's timestamp."""
    return ts.floor("D")


def metric_names(ks: Iterable[int]) -> list[str]:
    """The per-request metrics, in output order: five per k, then ``mrr``."""
    names = [f"{m}@{k}" for k in ks for m in ("ndcg", "precision", "recall", "map", "hit_rate")]
    return names + ["mrr"]


def _kept_predictions(preds: pd.DataFrame, as_of: datetime, order: str) -> pd.DataFrame:
    """Usable rows, the earliest of each (request, item) (ties: smallest model_version, then score)."""
    p = preds[preds["prediction_ts"].notna() & (preds["prediction_ts"] <= as_of)].copy()
    if "score" not in p:
        p["score"] = np.nan
    ok = p["request_id"].notna() & p["item_id"].notna() & p["model_version"].notna()
    if order == "score":
        score = pd.to_numeric(p["score"], errors="coerce").astype(float)
        ok &= np.isfinite(score)
    else:
        rank = pd.to_numeric(p["rank"], errors="coerce")
        ok &= rank.notna() & (rank >= 1)
    p = p[ok].astype(dict.fromkeys(KEYS, object))
    p = p.sort_values(["prediction_ts", "model_version", "score"], kind="mergesort")
    return p.drop_duplicates(KEYS, keep="first")


def _latest_feedback(p: pd.DataFrame, labels: pd.DataFrame, as_of: datetime, max_delay: timedelta) -> pd.DataFrame:
    """Per kept (request, item): the eligible event with the greatest label_ts (ties: greatest relevance)."""
    rel = pd.to_numeric(labels["relevance"], errors="coerce").astype(float)
    ok = labels["label_ts"].notna() & (labels["label_ts"] <= as_of) & labels["request_id"].notna()
    ok &= labels["item_id"].notna() & np.isfinite(rel) & (rel >= 0)
    lab = labels[ok].assign(relevance=rel[ok]).astype(dict.fromkeys(KEYS, object))
    m = lab[KEYS + ["relevance", "label_ts"]].merge(p[KEYS + ["prediction_ts"]], on=KEYS)
    m = m[(m["label_ts"] >= m["prediction_ts"]) & (m["label_ts"] <= m["prediction_ts"] + max_delay)]
    latest = m.sort_values(["label_ts", "relevance"], kind="mergesort").groupby(KEYS).tail(1)
    return latest[KEYS + ["relevance"]]


def resolve_ranking(
    preds: pd.DataFrame,
    labels: pd.DataFrame,
    as_of: datetime,
    max_delay: timedelta,
    order: str = "score",
    bucket: Callable[[pd.Timestamp], pd.Timestamp] = daily,
) -> pd.DataFrame:
    """One row per kept (request, item): ``position``, ``relevance``, ``has_feedback`` and the
    request's ``model_version`` and ``request_ts`` (its earliest row's timestamp, bucketed)."""
    if order not in ("score", "rank"):
        raise ValueError(f"order must be 'score' or 'rank', not {order!r}")
    p = _kept_predictions(preds, as_of, order)
    out = p.merge(_latest_feedback(p, labels, as_of, max_delay), on=KEYS, how="left")
    out["has_feedback"] = out["relevance"].notna()
    out["relevance"] = out["relevance"].fillna(0.0)
    first = out.sort_values(["request_id", "prediction_ts", "item_id"], kind="mergesort")
    first = first.drop_duplicates("request_id", keep="first").set_index("request_id")
    out["model_version"] = out["request_id"].map(first["model_version"])
    out["request_ts"] = out["request_id"].map(first["prediction_ts"].map(bucket))
    if order == "score":
        out = out.assign(_key=-out["score"].astype(float))
    else:
        out = out.assign(_key=out["rank"].astype(float))
    out = out.sort_values(["request_id", "_key", "item_id"], kind="mergesort").drop(columns="_key")
    out["position"] = out.groupby("request_id").cumcount() + 1
    return out.reset_index(drop=True)


def list_metrics(rel: np.ndarray, ks: Iterable[int]) -> dict[str, float]:
    """The metrics of one list, ``rel`` in position order; all NaN when nothing is relevant."""
    rel = np.asarray(rel, dtype=float)
    names = metric_names(ks)
    hit = rel > 0
    n_rel = int(hit.sum())
    if n_rel == 0:
        return dict.fromkeys(names, np.nan)
    pos = np.arange(1, len(rel) + 1)
    discount = 1.0 / np.log2(pos + 1)
    ideal = np.sort(rel)[::-1]
    precision_at = np.cumsum(hit) / pos  # precision@i for each position i
    out: dict[str, float] = {}
    for k in ks:
        top = pos <= k
        hits = int(hit[top].sum())
        out[f"ndcg@{k}"] = float((rel * discount)[top].sum() / (ideal * discount)[top].sum())
        out[f"precision@{k}"] = hits / k
        out[f"recall@{k}"] = hits / n_rel
        out[f"map@{k}"] = float(precision_at[top & hit].sum() / min(k, n_rel))
        out[f"hit_rate@{k}"] = float(hits > 0)
    out["mrr"] = 1.0 / int(pos[hit][0])
    return out


def request_values(resolved: pd.DataFrame, ks: Iterable[int]) -> pd.DataFrame:
    """One row per request: its facts, ``labeled``, ``n_rel`` and each metric (NaN when n_rel = 0)."""
    ks = list(ks)
    rows = []
    for request_id, g in resolved.sort_values(["request_id", "position"]).groupby("request_id", sort=True):
        rel = g["relevance"].to_numpy(dtype=float)
        first = g.iloc[0]
        rows.append(
            {
                "request_id": request_id,
                "model_version": first["model_version"],
                "request_ts": first["request_ts"],
                "n_items": len(g),
                "top_score": float(first["score"]) if pd.notna(first.get("score")) else np.nan,
                "labeled": bool(g["has_feedback"].any()),
                "n_rel": int((rel > 0).sum()),
                **list_metrics(rel, ks),
            }
        )
    columns = ["request_id", "model_version", "request_ts", "n_items", "top_score", "labeled", "n_rel"]
    return pd.DataFrame(rows, columns=columns + metric_names(ks))


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else np.nan


def group_metrics(
    requests: pd.DataFrame, ks: Iterable[int], no_relevant: str = "skip", resolved: pd.DataFrame | None = None
) -> dict[str, float]:
    """Means over a group of requests (rows of ``request_values``) under the no-relevant rule.

    ``skip`` leaves requests with n_rel = 0 out of the metric means; ``zero`` counts them as 0.
    ``top_score_mean`` ignores missing scores. ``catalog_coverage@k`` needs ``resolved``.
    """
    if no_relevant not in ("skip", "zero"):
        raise ValueError(f"no_relevant must be 'skip' or 'zero', not {no_relevant!r}")
    ks = list(ks)
    none_rel = requests["n_rel"] == 0
    scored = requests[~none_rel] if no_relevant == "skip" else requests.fillna(dict.fromkeys(metric_names(ks), 0.0))
    out: dict[str, float] = {
        "n_requests": len(requests),
        "n_labeled": int(requests["labeled"].sum()),
        "n_no_relevant": int(none_rel.sum()),
        "n_scored": len(scored),
        "list_length_mean": _mean(requests["n_items"]),
        "top_score_mean": float(requests["top_score"].mean()) if requests["top_score"].notna().any() else np.nan,
    }
    for name in metric_names(ks):
        out[name] = _mean(scored[name])
    if resolved is not None:
        rows = resolved[resolved["request_id"].isin(requests["request_id"])]
        n_items = rows["item_id"].nunique()
        for k in ks:
            top = rows.loc[rows["position"] <= k, "item_id"].nunique()
            out[f"catalog_coverage@{k}"] = top / n_items if n_items else np.nan
    return out


def mean_interval(values: Iterable[float], z: float) -> tuple[float, float]:
    """The normal interval mean +- z * s / sqrt(n), s with ddof=1; NaN for n < 2."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2:
        return np.nan, np.nan
    half = z * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)
