"""Regression metrics over sums of errors (error = prediction - label)."""

from __future__ import annotations

import numpy as np

from perfmon_spark.metrics import intervals
from perfmon_spark.metrics.common import field, mean_of, ratio
from perfmon_spark.metrics.registry import Metric, register_metric
from perfmon_spark.vocabulary import ProblemType


def _register(name, larger, fields, finalise, interval, method, definition):
    register_metric(
        Metric(
            name=name,
            problem_type=ProblemType.REGRESSION,
            larger_is_better=larger,
            fields=fields,
            finalise=finalise,
            interval=interval,
            interval_method=method,
            definition=definition,
        )
    )


_mse, _mse_ci = mean_of("sum_sq_error", "n_labeled", "sum_quartic_error")


def _rmse_ci(s, z):
    """The square roots of the MSE's interval; the standard error by the delta method,
    se(MSE) / (2 RMSE). At an MSE of 0 every error is 0: the MSE's interval and standard error
    are 0 too, and so are the RMSE's."""
    mse = _mse_ci(s, z)
    rmse = np.sqrt(_mse(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(rmse > 0, mse.std_error / (2 * rmse), mse.std_error)
    return intervals.Interval(np.sqrt(np.maximum(mse.lower, 0.0)), np.sqrt(mse.upper), se)


def _r2(s) -> np.ndarray:
    n = field(s, "n_labeled")
    sst = field(s, "sum_label_sq") - ratio(field(s, "sum_label") ** 2, n)
    sse = field(s, "sum_sq_error")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 1.0 - sse / sst
    # scikit-learn warns below 2 samples; constant labels give nan with force_finite=False.
    scale = np.maximum(field(s, "sum_label_sq") / np.maximum(n, 1), 1e-300)
    return np.where((n >= 2) & (sst > 1e-12 * n * scale), value, np.nan)


def _r2_ci(s, z):
    """Delta method on R2 = 1 - MSE / var(label): the influence of one row is
    (e2 - MSE) / var - MSE * (d - var) / var^2, with e2 its squared error and d its squared
    deviation from the mean label. Its variance needs the labels' moments to the fourth and the
    squared errors' products with the label, all sums that merge; central moments come from raw
    ones, so labels with a large mean and a tiny spread lose precision (then the interval is null
    rather than wrong: a negative variance estimate gives NaN). The interval is normal, its upper
    end clipped at 1."""
    n = field(s, "n_labeled")
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = field(s, "sum_label") / n
        var = field(s, "sum_label_sq") / n - mean**2
        m4 = (
            field(s, "sum_label_quartic") / n
            - 4 * mean * field(s, "sum_label_cube") / n
            + 6 * mean**2 * field(s, "sum_label_sq") / n
            - 3 * mean**4
        )
        mse = field(s, "sum_sq_error") / n
        var_e2 = field(s, "sum_quartic_error") / n - mse**2
        var_d = m4 - var**2
        e2_d = field(s, "sum_sq_error_label_sq") / n - 2 * mean * field(s, "sum_sq_error_label") / n + mean**2 * mse
        cov = e2_d - mse * var
        r = mse / var
        se = np.sqrt((var_e2 - 2 * r * cov + r**2 * var_d) / var**2 / n)
    value = _r2(s)
    ok = ~np.isnan(value) & np.isfinite(se) & (n >= 3)
    return intervals.symmetric(value, np.where(ok, se, np.nan), z, high=1.0)


_register(
    "mse",
    False,
    ("sum_sq_error", "sum_quartic_error", "n_labeled"),
    _mse,
    _mse_ci,
    "normal (CLT on squared errors)",
    "mean squared error; null without labels",
)
_register(
    "rmse",
    False,
    ("sum_sq_error", "sum_quartic_error", "n_labeled"),
    lambda s: np.sqrt(_mse(s)),
    _rmse_ci,
    "square root of the normal interval of the MSE",
    "root mean squared error; null without labels",
)
_mae, _mae_ci = mean_of("sum_abs_error", "n_labeled", "sum_sq_error")
_register(
    "mae",
    False,
    ("sum_abs_error", "sum_sq_error", "n_labeled"),
    _mae,
    _mae_ci,
    "normal (CLT on absolute errors)",
    "mean absolute error; null without labels",
)
_mape, _mape_ci = mean_of("sum_ape", "n_ape")
_register(
    "mape",
    False,
    ("sum_ape", "sum_ape_sq", "n_ape"),
    _mape,
    _mape_ci,
    "normal (CLT on absolute percentage errors)",
    "mean |error| / |label| over labels != 0 (n_labeled - n_ape rows left out); null if none",
)
_register(
    "r2",
    True,
    (
        "sum_sq_error",
        "sum_quartic_error",
        "sum_sq_error_label",
        "sum_sq_error_label_sq",
        "sum_label",
        "sum_label_sq",
        "sum_label_cube",
        "sum_label_quartic",
        "n_labeled",
    ),
    _r2,
    _r2_ci,
    "delta method on MSE / label variance (moments of labels and squared errors)",
    "1 - SSE / SST; null below 2 labels or with constant labels",
)
_me, _me_ci = mean_of("sum_error", "n_labeled", "sum_sq_error")
_register(
    "mean_error",
    None,
    ("sum_error", "sum_sq_error", "n_labeled"),
    _me,
    _me_ci,
    "normal (CLT on errors)",
    "mean (prediction - label): the bias; null without labels",
)
