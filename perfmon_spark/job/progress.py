"""A run's progress: one line per stage on the ``perfmon_spark.progress`` logger (the command line
shows it on stderr unless ``--quiet``; a library caller sees nothing unless it configures logging),
and the seconds of each stage for the ``runs`` row.

Spark is lazy, so a stage's seconds are those of the Spark jobs its writes and counts trigger: the
scan of the raw rows is in ``states``, not in ``read`` (which only pins the Delta versions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from perfmon_spark.vocabulary import Stage

PROGRESS = logging.getLogger("perfmon_spark.progress")


class Stopwatch:
    """The stages of one run, timed in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, stage: Stage) -> Iterator[Callable[[str], None]]:
        """Time ``stage``; the yielded function adds a note (counts) to its progress line. A
        stage that raises logs nothing: the error is what the user sees."""
        notes: list[str] = []
        start = time.perf_counter()
        yield notes.append
        seconds = time.perf_counter() - start
        self.seconds[stage.value] = round(seconds, 3)
        PROGRESS.info("%-8s %6.1f s  %s", stage.value, seconds, ", ".join(notes))
