# Databricks notebook source
# MAGIC %run ./install_wheel

# COMMAND ----------

"""``perfmon rollback`` as the task value ``rollback``: ``none`` (exit 0, nothing due),
``rolled_back`` (exit 10: rolled back, or would be in a dry run) or ``refused`` (exit 11: due and
refused by a control, recorded in the ``rollbacks`` table with ``--apply``). Exits 10 and 11 are
outcomes, not failures, so a notebook maps them (as ``decide_task`` does for ``decide``); any other
exit fails the task.

Widgets: ``config``, ``set`` (as ``decide_task``), ``mode``: ``apply`` moves the registry's alias,
anything else is a dry run.
"""

import shlex

from perfmon_spark.cli import exit_value
from perfmon_spark.cli import main as perfmon
from perfmon_spark.rollback import NOTHING_DUE, REFUSED, ROLLED_BACK

OUTCOMES = {NOTHING_DUE: "none", ROLLED_BACK: "rolled_back", REFUSED: "refused"}


def main(dbutils) -> str:
    """Read the widgets, run ``perfmon rollback``, set the task value ``rollback``; returns it."""
    for name in ("config", "set", "mode"):
        dbutils.widgets.text(name, "")
    argv = ["rollback", "--config", dbutils.widgets.get("config")]
    for override in shlex.split(dbutils.widgets.get("set")):
        argv += ["--set", override]
    if dbutils.widgets.get("mode") == "apply":
        argv.append("--apply")
    outcome = exit_value(perfmon(argv), OUTCOMES, "perfmon rollback")
    dbutils.jobs.taskValues.set(key="rollback", value=outcome)
    print(f"task value rollback = {outcome}")
    return outcome


# COMMAND ----------

if __name__ == "__main__":  # as a notebook; the unit test imports main
    main(dbutils)  # noqa: F821  (the notebook's global)
