"""The problem types, one module each behind one protocol (``protocol.Problem``): label and
prediction kinds, state fields, window views, the config keys a type needs or forbids, its
metrics. ``problem(kind)`` chooses one from ``ProblemType``; nothing else switches on the type.

Adding a problem type: docs/internals.md, "Adding a problem type".
"""

from __future__ import annotations

from types import MappingProxyType

from perfmon_spark.problems.binary import BINARY
from perfmon_spark.problems.multiclass import MULTICLASS
from perfmon_spark.problems.protocol import COMMON, Broken, Problem, Sparse
from perfmon_spark.problems.ranking import RANKING
from perfmon_spark.problems.regression import REGRESSION
from perfmon_spark.vocabulary import ProblemType

PROBLEMS = MappingProxyType(
    {p.type: p for p in (BINARY, MULTICLASS, REGRESSION, RANKING)}
)  # one per ProblemType (a test checks)


def problem(kind: str) -> Problem:
    """The ``Problem`` of a problem type (a ``ProblemType`` or its value)."""
    return PROBLEMS[ProblemType(kind)]


__all__ = ["COMMON", "PROBLEMS", "Broken", "Problem", "Sparse", "problem"]
