"""The monitoring job: ``run`` (the steps of one run), ``scope`` (which buckets it recomputes)
and ``alerting`` (the alerting stage over the written tables)."""

from perfmon_spark.job.run import RunResult, check_tables, run_monitor

__all__ = ["RunResult", "check_tables", "run_monitor"]
