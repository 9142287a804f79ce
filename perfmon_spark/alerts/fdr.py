"""False discoveries across a run: a run tests versions x slices x rules x windows at once, so some
SUSTAINED or CRITICAL episodes of stable series are bound to appear by chance. Benjamini-Hochberg
over the run's open SUSTAINED-or-worse episodes (each with the p-value of its last window's change
from the baseline) keeps the expected share of false ones among them at ``alerts_fdr``; an episode
whose adjusted value (q) is above the rate is kept as MINOR (log and observe), with its q and
former level in ``evidence``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.vocabulary import Level


def bh_adjusted(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q), in the order given."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = q
    return out.tolist()


def control_fdr(episodes: list[Episode], rate: float | None) -> list[Episode]:
    """The run's episodes, those SUSTAINED-or-worse ones that do not survive the FDR step demoted
    to MINOR; every candidate's q goes into its evidence. ``rate`` None leaves them as they are."""
    candidates = [i for i, e in enumerate(episodes) if e.is_open and e.level.rank >= Level.SUSTAINED.rank]
    if rate is None or not candidates:
        return episodes
    p_values = [json.loads(episodes[i].evidence).get("p_value", 0.0) for i in candidates]
    out = list(episodes)
    for i, q in zip(candidates, bh_adjusted(p_values)):
        e = episodes[i]
        evidence = json.loads(e.evidence)
        evidence["fdr"] = {"q": q, "rate": rate, "candidates": len(candidates)}
        if q > rate:
            evidence["fdr"]["demoted_from"] = e.level
            out[i] = replace(
                e, level=Level.MINOR, action=Level.MINOR.action, evidence=json.dumps(evidence, sort_keys=True)
            )
        else:
            out[i] = replace(e, evidence=json.dumps(evidence, sort_keys=True))
    return out
