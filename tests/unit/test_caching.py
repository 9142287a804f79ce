"""The caching policy (``io.caching``) where a platform refuses to cache, which no local Spark
does: serverless compute answers ``persist`` with ``NOT_SUPPORTED_WITH_SERVERLESS`` (SQLSTATE
0A000). The frame below is a stand-in with the three calls the policy makes; the run's real frames
are cached by every Spark test."""

from __future__ import annotations

import logging

import pytest

from perfmon_spark.io import caching


class Refusal(Exception):
    """An error as PySpark raises it: a message and a SQLSTATE."""

    def __init__(self, message: str, state: str | None):
        super().__init__(message)
        self.state = state

    def getSqlState(self) -> str | None:
        return self.state


class Frame:
    def __init__(self, error: Exception | None = None):
        self.error, self.level, self.calls = error, None, []

    def persist(self, level):
        self.calls.append("persist")
        if self.error:
            raise self.error
        self.level = level
        return self

    def unpersist(self):
        self.calls.append("unpersist")
        if self.error:
            raise self.error
        self.level = None
        return self

    @property
    def storageLevel(self):
        if self.error:
            raise self.error
        return self.level or caching.StorageLevel.NONE


SERVERLESS = Refusal("[NOT_SUPPORTED_WITH_SERVERLESS] PERSIST TABLE is not supported on serverless compute.", "0A000")


def test_a_session_that_caches_caches_and_releases():
    frame = Frame()
    assert caching.cached(frame) is frame and caching.is_cached(frame)
    assert caching.released(frame) is frame and not caching.is_cached(frame)


@pytest.mark.parametrize(
    "error",
    [SERVERLESS, Refusal("[UNSUPPORTED_FEATURE.CACHE] caching is off here", None), Refusal("refused", "0A000")],
    ids=["serverless", "error class", "sqlstate"],
)
def test_a_refusal_runs_uncached_and_says_so_once(caplog, error):
    caching._say_uncached.cache_clear()
    frames = [Frame(error), Frame(error)]
    with caplog.at_level(logging.WARNING, logger="perfmon_spark"):
        for frame in frames:
            assert caching.cached(frame) is frame and frame.level is None
            assert not caching.is_cached(frame)
            assert caching.released(frame) is frame
    assert [r.getMessage().startswith("this session does not cache frames") for r in caplog.records] == [True]


def test_any_other_error_is_the_frames_own_and_is_raised():
    error = Refusal("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column cannot be resolved", "42703")
    for call in (caching.cached, caching.is_cached, caching.released):
        with pytest.raises(Refusal, match="UNRESOLVED_COLUMN"):
            call(Frame(error))
