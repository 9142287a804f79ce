"""spark-submit entry point: the arguments of ``perfmon run``, the same library call.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/run_monitor.py --config conf/x.yml
"""

import sys

from perfmon_spark.cli import CliParser, add_run_arguments, cmd_run, log_to_stderr, run_cli


def main(argv=None) -> int:
    parser = CliParser(prog="run_monitor.py", description="perfmon monitoring job (spark-submit entry)")
    add_run_arguments(parser)
    log_to_stderr()
    return run_cli(argv, parser, cmd_run)


if __name__ == "__main__":
    sys.exit(main())
