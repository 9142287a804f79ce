"""Two real ``perfmon run`` processes started together on one monitor, each with its own JVM, on a
tiny lake whose output location no run has written yet (so that they may also race to create the
``claims`` table): exactly one runs (exit 0, its line on stdout); the other stops with exit 5 and
one line on stderr naming the monitor and the run that holds it; no output table holds a key twice,
``runs`` holds the one run, and ``claims`` says that run let the monitor go. The same claim on
Delta tables in one session, with waits and expiry: tests/spark/test_concurrent_runs.py."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from perfmon_spark.config import load_config
from tests.helpers import (
    BIN,
    LABELS_DDL,
    PREDICTIONS_DDL,
    config_dict,
    duplicate_keys,
    make_inputs,
    read_table,
    start,
    write_delta,
)

pytestmark = pytest.mark.e2e


def test_two_perfmon_runs_started_together_give_one_result_and_one_clear_refusal(spark, tmp_path):
    preds, labels = make_inputs(n=300, days=4, seed=17)
    p = write_delta(spark, preds, PREDICTIONS_DDL, tmp_path / "predictions")
    lab = write_delta(spark, labels, LABELS_DDL, tmp_path / "labels")
    data = config_dict(
        p,
        lab,
        str(tmp_path / "out"),
        name="together",
        metrics=["accuracy"],
        segments={},
        windows={"granularity": "1 day", "rolling": []},
        # two JVMs beside the tests' own on a small machine: one core and a small heap each
        spark={"master": "local[1]", "conf": {"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"}},
    )
    config = tmp_path / "perfmon.yml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    command = [str(BIN / "perfmon"), "run", "--config", str(config), "--as-of", "2026-03-06", "--quiet"]

    processes = [start(command, tmp_path / f"run{i}") for i in (1, 2)]
    try:
        codes = [process.wait(timeout=900) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    outs = [(tmp_path / f"run{i}.stdout").read_text() for i in (1, 2)]
    errs = [(tmp_path / f"run{i}.stderr").read_text() for i in (1, 2)]
    assert sorted(codes) == [0, 5], (codes, [e[-2000:] for e in errs])

    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    (run_id,) = re.findall(r"^run (\S+) SUCCEEDED \(", outs[winner], re.MULTILINE)
    refusal = [line for line in errs[loser].splitlines() if line.startswith("concurrent run: ")]
    assert len(refusal) == 1, errs[loser]
    # the loser finds the winner's claim, or (had the winner ended before it) the winner's runs row
    assert refusal[0].startswith(
        (
            f"concurrent run: monitor 'together' is held by run {run_id} (",
            f"concurrent run: monitor 'together': run {run_id} ended while this run read its inputs; ",
        )
    ), refusal[0]
    assert refusal[0].endswith("this run stopped before writing anything (--wait SECONDS waits for it)")
    errors = [line for line in errs[loser].splitlines() if "error" in line.lower() or "Traceback" in line]
    assert errors == [] and outs[loser] == "", errs[loser]

    cfg = load_config(config)
    assert set(duplicate_keys(spark, cfg).values()) == {0}
    assert read_table(spark, cfg, "runs")["run_id"].tolist() == [run_id]
    (claim,) = read_table(spark, cfg, "claims").itertuples()
    assert claim.run_id == run_id and pd.notna(claim.released_at)
