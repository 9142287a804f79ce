"""The benches that need no Spark, run end to end on tiny inputs, so that none of them rots
between the runs that measure; of a bench that compares with another library, its own side (the
library is not installed here)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bench import bench_cbpe_nannyml as cbpe
from bench import bench_interval_coverage as coverage
from perfmon_spark.metrics.estimated import ESTIMATES


def test_bench_interval_coverage_runs(capsys):
    tiny = ["--replicates", "6", "--truth-rows", "2000", "--sizes", "40", "--references", "2", "--days", "6"]
    coverage.main([*tiny, "--reference-labels", "150", "--window", "120"])
    out = capsys.readouterr().out
    for problem_type in coverage.CASES:
        for metric in coverage._with_intervals(problem_type):
            assert re.search(rf"^{problem_type} +n=40 +{re.escape(metric)} +[01]\.\d{{3}}", out, re.M), metric
    for scenario in coverage.SCENARIOS:
        for name in ESTIMATES:
            assert re.search(rf"^{scenario} +{name} +coverage [01]\.\d{{3}} +bias/half-width [-+]\d", out, re.M)
        assert re.search(rf"^{scenario} +estimates_reliable +share reliable [01]\.\d{{3}}", out, re.M), scenario
    assert "unreliable after the shift:" in out and "elapsed" in out


def _car_loan_like(rng, n: int, start: str, days: int) -> pd.DataFrame:
    """Rows in the columns of NannyML's car-loan data: calibrated scores rounded to hundredths
    (Beta(5, 2)), decided at 0.65, over ``days`` days from ``start``."""
    score = rng.beta(5, 2, n).round(2)
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, days, n), unit="D"),
            "y_pred_proba": score,
            "y_pred": (score >= 0.65).astype(int),
            "repaid": (rng.random(n) < score).astype(float),
        }
    )


def test_bench_cbpe_nannyml_core_runs(capsys):
    """Our side of the comparison on a tiny reference and four daily chunks; NannyML's side is
    stood in for by a frame in its flattened columns, our figures moved by 0.01."""
    rng = np.random.default_rng(0)
    reference, analysis = _car_loan_like(rng, 400, "2018-01-01", 5), _car_loan_like(rng, 300, "2018-01-06 12:00", 3)
    threshold = cbpe.decision_threshold(analysis["y_pred_proba"], analysis["y_pred"])
    assert 0.65 <= threshold < 0.7
    with pytest.raises(ValueError, match=r"1 rows with score >= 0\.2 decided negative"):
        cbpe.decision_threshold([0.1, 0.3, 0.2], [0, 0, 1])
    chunks = cbpe.chunk_starts(analysis["timestamp"])
    states, starts = cbpe.our_states(reference, analysis, chunks)
    assert list(starts) == list(pd.date_range("2018-01-06", periods=4, freq="D"))
    ours, z = cbpe.our_estimates(states, starts, threshold)
    assert list(ours.index) == list(starts) and z == pytest.approx(1.96, abs=0.01)
    for name, realised in cbpe.REALISED.items():
        assert ours["value"][name].between(0, 1).all() and ours["value"][realised].between(0, 1).all()
    day = analysis[chunks == starts[1]]
    accuracy = (day["y_pred"] == day["repaid"]).mean()
    assert ours["value"]["accuracy"].iloc[1] == pytest.approx(accuracy)  # the chunk's own rows

    theirs = {"chunk_start_date": starts}
    for name, realised in cbpe.REALISED.items():
        value = ours["value"][name].to_numpy() + 0.01
        theirs |= {
            f"{realised}_value": value,
            f"{realised}_sampling_error": np.full(len(starts), 0.02),
            f"{realised}_lower_confidence_boundary": value - 0.06,
            f"{realised}_upper_confidence_boundary": value + 0.06,
            f"{realised}_realized": ours["value"][realised].to_numpy(),
        }
    table = cbpe.figures(ours, pd.DataFrame(theirs), z, band=3)
    assert list(table.index) == list(ESTIMATES) and (table["chunks"] == len(starts)).all()
    np.testing.assert_allclose(table[["mean_abs_diff", "max_abs_diff", "correlation"]], [[0.01, 0.01, 1.0]] * 5)
    np.testing.assert_allclose(table[["band_half_width", "realised_vs_nannyml"]], [[0.06, 0.0]] * 5, atol=1e-12)
    cbpe.report(table, z, band=3)
    out = capsys.readouterr().out
    for name in ESTIMATES:
        assert re.search(rf"^\| {name} \| 4 \| 0\.0100 \| 0\.0100 \| 1\.00000, ", out, re.M), name
    assert "largest difference 0" in out


def test_bench_scale_reads_a_runs_progress_lines_and_gc_log(capsys, tmp_path):
    """bench_scale times each stage from the progress lines ``perfmon run`` prints, and the
    driver's heap after collections from the JVM's GC log (``-Xlog:gc``)."""
    from bench import bench_scale
    from perfmon_spark import cli
    from perfmon_spark.job.progress import Stopwatch
    from perfmon_spark.vocabulary import Stage

    cli.show_progress(True)
    try:
        watch = Stopwatch()
        for stage in (Stage.READ, Stage.STATES):
            with watch.stage(stage) as note:
                note("12 predictions read")
    finally:
        cli.show_progress(False)
    measure = bench_scale.Measure(1.0, bench_scale.Peaks(), 0, "", capsys.readouterr().err)
    assert measure.stages() == {stage: pytest.approx(seconds, abs=0.05) for stage, seconds in watch.seconds.items()}

    (tmp_path / "gc-1.log").write_text(
        "[0.41s][info][gc] GC(0) Pause Young (Allocation Failure) 64M->12M(245M) 8.1ms\n"
        "[9.02s][info][gc] GC(1) Pause Full (Ergonomics) 900M->310M(2048M) 120.4ms\n"
    )
    assert bench_scale._heap_after_gc(tmp_path) == 310 * 2**20
