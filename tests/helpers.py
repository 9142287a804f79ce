"""The one helpers module of the tests: the config builder, small named builders of input tables
with fixed UTC timestamps, the Delta table reader, the fault-injection helper and a loopback HTTP
server. Test modules import from here (or from ``tests.oracle`` and ``tests.statebuild``), never
from each other. Nothing here starts Spark: functions that need it take the session."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from perfmon_spark.metrics import metric_names
from perfmon_spark.metrics.estimated import ESTIMATED_METRICS
from perfmon_spark.metrics.proxies import REFERENCE_METRICS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's console scripts (perfmon, spark-submit)
DEMO_AS_OF = datetime(2026, 3, 2)  # the e2e demo's start + --days 60


def _user_env() -> dict[str, str]:
    """The environment of a command as a user runs it: the venv's scripts first on PATH."""
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYSPARK_PYTHON=sys.executable)


def run(args, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """A command as a user runs it: from the project folder, with the venv's scripts first on PATH
    (and ``env``'s variables)."""
    return subprocess.run(
        args, cwd=ROOT, env={**_user_env(), **(env or {})}, capture_output=True, text=True, timeout=900, **kw
    )


def start(args, out: Path) -> subprocess.Popen:
    """``run`` without waiting for the end (to run several at once): the command's stdout and
    stderr go to the files ``out.stdout`` and ``out.stderr``, which never fill up as a pipe would."""
    with out.with_suffix(".stdout").open("w") as stdout, out.with_suffix(".stderr").open("w") as stderr:
        return subprocess.Popen(args, cwd=ROOT, env=_user_env(), stdout=stdout, stderr=stderr, text=True)


def perfmon_without(*modules: str) -> list[str]:
    """The command line of ``perfmon`` as on a machine where ``modules`` (``pyspark``, an extra's
    package) are not installed: any import of them fails. Arguments follow."""
    hidden = "".join(f"sys.modules[{m!r}] = None; " for m in modules)
    return [
        sys.executable,
        "-c",
        f"import sys; {hidden}from perfmon_spark.cli import main; sys.exit(main(sys.argv[1:]))",
    ]


def perfmon_without_java(modules: tuple[str, ...], args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``perfmon args`` from the project folder, ``modules`` not installed (``perfmon_without``) and
    ``JAVA_HOME`` an empty folder: a command that reached the point where it starts Spark would
    fail there rather than start it (for tests of what happens before)."""
    env = dict(os.environ, JAVA_HOME=str(tmp_path))
    return subprocess.run([*perfmon_without(*modules), *args], cwd=ROOT, env=env, capture_output=True, text=True)


# --- config -------------------------------------------------------------------------------------

BASE = {
    "version": 1,
    "name": "fraud_scoring",
    "problem_type": "binary",
    "predictions": {
        "table": "./lake/predictions",
        "id": "prediction_id",
        "timestamp": "prediction_ts",
        "model_version": "model_version",
        "score": "score",
    },
    "labels": {"table": "./lake/labels", "id": "prediction_id", "label": "is_fraud", "timestamp": "label_ts"},
    "metrics": ["accuracy", "precision", "recall", "f1", "roc_auc"],
    "output": {"location": "./lake/monitoring"},
}
"""A minimal binary config: everything else takes its documented default."""

DELETE = object()
"""A ``with_changes`` value that removes the key."""


def with_changes(**changes) -> dict:
    """A deep copy of ``BASE`` with ``changes``: ``a__b=v`` sets ``cfg["a"]["b"]`` (creating the
    parent mappings), ``a__b=DELETE`` removes it."""
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return cfg


BINARY_METRICS = tuple(m for m in metric_names("binary") if m not in REFERENCE_METRICS + ESTIMATED_METRICS)
"""Every binary metric but those that compare a window with a reference period (the distribution
distances and the estimates; the registry's, tests/unit/test_registry.py holds them to SPEC's list)."""


def config_dict(pred_path: str, label_path: str, out: str, **extra) -> dict:
    """``BASE`` over the tables of ``make_inputs``: monitor ``fraud``, labels ignored after 7 days,
    both segments and their cross (top 2 values each), every binary metric, daily buckets with a
    3-day rolling window; ``extra`` replaces top-level keys."""
    data = with_changes(
        name="fraud",
        predictions__table=pred_path,
        predictions__threshold=0.5,
        labels__table=label_path,
        labels__max_delay="7 days",
        segments={"columns": ["country", "channel"], "cross": [["country", "channel"]], "max_values": 2},
        metrics=list(BINARY_METRICS),
        windows={"granularity": "1 day", "rolling": ["3 days"]},
        output={"location": out},
    )
    data.update(extra)
    return data


# --- input tables -------------------------------------------------------------------------------

PREDICTIONS_DDL = (
    "prediction_id string, prediction_ts timestamp, model_version string, score double, "
    "country string, channel string, amount double"
)
LABELS_DDL = "prediction_id string, is_fraud int, label_ts timestamp"
T0 = datetime(2026, 3, 1)


def make_inputs(n: int = 1500, days: int = 10, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and label events with every kind of trouble SPEC §3 names:
    duplicate ids, null and out-of-range scores, null versions, null segment values,
    corrected labels, labels past max_delay, labels before their prediction, bad label values,
    labels arriving after as_of, orphan labels."""
    rng = np.random.default_rng(seed)
    ts = [T0 + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, days * 86400, n))]
    y = (rng.random(n) < 0.25).astype(int)
    score = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.18, n), 0, 1).round(3)
    preds = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "prediction_ts": ts,
            "model_version": np.where(rng.random(n) < 0.6, "v1", "v2"),
            "score": score,
            "country": rng.choice(["US", "GB", "DE", None], n, p=[0.5, 0.25, 0.2, 0.05]),
            "channel": rng.choice(["web", "app"], n),
            "amount": (rng.random(n) * 100).round(2),
        }
    )
    preds["score"] = preds["score"].astype(object)
    preds.loc[5, "score"] = float("nan")  # NaN and null are different faults
    preds.loc[6, "score"] = 1.5
    preds.loc[7, "score"] = None
    preds.loc[8, "model_version"] = None
    dup = preds.iloc[[10, 11]].copy()
    dup["prediction_ts"] = dup["prediction_ts"] + timedelta(hours=1)  # later duplicates: dropped
    preds = pd.concat([preds, dup], ignore_index=True)

    labeled = rng.random(n) < 0.85
    delay = rng.exponential(3.0, n) * 86400
    rows = []
    for i in np.nonzero(labeled)[0]:
        arrival = ts[i] + timedelta(seconds=float(delay[i]))
        rows.append((f"p{i}", int(1 - y[i]) if i % 17 == 0 else int(y[i]), arrival))
        if i % 17 == 0:  # corrected two days later
            rows.append((f"p{i}", int(y[i]), arrival + timedelta(days=2)))
    rows += [
        ("p20", 1, ts[20] + timedelta(days=9)),  # past max_delay (7 days in the tests): ignored
        ("p21", 1, ts[21] - timedelta(hours=2)),  # before its prediction: quarantined
        ("p22", 7, ts[22] + timedelta(days=1)),  # bad label value
        ("p23", None, ts[23] + timedelta(days=1)),  # null label
        (None, 1, ts[24] + timedelta(days=1)),  # null id
        ("ghost-1", 1, ts[25]),  # orphan
        ("p26", 1, ts[26] + timedelta(days=1)),
        ("p26", 0, ts[26] + timedelta(days=1)),  # tie on label_ts: the greater label wins
    ]
    labels = pd.DataFrame(rows, columns=["prediction_id", "is_fraud", "label_ts"])
    labels["is_fraud"] = labels["is_fraud"].astype("Int64")
    return preds, labels


