"""Caching as a choice the session makes, not one the job insists on.

A run caches the few frames it reads more than once (the rows a label delta touches, the
histories the alert rules and the drift-performance view share, a MERGE's changes). Serverless
compute and standard-access clusters refuse ``persist()``; there the run goes on uncached and
recomputes such a frame where it is read again: slower, the same values.
"""

from __future__ import annotations

import functools
import logging

from pyspark import StorageLevel
from pyspark.sql import DataFrame

LOG = logging.getLogger("perfmon_spark")


def cached(df: DataFrame) -> DataFrame:
    """``df`` cached in memory and on disk, or ``df`` itself where the session refuses to cache
    (said once per process, at warning level)."""
    try:
        return df.persist(StorageLevel.MEMORY_AND_DISK)
    except Exception as e:  # noqa: BLE001  (the platform's refusal: its class differs by platform)
        _say_uncached(str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
        return df


@functools.cache
def _say_uncached(reason: str) -> None:
    LOG.warning("this session does not cache frames (%s); the run recomputes them where it reads them twice", reason)
