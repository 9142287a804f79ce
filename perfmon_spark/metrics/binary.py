"""Binary classification metrics over the binary state (see ``states.layout``).

Confusion counts are taken at the configured decision (``prediction`` column or
``score >= threshold``); score summaries feed roc_auc and pr_auc; per-row loss sums feed
log_loss and brier. Undefined cases follow scikit-learn: where it warns or returns nan, NaN here.
"""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics import histogram, intervals
from perfmon_spark.metrics.common import field as _f
from perfmon_spark.metrics.common import mean_of
from perfmon_spark.metrics.common import ratio as _ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType


def _proportion(num_fields, den_fields, definition, name, larger_is_better=True):
    """Register a count ratio with a Wilson interval."""

    def num(s):
        return sum(_f(s, f) for f in num_fields)

    def den(s):
        return sum(_f(s, f) for f in den_fields)

    register_metric(
        Metric(
            name=name,
            problem_type=ProblemType.BINARY,
            larger_is_better=larger_is_better,
            fields=tuple(sorted(set(num_fields) | set(den_fields))),
            finalise=lambda s: _ratio(num(s), den(s)),
            interval=lambda s, z: intervals.wilson(num(s), den(s), z),
            interval_method="Wilson score",
            definition=definition,
        )
    )


_proportion(("tp", "tn"), ("tp", "tn", "fp", "fn"), "(TP + TN) / labeled; null without labels", "accuracy")
_proportion(("tp",), ("tp", "fp"), "TP / (TP + FP); null without positive decisions", "precision")
_proportion(("tp",), ("tp", "fn"), "TP / (TP + FN); null without positive labels", "recall")


def _f1(s) -> np.ndarray:
    # scikit-learn's F-score is 2TP / (2TP + FP + FN), undefined only when that is 0/0.
    tp, fp, fn = _f(s, "tp"), _f(s, "fp"), _f(s, "fn")
    return _ratio(2 * tp, 2 * tp + fp + fn)


register_metric(
    Metric(
        name="f1",
        problem_type=ProblemType.BINARY,
        larger_is_better=True,
        fields=("tp", "fp", "fn"),
        finalise=_f1,
        interval=lambda s, z: intervals.f1_wilson(_f(s, "tp"), _f(s, "fp"), _f(s, "fn"), z),
        interval_method="Wilson on TP / (TP + FP + FN), mapped by 2J / (1 + J)",
        definition="2 TP / (2 TP + FP + FN); null when TP + FP + FN = 0",
    )
)
_proportion(("tn",), ("tn", "fp"), "TN / (TN + FP); null without negative labels", "specificity")
_proportion(
    ("tp", "fn"), ("tp", "tn", "fp", "fn"), "share of positive labels; null without labels", "positive_rate", None
)
_proportion(
    ("n_decided_positive",),
    ("n_predictions",),
    "share of positive decisions among all predictions (labeled or not)",
    "prediction_rate",
    None,
)


def _hist_metric(fn):
    def finalise(s) -> np.ndarray:
        return np.array([fn(*h) for h in s["hist"]], dtype=float)

    return finalise


def _auc_interval(s, z):
    bounds = np.array([intervals.delong_auc(keys, pos, neg, z) for keys, pos, neg in s["hist"]], dtype=float)
    return intervals.Interval(*bounds.reshape(-1, 3).T)


def _ap_interval(s, z):
    ap = _hist_metric(histogram.average_precision)(s)
    n_pos = np.array([h[1].sum() for h in s["hist"]], dtype=float)
    return intervals.logit_interval(ap, n_pos, z)


register_metric(
    Metric(
        name="roc_auc",
        problem_type=ProblemType.BINARY,
        larger_is_better=True,
        fields=("hist",),
        finalise=_hist_metric(histogram.roc_auc),
        interval=_auc_interval,
        interval_method="DeLong from the score summary, on the logit scale (Wilson at 0 and 1)",
        definition="area under the ROC curve, ties count one half; null with one class",
        needs="score",
    )
)
register_metric(
    Metric(
        name="pr_auc",
        problem_type=ProblemType.BINARY,
        larger_is_better=True,
        fields=("hist",),
        finalise=_hist_metric(histogram.average_precision),
        interval=_ap_interval,
        interval_method="logit, with the positives as trials (Boyd et al. 2013)",
        definition="average precision (scikit-learn average_precision_score); null without positives",
        needs="score",
    )
)


def _mean_metric(name, field, definition):
    finalise, interval = mean_of(field, "n_labeled")
    register_metric(
        Metric(
            name=name,
            problem_type=ProblemType.BINARY,
            larger_is_better=False,
            fields=(field, f"{field}_sq", "n_labeled"),
            finalise=finalise,
            interval=interval,
            interval_method="normal (CLT on the per-row loss)",
            definition=definition,
            needs="probability",
        )
    )


_mean_metric("log_loss", "sum_log_loss", "mean cross-entropy, p clipped to [eps, 1 - eps]; null without labels")
_mean_metric("brier", "sum_brier", "mean (p - y)^2; null without labels")
