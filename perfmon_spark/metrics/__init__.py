"""Metric finalisers and their registry; importing this package registers every metric."""

from perfmon_spark.metrics import binary  # noqa: F401  (registers binary metrics)
from perfmon_spark.metrics.registry import REGISTRY, Metric, lookup, metric_names, metrics_for

__all__ = ["REGISTRY", "Metric", "lookup", "metric_names", "metrics_for"]
