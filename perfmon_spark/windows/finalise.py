"""Windows and finalising, pure: every tumbling and rolling window of every version and slice, as
merges of bucket states, finalised into metric values with intervals and standard errors.

``finalise_slice`` is pure pandas/numpy over the ``perf_stats`` rows of one slice (all versions);
the ``*`` version is the sum over versions, and rolling windows are cumulative-sum differences
(histograms: merges of the buckets in the window). ``windows.spark.compute_metrics`` runs it per
slice in Spark; nothing here imports pyspark (an import-linter contract checks it), so every
window and metric is tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from perfmon_spark.config import MonitorConfig
from perfmon_spark.io.catalog import PERF_METRICS
from perfmon_spark.metrics import bind, histogram
from perfmon_spark.metrics.estimated import BACKTEST_P_VALUE, CALIBRATIONS, ESTIMATED_METRICS, backtest, backtested
from perfmon_spark.metrics.intervals import Interval, z_value
from perfmon_spark.metrics.kpi import kpi_interval, kpi_value
from perfmon_spark.metrics.proxies import REFERENCE_METRICS
from perfmon_spark.problems import problem
from perfmon_spark.states.layout import CONFIG_VALUES, SPARSE, scalar_fields
from perfmon_spark.vocabulary import ALL_VERSIONS

# A metric row as the window pass returns it: perf_metrics without the columns the job stamps.
METRIC_COLUMNS = PERF_METRICS.without("monitor", "as_of", "run_id")


@dataclass(frozen=True)
class Reference:
    """The reference period of the distribution proxies (``score_psi``, ``class_share_psi``),
    from ``baseline``: a ``rolling`` baseline's trailing period, else the first
    ``baseline.window`` of each version (values and table baselines hold figures, not
    distributions, so they fall back to it)."""

    length_seconds: int
    lag_seconds: int | None  # rolling: the period ends this long before the window ends
    version_starts: tuple[tuple[str, int], ...] = ()  # first bucket (epoch seconds) of each version and *

    @classmethod
    def from_config(cls, cfg: MonitorConfig) -> Reference:
        if cfg.baseline.source == "rolling":
            return cls(cfg.baseline.rolling_length.seconds, cfg.baseline.rolling_lag.seconds)
        return cls(cfg.baseline.window.seconds, None)

    def period(self, version: str, window_end: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """[start, end) epoch seconds of each window's reference, or None without a start."""
        if self.lag_seconds is not None:
            end = window_end - self.lag_seconds
            return end - self.length_seconds, end
        start = dict(self.version_starts).get(version)
        if start is None:
            return None
        ends = np.full(len(window_end), start + self.length_seconds)
        return np.full(len(window_end), start), ends


@dataclass(frozen=True)
class WindowPlan:
    """What ``finalise_slice`` needs from the config, as plain picklable values."""

    problem_type: str
    metrics: tuple[str, ...]
    granularity_seconds: int
    windows: tuple[tuple[str, int], ...]  # (text, seconds), the granularity first
    z: float
    max_delay_seconds: int
    as_of: np.datetime64
    scale: str
    exact_limit: float
    kpis: tuple[str, ...] = ()
    ks: tuple[int, ...] = ()  # ranking cut-offs
    label_windows: tuple[tuple[str, int], ...] = ()  # (text, N) of each "N labels" window
    reference: Reference | None = None  # where the score proxies' reference distribution comes from
    threshold: float | None = None  # binary: the decision threshold (estimated metrics)
    backtest_windows: int = 0  # estimates_reliable: granularity windows back-tested (0: not computed)
    since: int | None = None  # epoch seconds: only windows ending at or after it (None: all)

    @classmethod
    def from_config(cls, cfg: MonitorConfig, as_of: datetime, since: datetime | None = None) -> WindowPlan:
        kind = problem(cfg.problem_type)
        return cls(
            problem_type=cfg.problem_type,
            metrics=cfg.metrics,
            granularity_seconds=cfg.windows.granularity.seconds,
            windows=tuple((w.text, w.seconds) for w in cfg.window_lengths),
            z=z_value(cfg.confidence_level),
            max_delay_seconds=cfg.labels.max_delay.seconds,
            as_of=np.datetime64(as_of.replace(tzinfo=None), "s"),
            scale=histogram.scale_of(cfg.predictions.score_type),
            exact_limit=histogram.EXACT_LIMIT if cfg.auc.mode == "sketch" else np.inf,
            kpis=tuple(k.name for k in cfg.kpis),
            ks=cfg.cut_offs,
            label_windows=tuple((w.text, w.labels) for w in cfg.windows.label_counts),
            reference=Reference.from_config(cfg) if needs_reference(cfg) else None,
            threshold=cfg.predictions.threshold if "threshold" in kind.config_values else None,
            backtest_windows=cfg.estimation.backtest_period.seconds // cfg.windows.granularity.seconds
            if "estimates_reliable" in cfg.metrics
            else 0,
            since=epoch_seconds(since),
        )

    def binder(self, name: str):
        """(finalise, interval) of a metric or KPI name (``registry.bind``)."""
        if name in self.kpis:
            return (lambda s: kpi_value(s, name)), (lambda s, z: kpi_interval(s, name, z))
        return bind(self.problem_type, name)


