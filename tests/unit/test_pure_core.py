"""The pure core loads without Spark: each source module of the import-linter contract that
forbids pyspark and delta (pyproject.toml) imports in a fresh interpreter where neither can be
imported. lint-imports reads the import statements; this also catches what they do not show,
such as a package ``__init__`` that imports Spark."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import ROOT, run


def pure_core() -> tuple[list[str], list[str]]:
    """(source modules, forbidden modules) of the contract, as pyproject.toml declares them."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    [contract] = [c for c in contracts["contracts"] if c["type"] == "forbidden"]
    return contract["source_modules"], contract["forbidden_modules"]


def test_the_pure_core_imports_without_spark():
    modules, forbidden = pure_core()
    assert "pyspark" in forbidden and "perfmon_spark.windows.finalise" in modules
    hidden = "".join(f"sys.modules[{m!r}] = None\n" for m in forbidden)
    imports = "".join(f"import {m}\n" for m in modules)
    done = run([sys.executable, "-c", f"import sys\n{hidden}{imports}"])
    assert done.returncode == 0, done.stderr
