"""The benches that need no Spark, run end to end on tiny inputs, so that none of them rots
between the runs that measure."""

from __future__ import annotations

import re

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
