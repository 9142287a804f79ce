"""Bucket states moved by label changes (issue 20): the stored states, plus the states of the
predictions whose label changed under their new labels, minus the same predictions' states under
their old labels.

Every scalar field is a count or a sum and every sparse entry a count of rows at a key (a score
summary key is a pure function of the score and of the group's size, which a label does not
change), so the result equals a recompute from rows up to the rounding of floating-point sums. An
entry whose counts fall to 0 goes, as a recompute would never write it.
"""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from perfmon_spark.config import MonitorConfig
from perfmon_spark.states.build import entry_lists, state_rows
from perfmon_spark.states.cells import KEY
from perfmon_spark.states.layout import SPARSE, scalar_fields


def moved_states(stored: DataFrame, new: DataFrame, old: DataFrame, cfg: MonitorConfig) -> DataFrame:
    """``stored + new - old`` per state key (``perf_stats`` rows without ``monitor``, ``as_of``
    and ``run_id``). ``new`` and ``old`` are ``bucket_states`` of the same prediction rows, so
    their ``n_predictions`` cancel and the keys are those of ``stored``."""
    scalars = scalar_fields(cfg.problem_type, tuple(k.name for k in cfg.kpis), cfg.cut_offs)
    signed = [(stored, 1), (new, 1), (old, -1)]
    rows = _union([df.select(*KEY, *[(F.col(f) * sign).alias(f) for f in scalars]) for df, sign in signed])
    summed = rows.groupBy(*KEY).agg(*[F.sum(f).alias(f) for f in scalars]).filter(F.col("n_predictions") > 0)
    sparse = SPARSE.get(cfg.problem_type)
    if sparse is None:
        return state_rows(summed, None, cfg)
    entries = [
        df.select(*KEY, F.explode(F.arrays_zip(*sparse.columns)).alias("_e")).select(
            *KEY,
            *[F.col(f"_e.{k}").alias(k) for k in sparse.keys],
            *[(F.col(f"_e.{c}") * sign).alias(c) for c in sparse.counts],
        )
        for df, sign in signed
    ]
    return state_rows(summed, entry_lists(_union(entries), sparse), cfg)


def _union(frames: list[DataFrame]) -> DataFrame:
    return functools.reduce(DataFrame.unionByName, frames)
