"""Metric finalisers and their registry; importing this package registers every metric."""

from perfmon_spark.metrics import binary, estimated, multiclass, proxies, ranking, regression  # noqa: F401  (registration)
from perfmon_spark.metrics.registry import REGISTRY, Metric, bind, lookup, metric_names, metrics_for

__all__ = ["REGISTRY", "Metric", "bind", "lookup", "metric_names", "metrics_for"]