def needs_reference(cfg: MonitorConfig) -> bool:
    """Whether a configured metric compares each window with a reference period (its
    distribution, or its labeled summary for the estimates)."""
    return any(name in REFERENCE_METRICS or name in ESTIMATED_METRICS for name in cfg.metrics)


def epoch_seconds(ts: datetime | None) -> int | None:
    return None if ts is None else int(np.datetime64(ts.replace(tzinfo=None), "s").astype(np.int64))


def seconds_of(values) -> np.ndarray:
    return pd.to_datetime(values).values.astype("datetime64[s]").astype(np.int64)


def finalise_slice(pdf: pd.DataFrame, plan: WindowPlan) -> pd.DataFrame:
    """All metric rows of one slice: every version and ``*``, every window ending at a bucket
    boundary (tumbling: buckets with data; rolling: every boundary in the version's range) and,
    with ``plan.since``, at or after it."""
    columns = [c for c, _ in METRIC_COLUMNS]
    if pdf.empty:
        return pd.DataFrame(columns=columns)
    versions = sorted(pdf["model_version"].unique()) + [ALL_VERSIONS]
    frames = [
        _finalise_version(pdf if v == ALL_VERSIONS else pdf[pdf["model_version"] == v], v, plan) for v in versions
    ]
    frames = [f for f in frames if len(f)]  # a version with no window ending at or after plan.since
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    out["slice_key"] = pdf["slice_key"].iloc[0]
    out["slice_value"] = pdf["slice_value"].iloc[0]
    return out[columns]


