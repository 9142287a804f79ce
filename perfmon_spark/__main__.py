"""``python -m perfmon_spark`` is the ``perfmon`` command."""

from perfmon_spark.cli import entry

entry()
