"""Proxy metrics: what a model outputs, over every prediction, labeled or not.

Until labels arrive these are what a monitor can watch: a window with predictions and no labels
has them, so an output shift is visible on its first day. Means and spreads come from sums over
all predictions; quantiles and the distribution distances from the score summary, which counts
unlabeled predictions too (``scores``: score values and predictions at each, exact up to
``histogram.EXACT_LIMIT`` entries and on its grid beyond, so a quantile is within one grid bin).

The distribution distances compare a window with its reference period (``windows.Reference``):
``score_psi`` and ``score_js`` on ``PSI_BINS`` bins cut at the reference's deciles (ties merge
bins), ``class_share_psi`` on the predicted classes. The PSI adds one half to the count of every
bin that either side uses (``PSI_SMOOTHING``; without it one empty bin makes the PSI infinite):
an empty bin counts as half a row, so a 30-row window's empty bin where the reference has 5%
adds about 0.05 to the PSI where a floor of 1e-4 on the shares added 0.3. Bins empty on both
sides are left out. The Jensen-Shannon distance needs neither (base 2, so it lies in [0, 1], as
scipy's ``jensenshannon(p, q, 2)``).
"""

from __future__ import annotations

import numpy as np

# the label metrics register first, so that every list of a problem type's metrics ends with these
from perfmon_spark.metrics import binary, intervals, multiclass, regression  # noqa: F401
from perfmon_spark.metrics.common import field, mean_of, ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType

PSI_BINS = 10
PSI_SMOOTHING = 0.5  # added to each used bin's count (Jeffreys' prior; a 'continuity' half)
REFERENCE_METRICS = ("score_psi", "score_js", "class_share_psi")


def value_at(values, counts, q) -> float:
    """The smallest value whose cumulative count reaches q x total (numpy's ``inverted_cdf``
    quantile); NaN when empty."""
    total = counts.sum()
    if total <= 0:
        return float("nan")
    index = np.searchsorted(np.cumsum(counts), q * total * (1 - 1e-12))
    return float(values[min(index, len(values) - 1)])


def _quantile(q: float):
    def finalise(s) -> np.ndarray:
        return np.array([value_at(v, c, q) for v, c in s["scores"]], dtype=float)

    def interval(s, z):
        """Distribution-free: the order statistics at ranks n q -+ z sqrt(n q (1 - q)). The
        standard error is their distance over 2 z, McKean and Schrader's (1984) estimate of a
        quantile's standard error from the same order statistics."""
        bounds = []
        for values, counts in s["scores"]:
            n = counts.sum()
            if n < 2:
                bounds.append((np.nan, np.nan))
                continue
            half = z * np.sqrt(n * q * (1 - q))
            low, high = max(np.floor(n * q - half), 1.0), min(np.ceil(n * q + half) + 1, n)
            bounds.append((value_at(values, counts, low / n), value_at(values, counts, high / n)))
        lower, upper = np.array(bounds, dtype=float).reshape(-1, 2).T
        return intervals.Interval(lower, upper, (upper - lower) / (2 * z))

    return finalise, interval


def _std(total: str, squares: str):
    def finalise(s) -> np.ndarray:
        n = field(s, "n_predictions")
        mean = ratio(field(s, total), n)
        return np.sqrt(np.maximum(ratio(field(s, squares) - n * mean * mean, n - 1), 0.0))

    return finalise


def distance(kind: str, window: np.ndarray, reference: np.ndarray) -> float:
    """PSI or Jensen-Shannon distance (base 2) of two count vectors over the same bins."""
    if kind == "psi":
        used = (window + reference) > 0
        p, q = (c[used] + PSI_SMOOTHING for c in (window, reference))
        p, q = p / p.sum(), q / q.sum()
        return float(np.sum((p - q) * np.log(p / q)))
    p, q = window / window.sum(), reference / reference.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nansum(np.where(p > 0, p * np.log2(p / m), 0.0)) + np.nansum(np.where(q > 0, q * np.log2(q / m), 0.0))
    return float(np.sqrt(max(kl / 2, 0.0)))


def binned(values, counts, edges) -> np.ndarray:
    """Counts per bin (-inf, e1], (e1, e2], ..., (e_last, inf)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), weights=counts, minlength=len(edges) + 1)


def reference_edges(values, counts) -> np.ndarray:
    """Inner bin edges at the reference's deciles (equal ones merged)."""
    return np.unique([value_at(values, counts, i / PSI_BINS) for i in range(1, PSI_BINS)])


