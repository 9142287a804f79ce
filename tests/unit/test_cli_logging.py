"""perfmon's warning lines on stderr: once each, even after a library logs through the root logger
(py4j does), and to the stderr the process has when the line is written."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT

SCRIPT = """
import io, logging, sys
from perfmon_spark.cli import log_to_stderr
log_to_stderr()
logging.info("py4j-style message through the root logger")
sys.stderr = io.StringIO()  # a host swapping stderr after the handler was made
logging.getLogger("perfmon_spark").warning("[m] CODE: message")
sys.__stderr__.write(sys.stderr.getvalue())
"""


def test_a_warning_is_one_line_after_a_root_log_call_and_follows_a_swapped_stderr():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["warning: [m] CODE: message"]
