"""The examples in the docstrings of the interval, score-summary, version-comparison and SQL-quoting helpers, of the config
loader and of the pure helpers of ``perfmon maintain``, run as tests, as scikit-learn's metrics run theirs: an example a reader
learns from cannot drift from the code."""

from __future__ import annotations

import doctest

import pytest

from perfmon_spark import maintain
from perfmon_spark.config import load
from perfmon_spark.io import quoting
from perfmon_spark.metrics import comparison, histogram, intervals


@pytest.mark.parametrize(
    "module", [intervals, histogram, comparison, quoting, maintain, load], ids=lambda m: m.__name__
)
def test_docstring_examples_hold(module):
    failed, attempted = doctest.testmod(module, report=False)  # a failure's report goes to stdout
    assert attempted > 0 and failed == 0
