"""Property-based fuzzing of row validation (#37 item 5, hypothesis): random prediction and label
rows with nulls, NaN, infinities, huge and negative scores, unicode segment values and versions,
duplicate ids, labels before their prediction or with no prediction, and timestamps far in the
past and the future, through a real run. Every row the run reads is counted exactly once, and
where the SPEC says: a prediction is used or quarantined with its first failed check, a label is
quarantined, an orphan, ignored as late or eligible, each as an oracle of SPEC §3 says. And label
events written in any order, in one commit or several, give the same metrics (full runs: the
incremental and label-delta paths are test_incremental.py's).

Each example is a whole run on new tables (about 15 s), so the examples are few and not shrunk;
a failure prints its rows, and ``@example`` can pin it."""

from __future__ import annotations

import itertools
import math
from collections import Counter, namedtuple
from datetime import datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from perfmon_spark.config import parse_config
from perfmon_spark.job import run_monitor
from perfmon_spark.vocabulary import Reason
from tests.helpers import LABELS_DDL, PREDICTIONS_DDL, T0, config_dict, load_table, read_table

AS_OF = T0 + timedelta(days=10)
MAX_DELAY = timedelta(days=7)
IDS = ["a", "b", "c", "d", "e", None, "ü-1", "😀", " "]  # few ids: duplicates are common
FAR = [datetime(1970, 1, 1), datetime(1900, 1, 1), datetime(2200, 1, 1), AS_OF, AS_OF + timedelta(microseconds=1)]
timestamps = st.one_of(
    st.none(),
    st.datetimes(min_value=T0, max_value=AS_OF + timedelta(days=2)),
    st.sampled_from(FAR),
)
scores = st.one_of(st.none(), st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True))
texts = st.one_of(st.none(), st.text(max_size=3), st.sampled_from(["", "ß", "日本", "a&b", "__other__", "*"]))
predictions = st.lists(
    st.tuples(
        st.sampled_from(IDS),
        timestamps,
        st.one_of(st.none(), st.sampled_from(["v1", "v2", "", "ß"])),
        scores,
        texts,
        texts,
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    ),
    min_size=1,
    max_size=30,
)
labels = st.lists(
    st.tuples(st.sampled_from([*IDS, "ghost"]), st.sampled_from([0, 1, 1, 0, 2, -1, None]), timestamps),
    max_size=30,
)
Prediction = namedtuple("Prediction", "prediction_id prediction_ts model_version score country channel amount")
Label = namedtuple("Label", "prediction_id is_fraud label_ts")


def prediction_reason(row) -> str | None:
    """SPEC §3's first failed check of a prediction row (probability scores)."""
    if row.prediction_id is None:
        return Reason.NULL_ID
    if row.prediction_ts is None:
        return Reason.NULL_TIMESTAMP
    if row.model_version is None:
        return Reason.NULL_MODEL_VERSION
    if row.score is None:
        return Reason.NULL_SCORE
    if not math.isfinite(row.score) or not 0 <= row.score <= 1:
        return Reason.SCORE_OUT_OF_RANGE
    return None


def oracle(preds: list[tuple], labs: list[tuple]) -> dict:
    """What the run must count: rows read, quarantined by (source, reason), orphan and late labels,
    and the predictions used (plain Python: pandas would read a null score as NaN)."""
    visible = [Prediction(*row) for row in preds if row[1] is None or row[1] <= AS_OF]
    reasons = [prediction_reason(r) for r in visible]
    kept: dict[str, datetime] = {}
    valid = sorted(
        (i for i, reason in enumerate(reasons) if reason is None),
        key=lambda i: (visible[i].prediction_ts, visible[i].model_version, visible[i].score),
    )
    for i in valid:  # the earliest valid row of an id is kept, the others are duplicates
        if visible[i].prediction_id in kept:
            reasons[i] = Reason.DUPLICATE_ID
        else:
            kept[visible[i].prediction_id] = visible[i].prediction_ts
    read_labels = [Label(*row) for row in labs if row[2] is None or row[2] <= AS_OF]
    statuses = [label_status(r, kept.get(r.prediction_id)) for r in read_labels]
    bad = [("predictions", r, row) for r, row in zip(reasons, visible) if r is not None]
    bad += [("labels", s, row) for s, row in zip(statuses, read_labels) if s not in LABEL_STATUSES]
    quarantined = Counter((source, reason) for source, reason, _ in bad)
    # identical rows are one record (repr: NaN equals NaN, -0.0 is not 0.0, as in the record's JSON)
    records = {(source, reason, tuple(map(repr, row))) for source, reason, row in bad}
    return {
        "read": (len(visible), len(read_labels)),
        "quarantined": dict(quarantined),
        "records": len(records),
        "orphans": statuses.count("orphan"),
        "late": statuses.count("late"),
        "used": reasons.count(None),
    }


