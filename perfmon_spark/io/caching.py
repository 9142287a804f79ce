"""Caching as a choice the session makes, not one the job insists on.

A run caches the few frames it reads more than once (the rows a label delta touches, the
histories the alert rules and the drift-performance view share, a MERGE's changes). Serverless
compute refuses ``persist()`` (``NOT_SUPPORTED_WITH_SERVERLESS``, SQLSTATE class ``0A``: feature
not supported); there the run goes on uncached and recomputes such a frame where it is read
again: slower, the same values. Any other error is the frame's own and is raised.
"""

from __future__ import annotations

import functools
import logging
import re

from pyspark import StorageLevel
from pyspark.sql import DataFrame

LOG = logging.getLogger("perfmon_spark")

_REFUSED = re.compile(r"NOT_SUPPORTED|UNSUPPORTED")


def refused(error: Exception) -> bool:
    """Whether ``error`` is the platform refusing a feature (SQLSTATE class ``0A``, or an error
    class naming it), not a failure of the frame itself."""
    state = error.getSqlState() if callable(getattr(error, "getSqlState", None)) else None
    return (state or "").startswith("0A") or bool(_REFUSED.search(str(error)))


def cached(df: DataFrame) -> DataFrame:
    """``df`` cached in memory and on disk, or ``df`` itself where the session refuses to cache
    (said once per process, at warning level)."""
    try:
        return df.persist(StorageLevel.MEMORY_AND_DISK)
    except Exception as e:
        if not refused(e):
            raise
        _say_uncached(str(e).splitlines()[0][:200])
        return df


def is_cached(df: DataFrame) -> bool:
    """Whether ``df`` is cached (False where the session cannot say)."""
    try:
        return df.storageLevel != StorageLevel.NONE
    except Exception as e:
        if not refused(e):
            raise
        return False


def released(df: DataFrame) -> DataFrame:
    """``df`` uncached (``unpersist``); nothing to do where the session refuses caching."""
    try:
        return df.unpersist()
    except Exception as e:
        if not refused(e):
            raise
        return df


@functools.cache
def _say_uncached(reason: str) -> None:
    LOG.warning("this session does not cache frames (%s); the run recomputes them where it reads them twice", reason)