def score_distance(kind: str):
    def finalise(s) -> np.ndarray:
        out = []
        for window, reference in zip(s["scores"], s["reference_scores"]):
            if reference is None or window[1].sum() <= 0:
                out.append(np.nan)
                continue
            edges = reference_edges(*reference)
            out.append(distance(kind, binned(*window, edges), binned(*reference, edges)))
        return np.array(out, dtype=float)

    return finalise


def _class_share_psi(s) -> np.ndarray:
    out = []
    for window, reference in zip(s["predicted"], s["reference_predicted"]):
        if reference is None or window[1].sum() <= 0:
            out.append(np.nan)
            continue
        classes = np.union1d(window[0], reference[0])
        counts = [np.array([dict(zip(*d)).get(c, 0.0) for c in classes]) for d in (window, reference)]
        out.append(distance("psi", *counts))
    return np.array(out, dtype=float)


def _share(s, cls: str):
    hits = np.array([c[np.asarray(k) == cls].sum() for k, c in s["predicted"]], dtype=float)
    return hits, np.array([c.sum() for _, c in s["predicted"]], dtype=float)


def _register(
    problem_type, name, fields, finalise, interval, method, definition, needs="", per_class=False, larger=None
):
    register_metric(
        Metric(
            name=name,
            problem_type=problem_type,
            larger_is_better=larger,
            fields=fields,
            finalise=finalise,
            interval=interval,
            interval_method=method,
            definition=definition,
            needs=needs,
            per_class=per_class,
            labeled=False,
        )
    )


# (type, metric prefix, state total, needs, word in the docs, with quantiles of the summary)
for _type, _prefix, _total, _needs, _word, _quantiles in (
    (ProblemType.BINARY, "score", "sum_score", "score", "score", True),
    (ProblemType.REGRESSION, "prediction", "sum_prediction", "", "prediction", False),
):
    _mean, _mean_ci = mean_of(_total, "n_predictions", f"{_total}_sq")
    _register(
        _type,
        f"{_prefix}_mean",
        (_total, f"{_total}_sq", "n_predictions"),
        _mean,
        _mean_ci,
        f"normal (CLT on the {_word}s)",
        f"mean {_word} over all predictions, labeled or not; null without predictions",
        _needs,
    )
    _register(
        _type,
        f"{_prefix}_std",
        (_total, f"{_total}_sq", "n_predictions"),
        _std(_total, f"{_total}_sq"),
        None,
        "none (use a threshold without confidence)",
        f"standard deviation (n - 1) of the {_word}s over all predictions; null below 2",
        _needs,
    )
    if _quantiles:
        for _q in (50, 90):
            _finalise, _interval = _quantile(_q / 100)
            _register(
                _type,
                f"score_p{_q}",
                ("scores",),
                _finalise,
                _interval,
                "order statistics at n q -+ z sqrt(n q (1 - q)) (distribution-free)",
                f"{_q}th percentile of the scores over all predictions (inverted CDF, within one summary bin)",
                _needs,
            )
    for _kind, _what in (("psi", "population stability index"), ("js", "Jensen-Shannon distance (base 2)")):
        _register(
            _type,
            f"score_{_kind}",
            ("scores", "reference_scores"),
            score_distance(_kind),
            None,
            "none (a distance; use a threshold without confidence)",
            f"{_what} of the window's {_word}s against the reference period's, on {PSI_BINS} bins at the "
            "reference's deciles; null until the reference period has ended",
            _needs,
            larger=False,
        )

_register(
    ProblemType.MULTICLASS,
    "predicted_share",
    ("predicted",),
    lambda s, cls: ratio(*_share(s, cls)),
    lambda s, z, cls: intervals.wilson(*_share(s, cls), z),
    "Wilson score",
    "share of all predictions (labeled or not) whose predicted class is c",
    per_class=True,
)
_register(
    ProblemType.MULTICLASS,
    "class_share_psi",
    ("predicted", "reference_predicted"),
    _class_share_psi,
    None,
    "none (a distance; use a threshold without confidence)",
    "population stability index of the predicted class shares against the reference period's "
    f"(counts + {PSI_SMOOTHING}); null until the reference period has ended",
    larger=False,
)
