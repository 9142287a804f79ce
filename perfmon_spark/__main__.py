"""``python -m perfmon_spark`` is the ``perfmon`` command."""

import sys

from perfmon_spark.cli import main

sys.exit(main())