LABEL_STATUSES = ("orphan", "late", "eligible")


def label_status(r, pred_ts: datetime | None) -> str:
    """A label row's quarantine reason, or what else it is, given its id's kept prediction time."""
    if r.prediction_id is None:
        return Reason.NULL_ID
    if r.label_ts is None:
        return Reason.NULL_TIMESTAMP
    if r.is_fraud not in (0, 1):
        return Reason.BAD_LABEL
    if pred_ts is not None and r.label_ts < pred_ts:
        return Reason.LABEL_BEFORE_PREDICTION
    if pred_ts is None:
        return "orphan"
    return "late" if r.label_ts > pred_ts + MAX_DELAY else "eligible"


def write_rows(spark, rows: list[tuple], ddl: str, path) -> str:
    """A Delta table of ``rows`` as given (a null stays null, NaN stays NaN), change data feed on."""
    spark.createDataFrame(rows, ddl).write.format("delta").option("delta.enableChangeDataFeed", "true").save(str(path))
    return str(path)


_run = itertools.count()


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a whole run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(preds=predictions, labs=labels)
def test_every_row_read_is_counted_once_where_the_spec_says(spark, tmp_path, preds, labs):
    root = tmp_path / f"example{next(_run)}"
    p = write_rows(spark, preds, PREDICTIONS_DDL, root / "predictions")
    lab = write_rows(spark, labs, LABELS_DDL, root / "labels")
    cfg = parse_config(
        config_dict(
            p,
            lab,
            str(root / "out"),
            name="fuzz",
            metrics=["accuracy", "roc_auc"],
            segments={"columns": ["country", "channel"], "cross": [["country", "channel"]], "max_values": 3},
        )
    )
    expected = oracle(preds, labs)
    result = run_monitor(cfg, AS_OF, spark=spark)
    assert result.status == "SUCCEEDED", result.message
    assert (result.rows_read_predictions, result.rows_read_labels) == expected["read"]
    quarantine = read_table(spark, cfg, "quarantine") if result.rows_quarantined else pd.DataFrame()
    found = {} if quarantine.empty else quarantine.groupby(["source", "reason"])["n_rows"].sum().to_dict()
    assert found == expected["quarantined"]  # every bad row, identical ones in their record's n_rows
    assert result.rows_quarantined == len(quarantine) == expected["records"]
    assert (result.orphan_labels, result.late_labels_ignored) == (expected["orphans"], expected["late"])
    metrics = read_table(spark, cfg, "perf_metrics")
    overall = metrics.query("model_version == '*' and slice_key == '*' and window == '1 day' and metric == 'accuracy'")
    assert overall["n_predictions"].sum() == expected["used"]
    values = load_table(spark, cfg, "perf_metrics").select("value")
    assert values.filter(F.isnan("value") | F.col("value").isin(math.inf, -math.inf)).count() == 0  # never NaN


# few distinct arrival times and labels that disagree: ties between events of one id are common
arrivals = st.sampled_from([T0 + timedelta(days=d) for d in (1, 2, 2, 3)] + [None])
label_events = st.lists(st.tuples(st.sampled_from(IDS[:5]), st.sampled_from([0, 1, 2]), arrivals), max_size=25)


@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(labs=label_events, order=st.randoms(use_true_random=False), commits=st.integers(1, 4))
def test_label_events_in_any_order_of_arrival_give_the_same_metrics(spark, tmp_path, labs, order, commits):
    """The same label events, written in one commit in one order, or shuffled over several commits,
    give the same tables: which event of an id counts never depends on the order rows are read."""
    root = tmp_path / f"example{next(_run)}"
    preds = [(i, T0, "v1", 0.2 + 0.15 * n, "de", "web", 1.0) for n, i in enumerate(IDS[:5])]
    p = write_rows(spark, preds, PREDICTIONS_DDL, root / "predictions")
    shuffled = list(labs)
    order.shuffle(shuffled)
    tables = [write_rows(spark, labs, LABELS_DDL, root / "labels")]
    tables.append(str(root / "shuffled"))
    for part in range(commits):
        rows = shuffled[part::commits]
        spark.createDataFrame(rows, LABELS_DDL).write.format("delta").mode("append").save(tables[1])
    outputs = []
    for n, lab in enumerate(tables):
        cfg = parse_config(config_dict(p, lab, str(root / f"out{n}"), name="order", metrics=["accuracy", "log_loss"]))
        assert run_monitor(cfg, AS_OF, spark=spark).status == "SUCCEEDED"
        outputs.append(load_table(spark, cfg, "perf_metrics").drop("as_of", "run_id"))
    assertDataFrameEqual(outputs[0], outputs[1])
