"""What every problem type declares: the ``Problem`` protocol (a frozen record of values and pure
functions) and ``Sparse``, the sparse part of a state.

A problem type's module (``binary.py``, ...) builds one ``Problem``; ``problems.problem`` chooses
it once from ``ProblemType``. The Spark half of a type (its row checks and aggregation expressions)
lives in ``ingest/validate.py`` and ``states/build.py``, in one mapping keyed by ``ProblemType``
each, because Spark code cannot sit this low in the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from perfmon_spark.metrics import metric_names
from perfmon_spark.vocabulary import ProblemType

if TYPE_CHECKING:  # the config rules read a validated config; config imports this package
    from perfmon_spark.config.model import MonitorConfig

Broken = Iterator[tuple[str, str]]  # (key path, message) of each config rule broken
COMMON = ("n_predictions", "n_labeled")


@dataclass(frozen=True)
class Sparse:
    """The sparse part of a state: ``keys`` columns identify an entry, ``counts`` columns add up.
    A row adds an entry when its ``present`` key is not null (an unlabeled prediction has no label
    but has a score). Finalisers read the merged entries through ``views`` (``Problem.views``):
    the labeled part, the distribution of every prediction, and that of the reference period."""

    keys: tuple[str, ...]
    counts: tuple[str, ...]
    present: str
    views: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.counts


def _nothing(cfg: MonitorConfig) -> Broken:
    return iter(())


def _no_summary(cfg: MonitorConfig) -> str | None:
    return None


@dataclass(frozen=True)
class Problem:
    """One problem type, everything about it that is not Spark code.

    Attributes:
        type: the ``ProblemType`` it is chosen by.
        notes: its paragraph in docs/reference.md, before its metric table.
        label_kinds: the column types ``labels.label`` may have.
        prediction_kinds: the column types ``predictions.prediction`` may have (empty: not used).
        label_noun: what a valid label is, in the error of a labels table mostly bad labels.
        scalars: the state's scalar fields besides ``COMMON`` (``states.layout`` adds KPIs and cut-offs).
        sparse: the state's sparse fields, or None.
        config_values: what its finalisers read from the config beside the merged state.
        reference_views: the sparse views a reference period gives (``reference_<view>``).
        per_request: a row is one (request, item) and a state sums per-request values, at each
            cut-off ``k`` of ``ranking.k``, with sketches of the items shown (ranking).
        class_gates: the default (min_positives, min_negatives) of an alert rule per metric.
        rules: the config rules of a config of this type, as (key path, message).
        foreign: the keys of the shared config sections this type owns, set in a config of another type.
        expected_labels: the end of the error of a labels table mostly bad labels.
        summary_scale: the score scale its score summary is binned on, or None where no
            summary is binned (``states.cells.binning``).
        views: (merged sparse entries of each window, scale) -> what finalisers read.
        rolling: (per-bucket sparse entries, scale, exact limit, arity) -> window merges, or None.
    """

    type: ProblemType
    notes: str
    label_kinds: tuple[str, ...]
    prediction_kinds: tuple[str, ...]
    label_noun: str
    scalars: tuple[str, ...]
    sparse: Sparse | None = None
    config_values: tuple[str, ...] = ()
    reference_views: tuple[str, ...] = ()
    per_request: bool = False
    class_gates: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    rules: Callable[[MonitorConfig], Broken] = _nothing
    foreign: Callable[[MonitorConfig], Broken] = _nothing
    expected_labels: Callable[[MonitorConfig], str] | None = None
    summary_scale: Callable[[MonitorConfig], str | None] = _no_summary
    views: Callable[[list, Any], dict[str, list]] | None = None
    rolling: Callable[[list[list], Any, float, int], Any] | None = None

    @property
    def metrics(self) -> list[str]:
        """Its metrics, as the registry holds them."""
        return metric_names(self.type)


def require_score_or_prediction(cfg: MonitorConfig, key: str = "predictions.score") -> Broken:
    """A type scored per row needs an id and a score or prediction column (``key`` names the one
    the error asks for)."""
    p = cfg.predictions
    if p.id is None:
        yield "predictions.id", "required key is missing"
    if p.score is None and p.prediction is None:
        yield key, f"required for problem_type {cfg.problem_type}"
