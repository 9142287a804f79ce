"""``bench/bench_alert_rules.py`` on tiny inputs, so that the bench cannot rot: every figure it
prints is computed once, and the false-discovery run finds a drop among a few series."""

from __future__ import annotations

from bench import bench_alert_rules as bench


def test_the_bench_runs_every_figure_on_tiny_inputs(capsys):
    bench.main(["--seeds", "1", "--series", "2", "--fdr-seeds", "1", "--fdr-series", "4"])
    out = capsys.readouterr().out
    for figure in ("binomial, stable", "one bad day", "300 labels", "10% drop", "day-to-day", "FDR step", "elapsed"):
        assert figure in out


def test_a_daily_run_with_the_fdr_step_finds_a_real_drop():
    run = bench.fdr_run(0, series=4, drops=(0,))
    assert set(run.found) == {"s0"} and run.found["s0"] >= 110
    assert 0 <= run.false <= run.false_without and 0 <= run.false_share <= 1
