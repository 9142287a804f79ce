"""The problem types: one module each behind ``problems.Problem``, chosen from ``ProblemType``;
no problem-type string literal outside the vocabulary and the type's own module."""

from __future__ import annotations

import re

import pytest

from perfmon_spark.metrics import metric_names
from perfmon_spark.problems import PROBLEMS, problem
from perfmon_spark.states.layout import FIELD_DOCS, state_columns
from perfmon_spark.vocabulary import ProblemType
from tests.helpers import ROOT

PACKAGE = ROOT / "perfmon_spark"
LITERAL = re.compile(r"""["']({})["']""".format("|".join(t.value for t in ProblemType)))


def test_every_problem_type_has_its_module():
    assert list(PROBLEMS) == list(ProblemType)
    for kind in ProblemType:
        assert problem(kind).type is kind
        assert problem(kind.value) is problem(kind)
        assert (PACKAGE / "problems" / f"{kind.value}.py").is_file()


@pytest.mark.parametrize("kind", list(ProblemType))
def test_a_problem_declares_what_the_rest_reads(kind):
    p = problem(kind)
    assert p.metrics == metric_names(kind) and p.metrics
    assert set(state_columns(kind, ks=("k",))) <= set(FIELD_DOCS)
    assert p.label_kinds and p.label_noun
    if p.sparse is not None:
        assert p.views is not None and p.rolling is not None
        assert set(p.reference_views) <= set(p.sparse.views)
    else:
        assert not p.reference_views


def test_no_problem_type_literal_outside_its_module_and_the_vocabulary():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "vocabulary.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in LITERAL.finditer(line):
                if rel != f"problems/{m.group(1)}.py":
                    found.append(f"perfmon_spark/{rel}:{n}: {line.strip()}")
    assert not found, "use ProblemType or the type's module (perfmon_spark/problems/):\n" + "\n".join(found)
