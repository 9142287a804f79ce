"""docs/reference.md is what the code's declarations render: it cannot drift from them."""

from __future__ import annotations

from perfmon_spark.reference import render
from tests.helpers import ROOT


def test_the_reference_is_generated_from_the_declarations():
    stored = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert stored == render(), "docs/reference.md is stale: run python -m perfmon_spark.reference > docs/reference.md"
