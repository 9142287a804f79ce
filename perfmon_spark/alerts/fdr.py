"""False discoveries across a run: a run tests every (rule, version, slice, window length) series at
once, so some stable series are bound to look degraded by chance. Benjamini-Hochberg over the
family of every series the run tested, the quiet ones included (one p-value each, as of its
latest evaluated window: ``rules.RulePlan.series_p``), keeps the expected share of false ones
among the series it lets through at ``alerts_fdr``.

The step gates *raising* a level, never keeping one: an episode may open at, or escalate to,
SUSTAINED or CRITICAL in this run only where its series' adjusted p-value (q) is within the rate;
else it is held at the level it already had (MINOR for a new episode), with its q and the level it
was held back from in ``evidence.fdr``, and the next run tests it again. A level an earlier run
granted stays, with the record of the step that granted it (kept while the episode is open, also
after it steps down): other series' p-values never demote
an open episode, which resolves by its own ``resolve_after`` rule. The family is the newest rows of
``rule_windows``, which also store each series' q. Rules with ``confidence: null``
compare point values and make no test: they are neither in the family nor gated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from perfmon_spark.alerts.lifecycle import Episode
from perfmon_spark.metrics.significance import bh_adjusted
from perfmon_spark.vocabulary import Level


def control_fdr(
    episodes: list[Episode], stored: list[Episode], p_values: Mapping[tuple, float], rate: float | None
) -> list[Episode]:
    """The run's episodes, SUSTAINED-or-worse levels gated by the FDR step (see the module docstring).

    Args:
        episodes: what the rules found this run.
        stored: the episodes ``perf_alerts`` held before the run: the levels earlier runs granted.
        p_values: one p-value per series tested in the run, by ``Episode.series``.
        rate: ``alerts_fdr``; None leaves the episodes as they are.
    """
    if rate is None:
        return episodes
    granted = {e.key: e for e in stored}

    def raised(e: Episode) -> bool:
        before = granted.get(e.key)
        return (
            e.is_open and e.level.rank >= Level.SUSTAINED.rank and (before is None or before.level.rank < e.level.rank)
        )

    q_values: dict[tuple, float] = {}
    if any(raised(e) for e in episodes):
        series = sorted(p_values)
        q_values = dict(zip(series, bh_adjusted([p_values[s] for s in series])))
    out = []
    for e in episodes:
        evidence = json.loads(e.evidence)
        level = e.level
        if raised(e) and e.series in q_values:
            q = q_values[e.series]
            evidence["fdr"] = {"q": q, "rate": rate, "tested": len(q_values)}
            if q > rate:  # a raise the family does not carry: held at the level granted before
                before = granted.get(e.key)
                level = before.level if before is not None and before.level.rank > Level.MINOR.rank else Level.MINOR
                evidence["fdr"]["held_back_from"] = e.level
        elif e.is_open and e.key in granted and "fdr" in (grant := json.loads(granted[e.key].evidence)):
            evidence["fdr"] = grant["fdr"]  # kept, or stepped down since: the record of how its level was granted
        else:
            out.append(e)
            continue
        out.append(replace(e, level=level, action=level.action, evidence=json.dumps(evidence, sort_keys=True)))
    return out
