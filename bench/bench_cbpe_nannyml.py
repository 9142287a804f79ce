"""Benchmark: perfmon-spark's estimated metrics (CBPE) against NannyML's CBPE on NannyML's
synthetic car-loan data, chunk by chunk (no Spark):

    .venv/bin/python bench/bench_cbpe_nannyml.py

NannyML runs in its own virtual environment (``bench_nannyml.nannyml_python``):
``bench/nannyml_cbpe_job.py`` loads the data, writes it to Parquet and estimates every daily chunk
of the analysis period with a CBPE fitted on the reference period. perfmon-spark's side reads the
same rows and finalises them as a run does (``windows.finalise.finalise_slice`` over the bucket states that
``tests/statebuild.py`` builds as the job's aggregation would): the reference set as the version's
reference period, each of NannyML's chunks as one day after it, the threshold the one NannyML's
``y_pred`` was decided at. Printed per metric: how far our estimates lie from NannyML's (mean and
largest absolute difference, correlation over the chunks), how often each side's interval holds
the value the chunk's labels realise (ours at the configured confidence; NannyML's band of
``SAMPLING_ERROR_RANGE`` sampling errors, and the same sampling error times our z), and the time
each side takes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_full_run import timed_output  # noqa: E402
from bench.bench_interval_coverage import DAY, T0, estimate_plan  # noqa: E402
from bench.bench_nannyml import NANNYML_VERSION, nannyml_python  # noqa: E402
from perfmon_spark.metrics.estimated import ESTIMATES  # noqa: E402
from perfmon_spark.windows.finalise import finalise_slice  # noqa: E402
from tests.statebuild import binary_stats  # noqa: E402

CHUNK_PERIOD = "D"  # NannyML's chunk_period; perfmon-spark's windows are days
REALISED = {name: name.removeprefix("estimated_") for name in ESTIMATES}
"""Each estimate's realised metric: its name in perfmon-spark and in NannyML's CBPE alike."""


def decision_threshold(scores, decisions) -> float:
    """The threshold the decisions were taken at: the least score decided positive, checked to
    decide every row as given (perfmon-spark decides positive at score >= threshold).

    Raises:
        ValueError: no row is decided positive, or no threshold gives every decision.
    """
    scores, decisions = np.asarray(scores, dtype=float), np.asarray(decisions).astype(bool)
    if not decisions.any():
        raise ValueError("no prediction is decided positive: the threshold is unknown")
    threshold = float(scores[decisions].min())
    wrong = int(((scores >= threshold) != decisions).sum())
    if wrong:
        raise ValueError(f"no threshold gives the decisions: {wrong} rows with score >= {threshold!r} decided negative")
    return threshold


def chunk_starts(timestamps: pd.Series, period: str = CHUNK_PERIOD) -> pd.Series:
    """The start of each row's chunk, as NannyML's ``chunk_period`` chunker groups rows (by the
    timestamp's pandas period) and reports a chunk (``chunk_start_date``)."""
    return pd.to_datetime(timestamps).dt.to_period(period).dt.start_time


def _rows(frame: pd.DataFrame, day) -> pd.DataFrame:
    """NannyML's columns as ``binary_stats`` rows, in the bucket of ``day`` (days after T0)."""
    return pd.DataFrame(
        {
            "model_version": "v1",
            "bucket_start": pd.Timestamp(T0) + pd.to_timedelta(day, unit="D"),
            "y": frame["repaid"].to_numpy(dtype=float),
            "score": frame["y_pred_proba"].to_numpy(dtype=float),
            "d": frame["y_pred"].to_numpy(dtype=int),
        }
    )


def our_states(reference: pd.DataFrame, analysis: pd.DataFrame, chunks: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """The bucket states of the reference set and of each analysis chunk (``chunks``: each row's
    chunk start), laid out as ``bench_interval_coverage`` lays its references: day 0 the
    reference period, each chunk a day after it, in order. In a run, Spark's aggregation builds
    them; here ``tests/statebuild.binary_stats``, by the same definitions.

    Returns:
        The states and the chunk starts, in day order.
    """
    starts = np.sort(chunks.unique())
    day = np.searchsorted(starts, chunks.to_numpy()) + 1
    return binary_stats(pd.concat([_rows(reference, 0), _rows(analysis, day)])), starts


def our_estimates(states: pd.DataFrame, starts: np.ndarray, threshold: float) -> tuple[pd.DataFrame, float]:
    """perfmon-spark's estimates of each chunk of ``our_states``, as ``finalise_slice`` finalises
    a run's daily windows (the version and ``*``, every estimate, its realised metric and
    ``estimates_reliable``).

    Returns:
        A frame indexed by chunk start, columns (value | ci_lower | ci_upper, metric): every
        estimate, its realised metric (from the chunk's labels, which the estimates do not read)
        and ``estimates_reliable``; and the z of the intervals.
    """
    plan = estimate_plan(len(starts), threshold)
    out = finalise_slice(states, plan)
    out = out[(out["model_version"] == "v1") & (out["window_start"] >= T0 + DAY)]
    wide = out.pivot(index="window_start", columns="metric", values=["value", "ci_lower", "ci_upper"])
    wide.index = pd.DatetimeIndex(starts[(wide.index - T0) // DAY - 1], name="chunk_start")
    return wide, plan.z


def _covers(lower, upper, value) -> pd.Series:
    return (lower <= value) & (value <= upper)


def figures(ours: pd.DataFrame, theirs: pd.DataFrame, z: float, band: float) -> pd.DataFrame:
    """Per estimate (rows), over the chunks where both sides and the realised value are defined:
    our estimate against NannyML's (mean and max absolute difference, correlation), each one's
    mean absolute error to the realised value, the share of chunks whose realised value each
    interval holds, with its mean half-width (ours: of the interval clipped to [0, 1]; NannyML's:
    ``band`` sampling errors, its reported band before clipping, and ``z`` of them), and the largest difference between the realised values
    each side computed (0 when the chunks are the same rows). The correlation of the day-to-day
    changes asks more than that of the values: the values share the data's slow drift.

    Args:
        ours: ``our_estimates``' frame.
        theirs: NannyML's chunk rows (``nannyml_cbpe_job.py``'s ``cbpe.parquet``).
        z: the z of our intervals.
        band: the sampling errors NannyML's band spans on either side (``SAMPLING_ERROR_RANGE``).
    """
    theirs = theirs.set_index(pd.to_datetime(theirs["chunk_start_date"])).reindex(ours.index)
    rows = {}
    for name, realised_name in REALISED.items():
        estimate, realised = ours["value"][name], ours["value"][realised_name]
        value, se = theirs[f"{realised_name}_value"], theirs[f"{realised_name}_sampling_error"]
        both = estimate.notna() & value.notna() & realised.notna()
        difference = (estimate - value)[both].abs()
        rows[name] = {
            "chunks": int(both.sum()),
            "mean_abs_diff": difference.mean(),
            "max_abs_diff": difference.max(),
            "correlation": estimate[both].corr(value[both]),
            "change_correlation": estimate[both].diff().corr(value[both].diff()),
            "ours_abs_error": (estimate - realised)[both].abs().mean(),
            "nannyml_abs_error": (value - realised)[both].abs().mean(),
            "ours_coverage": _covers(ours["ci_lower"][name], ours["ci_upper"][name], realised)[both].mean(),
            "ours_half_width": ((ours["ci_upper"][name] - ours["ci_lower"][name]) / 2)[both].mean(),
            "band_coverage": _covers(
                theirs[f"{realised_name}_lower_confidence_boundary"],
                theirs[f"{realised_name}_upper_confidence_boundary"],
                realised,
            )[both].mean(),
            "band_half_width": (band * se)[both].mean(),
            "z_coverage": _covers(value - z * se, value + z * se, realised)[both].mean(),
            "z_half_width": (z * se)[both].mean(),
            "realised_vs_nannyml": (realised - theirs[f"{realised_name}_realized"])[both].abs().max(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def report(table: pd.DataFrame, z: float, band: float) -> None:
    """``figures`` as a Markdown table (what docs/performance.md records)."""
    print(
        f"| estimate | chunks | mean abs diff | max abs diff | correlation: values, daily changes "
        f"| mean abs error to realised, ours / NannyML "
        f"| ours (z {z:.2f}): coverage, half-width | NannyML ±{band:g} SE: coverage, half-width "
        f"| NannyML ±{z:.2f} SE: coverage, half-width |"
    )
    print("| --- " * 9 + "|")
    for name, f in table.iterrows():
        print(
            f"| {name} | {f['chunks']:.0f} | {f['mean_abs_diff']:.4f} | {f['max_abs_diff']:.4f} "
            f"| {f['correlation']:.5f}, {f['change_correlation']:.5f} "
            f"| {f['ours_abs_error']:.4f} / {f['nannyml_abs_error']:.4f} "
            f"| {f['ours_coverage']:.3f}, {f['ours_half_width']:.4f} | {f['band_coverage']:.3f}, {f['band_half_width']:.4f} "
            f"| {f['z_coverage']:.3f}, {f['z_half_width']:.4f} |"
        )
    print(f"realised values, ours against NannyML's: largest difference {table['realised_vs_nannyml'].max():.2g}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(ROOT / "bench-lake" / "cbpe-nannyml"), help="for the Parquet files")
    args = parser.parse_args(argv)
    folder = Path(args.dir).resolve()
    job = [str(nannyml_python()), "bench/nannyml_cbpe_job.py", "--out", str(folder)]
    process, printed = timed_output([*job, "--metrics", *REALISED.values(), "--chunk-period", CHUNK_PERIOD])
    nannyml = json.loads(printed.strip().splitlines()[-1])
    reference, analysis = (pd.read_parquet(folder / f"{name}.parquet") for name in ("reference", "analysis"))
    theirs = pd.read_parquet(folder / "cbpe.parquet")
    rows = pd.concat([reference, analysis])
    threshold = decision_threshold(rows["y_pred_proba"], rows["y_pred"])
    started = time.perf_counter()
    states, starts = our_states(reference, analysis, chunk_starts(analysis["timestamp"]))
    built = time.perf_counter()
    ours, z = our_estimates(states, starts, threshold)
    finalised = time.perf_counter()
    table = figures(ours, theirs, z, nannyml["band_sampling_errors"])
    print(
        f"car-loan data: {len(reference):,} reference rows, {len(analysis):,} analysis rows in {len(ours)} chunks "
        f"(chunk_period {CHUNK_PERIOD!r}); threshold {threshold:g} (y_pred = y_pred_proba >= it on every row)"
    )
    print(
        f"NannyML {nannyml['version']} (pinned {NANNYML_VERSION}) calibrated the scores: {nannyml['calibrated']}; "
        f"fit {nannyml['fit_seconds']:.1f} s, estimate {nannyml['estimate_seconds']:.1f} s (its process: {process:.1f} s)"
    )
    reliable = ours["value"]["estimates_reliable"].dropna()
    print(
        f"perfmon-spark: states (pandas, the job's aggregation in a run) {built - started:.1f} s, finalise_slice "
        f"{finalised - built:.1f} s (the version and *: every estimate, realised metric and the back-test); "
        f"estimates_reliable 1 on {int(reliable.sum())} of {len(reliable)} chunks"
    )
    report(table, z, nannyml["band_sampling_errors"])


if __name__ == "__main__":
    main()
