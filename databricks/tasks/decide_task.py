# Databricks notebook source
# MAGIC %run ./install_wheel

# COMMAND ----------

"""The retrain decision as the task value ``retrain``, for the job's condition task.

``perfmon decide`` exits 10 when RETRAIN is recommended and 0 otherwise; a job task that exits
non-zero fails, so the job would report a failure for a run that did its work. This notebook runs
the same command in-process, sets ``retrain`` to true (exit 10) or false (exit 0), and fails the task
only on a real error (exit 2 config, 3 input data, 1 unexpected), whose one-line message
``perfmon`` has already printed. A notebook, because Databricks documents
``dbutils.jobs.taskValues.set`` for Python notebooks only.

Widgets: ``config`` (workspace path of the perfmon config), ``set`` (optional: the ``--set``
overrides the other tasks pass, as ``KEY=VALUE`` words with shell quoting, e.g.
``output.location=main.ml_monitoring``), ``model_version`` (optional: only that version's
decision counts).
"""

import shlex

from perfmon_spark.cli import RETRAIN_EXIT, exit_value
from perfmon_spark.cli import main as perfmon


def retrain_recommended(config: str, model_version: str = "", overrides: str = "") -> bool:
    """Run ``perfmon decide``: True when it recommends RETRAIN.

    Raises:
        RuntimeError: ``perfmon decide`` failed (any exit code but 0 and 10).
    """
    argv = ["decide", "--config", config]
    for override in shlex.split(overrides):
        argv += ["--set", override]
    if model_version:
        argv += ["--model-version", model_version]
    return exit_value(perfmon(argv), {RETRAIN_EXIT: True, 0: False}, "perfmon decide")


def main(dbutils) -> bool:
    """Read the widgets, decide, set the task value ``retrain``; returns it."""
    dbutils.widgets.text("config", "")
    dbutils.widgets.text("set", "")
    dbutils.widgets.text("model_version", "")
    retrain = retrain_recommended(
        dbutils.widgets.get("config"), dbutils.widgets.get("model_version"), dbutils.widgets.get("set")
    )
    dbutils.jobs.taskValues.set(key="retrain", value=retrain)  # a boolean: compared as "true"/"false"
    print(f"task value retrain = {str(retrain).lower()}")
    return retrain


# COMMAND ----------

if __name__ == "__main__":  # as a notebook; the unit test imports the functions above
    main(dbutils)  # noqa: F821  (the notebook's global)
