"""The Delta JARs are cached per user, not per working folder: a run from a second folder
resolves nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT

RESOLVE = "from perfmon_spark.session import ensure_delta_jars; print('\\n'.join(ensure_delta_jars()))"


def resolve_from(folder, cache) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PERFMON_IVY_DIR", "PERFMON_VERBOSE")}
    env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", RESOLVE], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )


def test_two_runs_from_two_folders_resolve_once_into_the_user_cache(tmp_path):
    cache, first, second = tmp_path / "xdg", tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    # Ivy's download cache is shared with the project's so that the test needs no network; the
    # resolution itself (and the copy of the JARs into the user's cache) is real.
    (cache / "perfmon-spark" / "ivy").mkdir(parents=True)
    (cache / "perfmon-spark" / "ivy" / "cache").symlink_to(ROOT / ".ivy" / "cache")
    one = resolve_from(first, cache)
    assert one.returncode == 0, one.stderr[-2000:]
    assert "fetching the Delta Lake JARs" in one.stderr
    jars = one.stdout.split()
    assert len(jars) == 2 and all(j.startswith(str(cache / "perfmon-spark" / "ivy" / "jars")) for j in jars)
    two = resolve_from(second, cache)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.split() == jars and "fetching" not in two.stderr
    assert not (first / ".ivy").exists() and not (second / ".ivy").exists()
    # nothing of Ivy's report reached the terminal: it is in the user's Spark log
    assert "resolving dependencies" not in one.stdout + one.stderr
    assert "resolving dependencies" in (cache / "perfmon-spark" / "logs" / "spark.log").read_text()
