"""perfmon-spark: model performance monitoring for production ML on Spark and Delta Lake."""

__version__ = "0.1.0"
