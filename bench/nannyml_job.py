"""NannyML's side of ``bench_nannyml.py``, run in NannyML's own virtual environment (no
perfmon_spark import): the same label work and the daily metrics of every version and slice with
NannyML's pandas calculators, as a user of NannyML would write it.

Reads the Parquet copies of the benchmark's predictions and labels, keeps predictions stamped by
as_of (the latest row per id), the label events that arrived by as_of and within max_delay after
their prediction (the latest per id), joins them, then for every version and slice (overall and
each value of each segment column) fits ``PerformanceCalculator`` (accuracy, precision, recall,
f1, roc_auc) and ``CBPE`` (precision, roc_auc) on the first ``--reference-days`` and calculates
both on every day. Writes the result rows to Parquet.
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no usage report over the network

import nannyml as nml
import pandas as pd

warnings.filterwarnings("ignore")

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]
ESTIMATED = ["precision", "roc_auc"]


def labelled(folder: str, as_of: pd.Timestamp, max_delay: pd.Timedelta) -> pd.DataFrame:
    predictions = pd.read_parquet(f"{folder}/predictions.parquet")
    labels = pd.read_parquet(f"{folder}/labels.parquet")
    predictions = predictions[(predictions["prediction_ts"] <= as_of) & predictions["score"].between(0, 1)]
    predictions = predictions.sort_values("prediction_ts").drop_duplicates("prediction_id", keep="last")
    events = labels[labels["label_ts"] <= as_of].merge(
        predictions[["prediction_id", "prediction_ts"]], on="prediction_id"
    )
    events = events[
        (events["label_ts"] >= events["prediction_ts"]) & (events["label_ts"] <= events["prediction_ts"] + max_delay)
    ]
    events = events[events["is_fraud"].isin([0, 1])]  # the lakehouse's bad label rows (perfmon quarantines them)
    latest = events.sort_values(["label_ts", "is_fraud"]).drop_duplicates("prediction_id", keep="last")
    return predictions.merge(latest[["prediction_id", "is_fraud"]], on="prediction_id", how="left")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--max-delay-days", type=int, default=14)
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--reference-days", type=int, default=7)
    parser.add_argument("--segments", nargs="*", default=["country", "channel"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = labelled(args.dir, pd.Timestamp(args.as_of), pd.Timedelta(days=args.max_delay_days))
    rows["y_pred"] = (rows["score"] >= args.threshold).astype(int)
    start = rows["prediction_ts"].min()
    columns = {"y_pred_proba": "score", "y_pred": "y_pred", "timestamp_column_name": "prediction_ts"}
    slices = [("*", "*", rows)] + [(c, v, g) for c in args.segments for v, g in rows.groupby(c)]
    results = []
    for key, value, group in slices:
        for version, sub in group.groupby("model_version"):
            reference = sub[sub["prediction_ts"] < start + pd.Timedelta(days=args.reference_days)]
            reference = reference[reference["is_fraud"].notna()]
            if reference["is_fraud"].nunique() < 2:
                continue
            calculator = nml.PerformanceCalculator(
                **columns, y_true="is_fraud", problem_type="classification_binary", metrics=METRICS, chunk_period="D"
            )
            calculator.fit(reference)
            realised = calculator.calculate(sub[sub["is_fraud"].notna()]).to_df()
            estimator = nml.CBPE(
                **columns, y_true="is_fraud", problem_type="classification_binary", metrics=ESTIMATED, chunk_period="D"
            )
            estimator.fit(reference)
            estimated = estimator.estimate(sub.drop(columns=["is_fraud"])).to_df()
            for name, frame in (("realised", realised), ("estimated", estimated)):
                frame.columns = ["_".join(map(str, c)) for c in frame.columns]
                results.append(frame.assign(kind=name, slice_key=key, slice_value=str(value), model_version=version))
    pd.concat(results, ignore_index=True).astype(str).to_parquet(args.out)


if __name__ == "__main__":
    main()
