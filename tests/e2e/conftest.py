"""The e2e tests' one ``perfmon demo`` run, shared by every e2e module (its tables are only read)."""

from __future__ import annotations

import pytest

from tests.helpers import BIN, run


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    done = run([str(BIN / "perfmon"), "demo", "--dir", str(folder), "--rows", "12000", "--days", "60"])
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done.stdout
