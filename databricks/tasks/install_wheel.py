# Databricks notebook source
"""Install perfmon's wheel where no library is attached: a notebook task on serverless compute takes
no ``environment_key`` and no ``libraries``, so the task notebooks ``%run`` this one first.

Widgets: ``wheels``, the folder the bundle uploads its wheels to (``${workspace.artifact_path}/.internal``),
empty on a job cluster, which attaches the wheel itself (nothing to do then); ``extras``, the wheel's
extras the task needs, comma-separated (``mlflow`` for ``perfmon rollback``).
"""

import subprocess
import sys
from pathlib import Path

PACKAGE = "perfmon_spark"


def newest_wheel(folder: str) -> Path:
    """The wheel of ``PACKAGE`` in ``folder`` uploaded last (a deploy uploads its build beside older ones).

    Raises:
        FileNotFoundError: there is none.
    """
    wheels = sorted(Path(folder).glob(f"{PACKAGE}-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise FileNotFoundError(f"no {PACKAGE} wheel in {folder} (widget wheels): deploy the bundle first")
    return wheels[-1]


def install(folder: str, extras: str = "") -> Path | None:
    """pip-install the newest wheel of ``folder`` with ``extras`` into this notebook's environment;
    None (nothing installed) where ``folder`` is empty."""
    if not folder:
        return None
    wheel = newest_wheel(folder)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", f"{wheel}[{extras}]" if extras else str(wheel)], check=True
    )
    return wheel


# COMMAND ----------

if __name__ == "__main__":  # as a notebook (or through %run); the unit test imports the functions above
    dbutils.widgets.text("wheels", "")  # noqa: F821  (the notebook's global)
    dbutils.widgets.text("extras", "")  # noqa: F821
    install(dbutils.widgets.get("wheels"), dbutils.widgets.get("extras"))  # noqa: F821
