"""The e2e tests' one ``perfmon demo`` run, shared by every e2e module (its tables are only read)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo(demo_process):
    """The demo's folder and what it printed, once its process (started with the session by
    ``tests/conftest.py``) has ended."""
    folder, process, output = demo_process
    process.wait(timeout=900)
    stdout, stderr = (Path(f"{output}.{stream}").read_text() for stream in ("stdout", "stderr"))
    assert process.returncode == 0, stderr[-3000:]
    return folder, stdout