# --- Delta tables -------------------------------------------------------------------------------


def _plain(value):
    """pandas missing markers -> None; float NaN stays NaN (a value, not a null)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_delta(spark, pdf: pd.DataFrame, ddl: str, path, mode: str = "overwrite") -> str:
    """Write (or append) rows to a Delta table with the change data feed on."""
    records = [tuple(_plain(v) for v in row) for row in pdf.astype(object).itertuples(index=False)]
    writer = spark.createDataFrame(records, ddl).write.format("delta").mode(mode)
    writer.option("delta.enableChangeDataFeed", "true").save(str(path))
    return str(path)


def load_table(spark, where, name: str | None = None):
    """The current version of a Delta table as a Spark DataFrame: the output table ``name`` of the
    config ``where``, or (without ``name``) the table at the path ``where``."""
    path = str(where) if name is None else where.output.table(name).text
    return spark.read.format("delta").load(path)


def read_table(spark, where, name: str | None = None) -> pd.DataFrame:
    """``load_table`` as pandas (timestamps naive UTC: the session's time zone is UTC)."""
    return load_table(spark, where, name).toPandas()


def table_versions(spark, cfg) -> dict[str, int | None]:
    """The current Delta version of each output table of ``cfg`` (None: not created): equal
    before and after a step that wrote nothing, not even an empty commit."""
    from delta.tables import DeltaTable

    from perfmon_spark.io.catalog import OUTPUT_TABLES

    versions = {}
    for table in OUTPUT_TABLES:
        path = cfg.output.table(table.name).text
        exists = DeltaTable.isDeltaTable(spark, path)
        versions[table.name] = DeltaTable.forPath(spark, path).history(1).first()["version"] if exists else None
    return versions


def duplicate_keys(spark, cfg) -> dict[str, int]:
    """Per existing output table of ``cfg``, the number of its keys (the catalogue's; ``run_id``
    for the ``runs`` log) held by more than one row: all 0 after runs that never wrote together."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from perfmon_spark.io.catalog import OUTPUT_TABLES

    found = {}
    for table in OUTPUT_TABLES:
        path = cfg.output.table(table.name).text
        if DeltaTable.isDeltaTable(spark, path):
            rows = load_table(spark, path)
            found[table.name] = rows.groupBy(*table.key).count().filter(F.col("count") > 1).count()
    return found


def with_tuples(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose array cells (lists or numpy arrays, as ``toPandas`` gives them) are
    tuples, so that pandas can sort, hash and compare every column; null cells stay null."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
    return out


# --- the alerting lake ---------------------------------------------------------------------------

ALERTING_T0 = datetime(2026, 5, 1)
ALERTING_DAYS, _PER_DAY, _DROP_DAY = 24, 240, 14


def alerting_inputs(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """24 days of 240 predictions, labelled 20 hours later. v1 stays at ~88% accuracy; v2 too,
    until day 14, when it falls to ~40% in BR only."""
    rng = np.random.default_rng(seed)
    n = ALERTING_DAYS * _PER_DAY
    ts = [ALERTING_T0 + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, ALERTING_DAYS * 86400, n))]
    version = rng.choice(["v1", "v2"], n)
    country = rng.choice(["US", "BR"], n)
    y = (rng.random(n) < 0.4).astype(int)
    day = np.array([(t - ALERTING_T0).days for t in ts])
    bad = (version == "v2") & (country == "BR") & (day >= _DROP_DAY)
    correct = rng.random(n) < np.where(bad, 0.4, 0.88)
    decision = np.where(correct, y, 1 - y)
    score = np.where(decision == 1, 0.5 + 0.5 * rng.random(n), 0.5 * rng.random(n)).round(4)
    preds = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "prediction_ts": ts,
            "model_version": version,
            "score": score,
            "country": country,
            "channel": "web",
            "amount": rng.exponential(50, n).round(2),
        }
    )
    labels = pd.DataFrame(
        {"prediction_id": preds["prediction_id"], "is_fraud": y, "label_ts": [t + timedelta(hours=20) for t in ts]}
    )
    return preds, labels


def alerting_config_dict(pred_path: str, label_path: str, out: str) -> dict:
    """Monitor ``alerting`` over ``alerting_inputs``: accuracy and ROC AUC per country, labels
    ignored after 2 days, a 7-day window baseline, one accuracy rule with every level, a webhook
    (``PERFMON_TEST_HOOK``) for SUSTAINED and CRITICAL, retraining and a loss-rate KPI."""
    data = config_dict(pred_path, label_path, out, name="alerting", metrics=["accuracy", "roc_auc"])
    data["labels"]["max_delay"] = "2 days"
    data["segments"] = {"columns": ["country"]}
    data["windows"] = {"granularity": "1 day", "rolling": ["3 days"]}
    data["baseline"] = {"source": "window", "window": "7 days"}
    data["alerts"] = [
        {
            "name": "accuracy_drop",
            "metric": "accuracy",
            "window": "3 days",
            "min_labeled": 50,
            "minor": {"ratio": 0.95},
            "sustained": {"ratio": 0.9, "consecutive": 2},
            "critical": {"ratio": 0.7},
            "resolve_after": 2,
        },
    ]
    data["notifications"] = [
        {"type": "webhook", "url_env": "PERFMON_TEST_HOOK", "levels": ["SUSTAINED", "CRITICAL"], "retries": 1}
    ]
    data["retrain"] = {"cooldown": "14 days", "min_new_labels": 100}
    data["kpis"] = [
        {
            "name": "fraud_loss_rate",
            "numerator": "CASE WHEN label = 1 AND prediction = 0 THEN amount ELSE 0 END",
            "denominator": "amount",
            "max": 0.5,
        }
    ]
    return data


# --- fault injection ----------------------------------------------------------------------------


def run_killed_at(monkeypatch, table: str, run) -> None:
    """Fault injection: ``run()`` dies when it MERGEs into the output table ``table`` (every
    MERGE goes through ``io.lake``; nothing of that write lands); the real MERGE is back
    afterwards."""
    import pytest

    from perfmon_spark.io import lake as module

    real_merge = module.merge_into

    def dies(df, ref, *args, **kwargs):
        if ref.text.endswith(table):
            raise RuntimeError(f"killed before {table}")
        return real_merge(df, ref, *args, **kwargs)

    monkeypatch.setattr(module, "merge_into", dies)
    with pytest.raises(RuntimeError, match="killed"):
        run()
    monkeypatch.setattr(module, "merge_into", real_merge)


def run_killed_outright(monkeypatch, table: str, run) -> None:
    """As ``run_killed_at``, and as a SIGKILL would: no FAILED ``runs`` row and the claim on the
    monitor never let go (it holds until it expires or is ended by hand)."""
    from perfmon_spark.io import claims
    from perfmon_spark.job import run as job_run

    with monkeypatch.context() as patched:
        patched.setattr(job_run, "_record_failure", lambda *args: None)
        patched.setattr(claims, "release", lambda *args, **kwargs: False)
        run_killed_at(patched, table, run)


def copied_before(monkeypatch, folder, cells: dict[tuple[str, int], Path], run) -> list[str]:
    """Run ``run()``, copying the output folder ``folder`` to ``cells[(table, n)]`` just before its
    n-th commit (from 0) to that output table: the lake a run killed outright there leaves (its
    claim held, no ``runs`` row). Returns the tables it wrote to, in order. Each cell's write must
    commit (a MERGE that changes nothing commits nothing)."""
    from delta.tables import DeltaTable

    from perfmon_spark.io import lake as module

    writes = []
    real = {"merge_into": module.merge_into, "append": module.append}

    def version(df, ref):
        exists = DeltaTable.isDeltaTable(df.sparkSession, ref.text)
        return DeltaTable.forPath(df.sparkSession, ref.text).history(1).first()["version"] if exists else -1

    def copying(name):
        def write(df, ref, *args, **kwargs):
            table = ref.text.rsplit("/", 1)[-1]
            cell = (table, writes.count(table))
            writes.append(table)
            if cell not in cells:
                return real[name](df, ref, *args, **kwargs)
            shutil.copytree(folder, cells[cell])
            before = version(df, ref)
            out = real[name](df, ref, *args, **kwargs)
            assert version(df, ref) > before, f"write {cell[1]} to {table} committed nothing"
            return out

        return write

    with monkeypatch.context() as patched:
        for name in real:
            patched.setattr(module, name, copying(name))
        run()
    return writes


def side_by_side(*runs):
    """The results of independent runs (each writing its own output tables) started together on
    the shared session, in order. A run on a small lake is mostly short jobs and driver-side
    planning, so two of them overlap on two cores; Spark schedules jobs from several threads."""
    with ThreadPoolExecutor(len(runs)) as pool:
        return [f.result() for f in [pool.submit(r) for r in runs]]


# --- HTTP ---------------------------------------------------------------------------------------


class Server:
    """A loopback HTTP server that fails the first ``fail`` POSTs with 503 and records bodies."""

    def __init__(self, fail: int = 0):
        self.fail, self.bodies, self.hits = fail, [], 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.hits += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.hits <= outer.fail:
                    self.send_response(503)
                else:
                    outer.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook?token=secret"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


RANKING_PREDICTIONS_DDL = "request_id string, item_id string, prediction_ts timestamp, model_version string, score double, rank int, country string"
RANKING_LABELS_DDL = "request_id string, item_id string, relevance double, label_ts timestamp"


DAY = timedelta(days=1)
AS_OF = T0 + 5 * DAY
MAX_DELAY = timedelta(days=2)
KS = (3, 5)
METRICS = [f"{m}@{k}" for k in KS for m in ("ndcg", "precision", "recall", "map", "hit_rate")]
METRICS += ["mrr", "list_length_mean", "top_score_mean"]


def ranking_inputs(as_of: datetime, seed: int = 21) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranked lists over four days from T0 (two versions, two countries) with score ties, lists of
    1-8 items, graded feedback on about half the items, a quarter of requests never clicked,
    feedback after the 2-day max_delay, corrections, a duplicate (request, item), feedback for no
    prediction and feedback after ``as_of``. ``rank`` orders each list by ascending score."""
    rng = np.random.default_rng(seed)
    preds, events = [], []
    for r in range(240):
        rid, ts = f"q{r}", T0 + timedelta(minutes=int(rng.integers(0, 4 * 1440)))
        version, country = rng.choice(["v1", "v2"]), rng.choice(["US", "GB"])
        n = int(rng.integers(1, 9))
        scores = rng.integers(0, 6, n) / 5  # ties
        for j in range(n):
            preds.append((rid, f"i{rng.integers(0, 40)}_{j}", ts, version, float(scores[j]), None, country))
        clicked = rng.random()
        for j in range(n):
            item = preds[-n + j][1]
            if clicked < 0.25:  # never clicked: no feedback at all
                break
            if rng.random() < 0.5:
                rel = float(rng.integers(0, 4))  # graded, 0 is an explicit "not relevant"
                delay = timedelta(hours=int(rng.integers(1, 80)))  # some after max_delay (48 h)
                events.append((rid, item, rel, ts + delay))
                if rng.random() < 0.2:  # a correction, later
                    events.append((rid, item, float(rel == 0), ts + delay + timedelta(hours=3)))
    preds.append(
        ("q0", preds[0][1], T0 + timedelta(days=3), "v2", 0.9, None, "US")
    )  # a duplicate (request, item): later loses
    events.append(("q1", "i_unknown", 3.0, T0 + timedelta(days=1)))  # feedback for no prediction
    events.append((preds[5][0], preds[5][1], 3.0, as_of + timedelta(days=1)))  # after as_of
    columns = ["request_id", "item_id", "prediction_ts", "model_version", "score", "rank", "country"]
    frame = pd.DataFrame(preds, columns=columns)
    # the rank column orders the same lists differently: the score's order reversed
    frame["rank"] = frame.groupby("request_id")["score"].rank(method="first").astype(int)
    return frame, pd.DataFrame(events, columns=["request_id", "item_id", "relevance", "label_ts"])


def ranking_lake(spark, root, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """``ranking_inputs`` written as Delta tables under ``root``: (predictions, labels, their paths)."""
    preds, labels = ranking_inputs(as_of)
    return (
        preds,
        labels,
        write_delta(spark, preds, RANKING_PREDICTIONS_DDL, Path(root) / "predictions"),
        write_delta(spark, labels, RANKING_LABELS_DDL, Path(root) / "labels"),
    )


def ranking_config_dict(pred_path: str, label_path: str, out: str, **extra) -> dict:
    """A ranking monitor over ``ranking_lake``'s tables: feedback ignored after 2 days, the
    country segment, daily buckets with a 2-day rolling window; ``extra`` replaces top-level keys."""
    predictions = {"table": pred_path, "request": "request_id", "item": "item_id", "timestamp": "prediction_ts"}
    labels = {"table": label_path, "request": "request_id", "item": "item_id", "label": "relevance"}
    data = dict(
        BASE,
        problem_type="ranking",
        predictions=predictions | {"model_version": "model_version", "score": "score"},
        labels=labels | {"timestamp": "label_ts", "max_delay": "2 days"},
        segments={"columns": ["country"]},
        windows={"granularity": "1 day", "rolling": ["2 days"]},
        output={"location": out},
    )
    return data | extra


# --- servers on loopback ----------------------------------------------------------------------

PUSHGATEWAY = "prometheus-pushgateway"  # Debian's package and binary (make test installs it)


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct loopback TCP ports free at the time of the call (for servers the tests start)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def read_back(url: str, monitor: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The gateway's perfmon_* samples of one monitor: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("perfmon_")
        for s in family.samples
        if s.labels.get("monitor") == monitor
    }
