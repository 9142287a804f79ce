"""Ranking: a row is one (request, item) with a score or rank, a label a relevance; a state sums
per-request values (at each cut-off k) and sketches the items shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfmon_spark.problems.protocol import Broken, Problem
from perfmon_spark.vocabulary import ProblemType

if TYPE_CHECKING:
    from perfmon_spark.config.model import MonitorConfig

_ONLY = {"predictions": ("request", "item", "rank"), "labels": ("request", "item")}


def _foreign(cfg: MonitorConfig) -> Broken:
    """Keys of the shared sections that mean something to ranking only, set in a config of another
    type (the ``ranking`` section is a key of ranking's config class only, ``config.model``)."""
    kind = cfg.problem_type
    for section, keys in _ONLY.items():
        for key in keys:
            if getattr(getattr(cfg, section), key) is not None:
                yield f"{section}.{key}", f"applies to problem_type ranking only, not {kind}"


def _rules(cfg: MonitorConfig) -> Broken:
    """A ranking row is (request, item), in both tables; it has no id."""
    p = cfg.predictions
    for section in ("predictions", "labels"):
        for key in ("request", "item"):
            if getattr(getattr(cfg, section), key) is None:
                yield f"{section}.{key}", "required for problem_type ranking (a row is a request and an item)"
        if getattr(cfg, section).id is not None:
            yield f"{section}.id", "not used with problem_type ranking (request and item identify a row)"
    if p.score is None and p.rank is None:
        yield "predictions.score", "required for problem_type ranking unless predictions.rank is given"
    if p.prediction is not None:
        yield "predictions.prediction", "not used with problem_type ranking (score or rank orders a list)"
    if cfg.kpis:
        yield "kpis", "not supported with problem_type ranking (its metrics are per request)"


# Per-request values summed over requests, those of ``metrics.ranking.RANKING_AT_K`` at each
# cut-off k (``states.layout`` adds them), so that every window and ``*`` merge by addition.
RANKING = Problem(
    type=ProblemType.RANKING,
    notes=(
        "A prediction row is one (request, item); a request is one ranked list, ordered by\n"
        "`predictions.rank` where given, else by score descending, ties broken by item id ascending.\n"
        "An item is relevant when its resolved relevance is > 0; an item with no feedback event (as of\n"
        "as_of, within `max_delay`) has relevance 0. Metrics are averaged over requests; requests with\n"
        "no relevant item follow `ranking.no_relevant` (skip: left out, zero: counted as 0) and are\n"
        "counted in the state's `n_no_relevant`. `n_predictions` counts requests, `n_labeled` the\n"
        "requests with at least one feedback event. A request's version, bucket and segment values are\n"
        "those of its earliest row.\n\n"
    ),
    label_kinds=("number", "boolean"),
    prediction_kinds=(),
    label_noun="class",
    scalars=(
        "n_no_relevant",
        "n_scored",
        "sum_mrr",
        "sum_mrr_sq",
        "sum_list_length",
        "sum_list_length_sq",
        "sum_top_score",
        "sum_top_score_sq",
        "n_top_score",
    ),
    per_request=True,
    rules=_rules,
    foreign=_foreign,
)