def _finalise_version(sub: pd.DataFrame, version: str, plan: WindowPlan) -> pd.DataFrame:
    g = plan.granularity_seconds
    starts = seconds_of(sub["bucket_start"])
    t0 = int(starts.min())
    idx = (starts - t0) // g
    n = int(idx.max()) + 1
    scalars = {
        f: np.bincount(idx, weights=sub[f].astype(float).to_numpy(), minlength=n)
        for f in scalar_fields(plan.problem_type, plan.kpis, plan.ks)
    }
    present = np.bincount(idx, minlength=n) > 0
    sparse = SPARSE.get(plan.problem_type)
    parts: list[list] = [[] for _ in range(n)]
    if sparse is not None:
        for i, *entry in zip(idx, *(sub[c] for c in sparse.columns)):
            if entry[0] is not None and len(entry[0]):
                parts[i].append(tuple(np.asarray(v) for v in entry))
    summaries = _rolling(plan, parts, len(sparse.counts) if sparse else 0)
    as_of = int(plan.as_of.astype(np.int64))
    expected = _expected_coverage(scalars["n_labeled"], scalars["n_predictions"], t0, g, as_of - plan.max_delay_seconds)
    calibrations: dict = {}  # the estimates' reference calibrations, shared by the window lengths
    backtests = _backtest(plan, version, summaries, t0, n, calibrations) if plan.backtest_windows else None

    frames = []
    for text, lo, ends, window_start in spans(plan, present, scalars["n_labeled"], t0):
        if plan.since is not None:
            keep = t0 + (ends + 1) * g >= plan.since
            lo, ends, window_start = lo[keep], ends[keep], window_start[keep]
        if not len(ends):
            continue
        state: dict = {CALIBRATIONS: calibrations}
        for field, values in scalars.items():
            cum = np.concatenate([[0.0], np.cumsum(values)])
            state[field] = cum[ends + 1] - cum[lo]
        window_end = t0 + (ends + 1) * g
        if sparse is not None:
            state.update(views(plan.problem_type, [summaries.window(a, e) for a, e in zip(lo, ends)], summaries.scale))
            state.update(_reference_views(plan, version, summaries, t0, window_end))
        if backtests is not None:
            state[BACKTEST_P_VALUE] = backtests[ends]
        state.update({name: getattr(plan, name) for name in CONFIG_VALUES.get(plan.problem_type, ())})
        base = {
            "model_version": version,
            "window": text,
            "window_start": window_start.astype("datetime64[s]"),
            "window_end": window_end.astype("datetime64[s]"),
            "n_predictions": state["n_predictions"].astype(np.int64),
            "n_labeled": state["n_labeled"].astype(np.int64),
            "label_coverage": np.where(
                state["n_predictions"] > 0, state["n_labeled"] / np.maximum(state["n_predictions"], 1), np.nan
            ),
            "expected_coverage": expected(window_end),
            "is_mature": window_end + plan.max_delay_seconds <= as_of,
        }
        for name in plan.metrics + plan.kpis:
            finalise, interval = plan.binder(name)
            values = finalise(state)
            ci = Interval(*[np.full(len(ends), np.nan)] * 3) if interval is None else interval(state, plan.z)
            frame = {
                **base,
                "metric": name,
                "value": values,
                "ci_lower": ci.lower,
                "ci_upper": ci.upper,
                "std_error": ci.std_error,
            }
            frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _backtest(plan: WindowPlan, version: str, summaries, t0: int, n: int, calibrations: dict) -> np.ndarray:
    """The back-test p-value of the estimates (``estimated.backtested``) at each of a version's
    ``n`` buckets: over the windows of the granularity among the last ``plan.backtest_windows``
    ending with it that are mature, hold labels and lie outside their own reference period, the
    estimates of their labeled rows against the values the labels realise. An incremental run
    starts them where its first kept window needs them (NaN before)."""
    g, k = plan.granularity_seconds, plan.backtest_windows
    first = 0 if plan.since is None else int(np.clip((plan.since - t0) // g - k, 0, n))
    units = np.arange(first, n)
    window_end = t0 + (units + 1) * g
    state = {
        "labeled_scores": views(plan.problem_type, [summaries.window(i, i) for i in units], summaries.scale)[
            "labeled_scores"
        ],
        **_reference_views(plan, version, summaries, t0, window_end),
        "threshold": plan.threshold,
        "z": plan.z,
        CALIBRATIONS: calibrations,
    }
    tests = backtest(state)
    spans = reference_spans(plan.reference, version, t0, g, n, window_end)
    calibrated_on = np.array([s is not None and s[0] <= i <= s[1] for s, i in zip(spans, units)], dtype=bool)
    immature = window_end + plan.max_delay_seconds > int(plan.as_of.astype(np.int64))
    tests[0][:, calibrated_on | immature] = np.nan
    p = backtested(tests, plan.z, k)
    if first > 0:
        p[: k - 1] = np.nan  # their periods begin before ``first``
    return np.r_[np.full(first, np.nan), p]


def _expected_coverage(labeled: np.ndarray, predictions: np.ndarray, t0: int, g: int, mature_end: int):
    """Each window's expected coverage, as a function of its end: the coverage of the buckets that
    end by the window's end and are mature (end by ``mature_end``, as_of - max_delay). For an
    immature window these are all mature buckets; for a mature one, those up to its end, so its
    value is fixed once it matures and does not move with later buckets (which lets a run leave
    old windows as written)."""
    cum_labeled = np.concatenate([[0.0], np.cumsum(labeled)])
    cum_predictions = np.concatenate([[0.0], np.cumsum(predictions)])

    def expected(window_end: np.ndarray) -> np.ndarray:
        m = np.clip((np.minimum(window_end, mature_end) - t0) // g, 0, len(labeled))
        n = cum_predictions[m]
        return np.where(n > 0, cum_labeled[m] / np.maximum(n, 1), np.nan)

    return expected


def spans(plan: WindowPlan, present: np.ndarray, labeled: np.ndarray, t0: int):
    """(text, first buckets, last buckets, window starts) of every window of a version's
    ``len(present)`` buckets from ``t0``: tumbling windows where a bucket has data, rolling ones at
    every boundary, label-count ones where enough labels lie behind (``_label_spans``)."""
    g, n = plan.granularity_seconds, len(present)
    for text, seconds in plan.windows:
        k = seconds // g
        ends = np.nonzero(present)[0] if k == 1 else np.arange(n)
        yield text, np.maximum(ends + 1 - k, 0), ends, t0 + (ends + 1) * g - seconds
    for text, count in plan.label_windows:
        lo, ends = _label_spans(labeled, count)
        yield text, lo, ends, t0 + lo * g


def _label_spans(labeled: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For each bucket, the shortest trailing run of whole buckets holding >= ``count`` labels
    (first, last), none where all of them before it hold fewer. The table's key is the window's
    start, so of several ends that share a start only the latest is kept."""
    cum = np.concatenate([[0.0], np.cumsum(labeled)])
    ends = np.nonzero(cum[1:] >= count)[0]
    lo = np.searchsorted(cum, cum[ends + 1] - count, side="right") - 1
    last = np.r_[lo[1:] != lo[:-1], True] if len(lo) else np.zeros(0, dtype=bool)
    return lo[last], ends[last]


def _rolling(plan: WindowPlan, parts: list[list], arity: int):
    """The window merges of a version's per-bucket sparse entries, as its problem type makes them."""
    rolling = problem(plan.problem_type).rolling
    return None if rolling is None else rolling(parts, plan.scale, plan.exact_limit, arity)


def views(problem_type: str, merged: list, scale: str) -> dict[str, list]:
    """What finalisers read from each window's merged sparse entries (``Problem.views``): ``hist``
    (binary: the labeled score summary, on summary keys; ``labeled_scores``: the same on score
    values), ``scores`` (score values and predictions at each, labeled or not), ``cm``
    (multiclass: labeled entries) and ``predicted`` (classes and predictions of each)."""
    return problem(problem_type).views(merged, scale)


def _reference_views(plan: WindowPlan, version: str, summaries, t0: int, window_end: np.ndarray) -> dict[str, list]:
    """The reference period's views per window (``reference_scores``, binary
    ``reference_labeled_scores``, multiclass ``reference_predicted``): None where the period has
    not ended by the window's end or holds nothing; ``reference_labeled_scores`` (the estimates'
    calibration) also None until the period's labels are mature."""
    if plan.reference is None:
        return {}
    g, as_of = plan.granularity_seconds, int(plan.as_of.astype(np.int64))
    found = reference_spans(plan.reference, version, t0, g, len(summaries.buckets), window_end)
    # windows with the same period share one merge (a fixed period: every window of the version)
    distinct = {s: views(plan.problem_type, [summaries.window(*s)], summaries.scale) for s in set(found) - {None}}
    merged = [None if s is None else distinct[s] for s in found]
    out = {}
    for name in problem(plan.problem_type).reference_views:
        values = [None if m is None else m[name][0] for m in merged]
        if name == "labeled_scores":
            mature = [s is not None and t0 + (s[1] + 1) * g + plan.max_delay_seconds <= as_of for s in found]
            values = [v if ok else None for v, ok in zip(values, mature)]
        out[f"reference_{name}"] = [v if v is None or len(v[0]) else None for v in values]
    return out


def reference_spans(
    reference: Reference, version: str, t0: int, g: int, n: int, window_end: np.ndarray
) -> list[tuple[int, int] | None]:
    """(first, last) bucket of each window's reference period among a version's ``n`` buckets
    from ``t0``; None where the period has not ended by the window's end or holds no bucket."""
    period = reference.period(version, window_end)
    if period is None:
        return [None] * len(window_end)
    first = np.maximum((period[0] - t0) // g, 0)
    last = np.minimum((period[1] - t0) // g - 1, n - 1)
    return [
        (int(a), int(b)) if b >= a and end <= window else None
        for a, b, end, window in zip(first, last, period[1], window_end)
    ]


def lookback_seconds(plan) -> int | None:
    """How long before ``plan.since`` a window ending at or after it can read states: its longest
    window, or the back-test period of ``estimates_reliable`` plus a rolling reference period's
    lag and length (each back-tested bucket reads its own reference). None (every state) when the
    plan finalises every window, or has label-count windows, whose start has no bound."""
    if plan.since is None or plan.label_windows:
        return None
    longest = max(seconds for _, seconds in plan.windows)
    reference = plan.reference
    rolling = (
        0 if reference is None or reference.lag_seconds is None else reference.lag_seconds + reference.length_seconds
    )
    return max(longest, plan.backtest_windows * plan.granularity_seconds + rolling)
