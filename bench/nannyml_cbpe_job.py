"""NannyML's side of ``bench_cbpe_nannyml.py``, run in NannyML's own virtual environment (no
perfmon_spark import): its synthetic car-loan data and its CBPE estimates of every chunk, as a
user of NannyML would write them.

Writes to ``--out``: ``reference.parquet`` and ``analysis.parquet`` (the analysis with its targets
joined), so that perfmon-spark's side reads the same rows, and ``cbpe.parquet``: one row per
analysis chunk, NannyML's result columns flattened to ``<metric>_<field>`` (value, sampling_error,
realized, upper/lower_confidence_boundary, ...) beside ``chunk_<field>``. Prints one JSON line:
the NannyML version, the seconds of ``fit`` and ``estimate``, whether CBPE calibrated the scores
(it does only when an isotonic fit lowers the calibration error in every one of its
cross-validation splits) and the number of sampling errors its confidence band spans.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no usage report over the network

import nannyml as nml
import pandas as pd
from nannyml.sampling_error import SAMPLING_ERROR_RANGE

warnings.filterwarnings("ignore")

COLUMNS = {"y_pred_proba": "y_pred_proba", "y_pred": "y_pred", "y_true": "repaid", "timestamp_column_name": "timestamp"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="folder for the Parquet files")
    parser.add_argument("--metrics", nargs="+", required=True, help="NannyML's names of the estimated metrics")
    parser.add_argument("--chunk-period", required=True, help="a pandas period alias, as CBPE's chunk_period")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
    analysis = analysis.merge(targets, on="id")
    for frame in (reference, analysis):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    keep = ["timestamp", "y_pred_proba", "y_pred", "repaid"]
    reference[keep].to_parquet(out / "reference.parquet")
    analysis[keep].to_parquet(out / "analysis.parquet")

    estimator = nml.CBPE(
        **COLUMNS, problem_type="classification_binary", metrics=args.metrics, chunk_period=args.chunk_period
    )
    started = time.perf_counter()
    estimator.fit(reference)
    fitted = time.perf_counter()
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    done = time.perf_counter()
    result.columns = ["_".join(map(str, c)) for c in result.columns]
    result.to_parquet(out / "cbpe.parquet")
    print(
        json.dumps(
            {
                "version": nml.__version__,
                "fit_seconds": fitted - started,
                "estimate_seconds": done - fitted,
                "calibrated": bool(estimator.needs_calibration),
                "band_sampling_errors": SAMPLING_ERROR_RANGE,
            }
        )
    )


if __name__ == "__main__":
    main()
