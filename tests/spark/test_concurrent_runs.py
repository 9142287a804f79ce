"""One run of a monitor at a time (``io.claims``, SPEC §6), on real Delta tables: a run or a
backfill that finds the monitor held stops with ``ConcurrentRunError`` (exit 5) and changes no
table, not even by an empty commit; a run that waits goes ahead once the holder lets go; a claim a
killed run left is taken over once it has expired, and another monitor's claim in the same table
is no obstacle; two runs started together on one session give one result and one refusal, and no
table holds a key twice. Two real ``perfmon run`` processes: tests/e2e/test_concurrent_runs.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pandas as pd
import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConcurrentRunError
from perfmon_spark.io.claims import POLL_SECONDS, Claim, DeltaClaims, release, take, utc_now
from perfmon_spark.io.lake import Lake
from perfmon_spark.job import run_monitor
from tests.helpers import (
    LABELS_DDL,
    PREDICTIONS_DDL,
    T0,
    config_dict,
    duplicate_keys,
    make_inputs,
    read_table,
    table_versions,
    write_delta,
)

DAY = timedelta(days=1)
AS_OF = T0 + 5 * DAY


@pytest.fixture(scope="module")
def inputs(spark, tmp_path_factory):
    """A small lake shared by the module's monitors (each writes its own output tables)."""
    root = tmp_path_factory.mktemp("claims")
    preds, labels = make_inputs(n=300, days=4, seed=13)
    return (
        write_delta(spark, preds, PREDICTIONS_DDL, root / "predictions"),
        write_delta(spark, labels, LABELS_DDL, root / "labels"),
    )


def config(inputs, out, name: str):
    p, lab = inputs
    data = config_dict(
        p, lab, str(out), name=name, metrics=["accuracy"], segments={}, windows={"granularity": "1 day", "rolling": []}
    )
    return parse_config(data)


def claims_of(spark, cfg) -> DeltaClaims:
    return DeltaClaims(Lake(spark, cfg))


def hold(spark, cfg, run_id: str) -> Claim:
    """The monitor taken by a run that is not this process's ``run_monitor`` (another one's)."""
    claim = Claim.new(cfg.name, run_id, "incremental", AS_OF, utc_now(), timedelta(hours=1))
    return take(claims_of(spark, cfg), claim).claim


def test_a_run_stops_at_once_while_another_holds_the_monitor_and_one_that_waits_goes_ahead(
    spark, inputs, tmp_path, monkeypatch
):
    cfg = config(inputs, tmp_path / "out", "claimed")
    first = run_monitor(cfg, AS_OF, spark=spark)
    holder = hold(spark, cfg, "20260306T000000-holder00")
    before = table_versions(spark, cfg)
    assert before["claims"] is not None and before["runs"] is not None
    for kwargs in ({}, {"backfill": (T0 + DAY, T0 + 3 * DAY)}):
        with pytest.raises(ConcurrentRunError) as refused:
            run_monitor(cfg, AS_OF + DAY, spark=spark, **kwargs)
        assert refused.value.exit_code == 5
        assert str(refused.value).startswith(
            "concurrent run: monitor 'claimed' is held by run 20260306T000000-holder00 "
            "(incremental as of 2026-03-06T00:00:00Z, host "
        ), str(refused.value)
        assert str(refused.value).endswith("this run stopped before writing anything (--wait SECONDS waits for it)")
    assert table_versions(spark, cfg) == before  # nothing written, not even an empty commit or a FAILED row
    assert read_table(spark, cfg, "runs")["run_id"].tolist() == [first.run_id]

    # a run that may wait finds the monitor held; the holder ends meanwhile; the run goes ahead
    seen_held = threading.Event()
    real_read = DeltaClaims.read

    def read(store):
        found = real_read(store)
        if found is not None and found.run_id == holder.run_id and found.released_at is None:
            seen_held.set()
        return found

    def holder_ends():
        if seen_held.wait(timeout=120):
            release(claims_of(spark, cfg), holder)

    monkeypatch.setattr(DeltaClaims, "read", read)
    ending = threading.Thread(target=holder_ends)
    ending.start()
    try:
        waited = run_monitor(cfg, AS_OF + DAY, spark=spark, wait=120)
    finally:
        ending.join()
    assert waited.status == "SUCCEEDED" and waited.mode == "incremental", waited.message
    assert waited.stage_seconds["validate"] >= POLL_SECONDS  # it read the claim held, then again a poll later
    assert sorted(read_table(spark, cfg, "runs")["run_id"]) == sorted([first.run_id, waited.run_id])
    (claim,) = read_table(spark, cfg, "claims").itertuples()
    assert claim.run_id == waited.run_id and pd.notna(claim.released_at)  # it let the monitor go
    assert claim.mode == "incremental" and claim.expires_at - claim.claimed_at == pd.Timedelta(hours=6)
    assert set(duplicate_keys(spark, cfg).values()) == {0}


def test_an_expired_claim_is_taken_over_and_another_monitors_claim_is_no_obstacle(spark, inputs, tmp_path):
    """A run killed outright leaves its claim held; once ``run_timeout`` has passed, the next run
    takes the monitor over. A monitor sharing the output location keeps its own claim."""
    cfg = config(inputs, tmp_path / "out", "orphaned")
    killed = Claim.new(
        cfg.name, "20260301T000000-killed00", "backfill", AS_OF, utc_now() - timedelta(hours=7), timedelta(hours=6)
    )
    assert claims_of(spark, cfg).write(killed)  # the first claim of the location creates the table
    assert claims_of(spark, cfg).read() == killed
    neighbour = hold(spark, config(inputs, tmp_path / "out", "neighbour"), "20260306T000000-neighb00")

    result = run_monitor(cfg, AS_OF, spark=spark)
    assert result.status == "SUCCEEDED"
    claims = read_table(spark, cfg, "claims").set_index("monitor")
    assert claims.loc["orphaned", "run_id"] == result.run_id and pd.notna(claims.loc["orphaned", "released_at"])
    assert claims.loc["neighbour", "run_id"] == neighbour.run_id and pd.isna(claims.loc["neighbour", "released_at"])
    # the killed run recorded FAILED by the run that found its claim never let go (it had no runs row)
    runs = read_table(spark, cfg, "runs").set_index("run_id")
    assert sorted(runs.index) == sorted([result.run_id, killed.run_id])
    assert runs.loc[killed.run_id, ["status", "mode", "as_of"]].tolist() == ["FAILED", "backfill", AS_OF]
    assert runs.loc[killed.run_id, "message"].startswith("killed outright (host ")


def test_two_runs_started_together_give_one_result_and_one_refusal(spark, inputs, tmp_path):
    """Both threads read the monitor free (or one finds the other's claim): either way one takes
    it, the other's commit loses (or it reads the winner) and it stops, having written nothing."""
    cfg = config(inputs, tmp_path / "out", "together")
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run_monitor, cfg, AS_OF, spark=spark) for _ in range(2)]
        outcomes = [f.exception() or f.result() for f in futures]
    refused = [o for o in outcomes if isinstance(o, ConcurrentRunError)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    # the loser finds the winner's claim, or (had the winner ended before it) the winner's runs row
    winner = done[0].run_id
    overtaken = (f"monitor 'together' is held by run {winner} ", f"monitor 'together': run {winner} ended while")
    assert any(text in str(refused[0]) for text in overtaken), refused
    assert read_table(spark, cfg, "runs")["run_id"].tolist() == [done[0].run_id]
    assert set(duplicate_keys(spark, cfg).values()) == {0}
