"""The ``perfmon`` command line (SPEC §1): argument parsing and exit codes only, no Spark code.

Exit codes: 0 success, 2 config or usage error, 3 input data error, 4 a run with warnings under
``--strict``, 5 another run holds the monitor (``run`` and ``backfill``: nothing written), 1
anything unexpected, 10 only from ``decide`` (RETRAIN recommended).
Errors are one line on stderr; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from datetime import datetime, timezone

from perfmon_spark import __version__
from perfmon_spark.errors import ConfigError, PerfmonError
from perfmon_spark.vocabulary import Decision, RunMode


class CliParser(argparse.ArgumentParser):
    """argparse that raises ConfigError (exit 2, one line) instead of printing usage."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def parse_as_of(text: str | None, option: str = "--as-of") -> datetime:
    """ISO-8601 timestamp or date, read as UTC; default now. Returned naive UTC."""
    if text is None:
        return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ConfigError(
            f"{option}: invalid timestamp {text!r}; expected ISO-8601 such as 2026-03-01 or 2026-03-01T06:00:00Z"
        ) from e
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="perfmon", description="Model performance monitoring on Spark and Delta Lake.")
    parser.add_argument("--version", action="version", version=f"perfmon-spark {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)
    common = CliParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")

    run = sub.add_parser("run", help="run the monitoring job")
    add_run_arguments(run)

    backfill = sub.add_parser(
        "backfill", parents=[common], help="recompute the buckets in [--from, --to) from raw rows"
    )
    add_config_arguments(backfill)
    backfill.add_argument(
        "--from", dest="start", required=True, help="first day (ISO date or timestamp, UTC), inclusive"
    )
    backfill.add_argument("--to", dest="end", required=True, help="end (ISO date or timestamp, UTC), exclusive")
    backfill.add_argument("--as-of", default=None, help="ISO-8601 timestamp or date, UTC (default: now)")
    add_wait_argument(backfill)
    add_quiet_argument(backfill)

    validate = sub.add_parser("validate", parents=[common], help="validate a config and print the plan")
    add_config_arguments(validate)
    validate.add_argument(
        "--check-tables", action="store_true", help="also check that input tables and columns exist (starts Spark)"
    )

    maintain = sub.add_parser(
        "maintain",
        parents=[common],
        help="OPTIMIZE and VACUUM the output tables (shared by every monitor writing there), keeping output.retention",
    )
    add_config_arguments(maintain)
    maintain.add_argument(
        "--dry-run", action="store_true", help="change nothing: print what OPTIMIZE and VACUUM would do"
    )

    decide = sub.add_parser(
        "decide", parents=[common], help="print the latest retrain decisions as JSON; exit 10 if RETRAIN"
    )
    add_config_arguments(decide)
    decide.add_argument("--model-version", default=None, help="only this model version")

    rollback = sub.add_parser(
        "rollback",
        parents=[common],
        help="roll the registry's champion alias back when the champion is CRITICAL and every control lets it; "
        "exit 0 nothing due, 10 rolled back (or would), 11 refused",
    )
    add_config_arguments(rollback)
    rollback.add_argument(
        "--apply", action="store_true", help="move the alias and record it in rollbacks (default: a dry run)"
    )

    status = sub.add_parser("status", parents=[common], help="print model status, open alerts and the latest decisions")
    add_config_arguments(status)

    report = sub.add_parser("report", parents=[common], help="write a self-contained HTML report of the output tables")
    add_config_arguments(report)
    report.add_argument("--out", default=None, help="the HTML file (default: <monitor>-report.html here)")
    report.add_argument("--model-version", default=None, help="only this model version")
    report.add_argument("--metric", action="append", default=[], help="only this metric (repeatable)")
    report.add_argument("--since", default=None, help="first day shown (ISO date, UTC; default: the last 120 windows)")

    export = sub.add_parser(
        "export", parents=[common], help="push the latest metrics and open alerts to a time-series store"
    )
    add_config_arguments(export)
    export.add_argument("--to", required=True, choices=["prometheus"], help="the store")
    export.add_argument("--url", default=None, help="the Pushgateway (default: $PERFMON_PUSHGATEWAY_URL)")
    export.add_argument(
        "--metrics", action="append", default=[], metavar="M1,M2", help="only these metrics or KPIs (default: all)"
    )
    export.add_argument(
        "--windows",
        action="append",
        default=[],
        metavar="W1,W2",
        help="only these windows, e.g. '7 days' (default: all)",
    )
    export.add_argument("--slices", default="all", help="all (default), or overall: the overall slice only")
    export.add_argument(
        "--max-series",
        type=int,
        default=None,
        metavar="N",
        help="refuse to push more series than N (default: 10000); a push replaces the monitor's group on the gateway",
    )

    sql = sub.add_parser(
        "sql", parents=[common], help="print the SQL queries of perfmon_spark/sql with this monitor's tables"
    )
    add_config_arguments(sql)
    sql.add_argument("--name", action="append", default=[], help="only this query (repeatable)")
    sql.add_argument("--views", action="store_true", help="as CREATE OR REPLACE VIEW statements")

    sub.add_parser("schema", parents=[common], help="print the JSON Schema of a config file (for editors)")

    demo = sub.add_parser("demo", parents=[common], help="write a sample lakehouse, run the job on it, print a summary")
    demo.add_argument("--dir", default="demo-lake", help="folder for the sample lakehouse (default: demo-lake)")
    demo.add_argument("--rows", type=int, default=60_000, help="predictions to generate (default: 60000)")
    demo.add_argument("--days", type=int, default=60, help="days of predictions (default: 60)")
    add_quiet_argument(demo)
    return parser


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``perfmon run``, shared with ``jobs/run_monitor.py``."""
    add_config_arguments(parser)
    parser.add_argument("--as-of", default=None, help="ISO-8601 timestamp or date, UTC (default: now)")
    parser.add_argument("--full-refresh", action="store_true", help="recompute every bucket from the inputs")
    parser.add_argument(
        "--strict", action="store_true", help="a run with warnings ends FAILED with exit 4 (as strict: true)"
    )
    add_wait_argument(parser)
    add_quiet_argument(parser)
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--set``, of every command that loads a config (read by ``load``)."""
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by its key path, e.g. output.location=main.ml or alerts[0].minor.ratio=0.9; "
        "VALUE is read as YAML (repeatable)",
    )


def load(args: argparse.Namespace):
    """The config of ``--config`` with the ``--set`` overrides, as every command reads it."""
    from perfmon_spark.config import load_config

    return load_config(args.config, args.overrides)


def seconds(text: str) -> float:
    """A number of seconds >= 0 (``--wait``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    """``--wait`` of the commands that write a monitor's tables (``io.claims``)."""
    parser.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="if another run of the monitor is under way, wait up to SECONDS for it to end "
        "(default: stop at once with exit 5, writing nothing)",
    )


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def cmd_run(args) -> int:
    from perfmon_spark.job import run_monitor

    show_progress(not args.quiet)
    cfg = load(args)
    as_of = parse_as_of(args.as_of)
    mode = RunMode.FULL if args.full_refresh else RunMode.INCREMENTAL
    _print_result(run_monitor(cfg, as_of, mode=mode, strict=args.strict, wait=args.wait))
    return 0


def _print_result(result) -> None:
    print(
        f"run {result.run_id} {result.status} ({result.mode}: {result.message}): as_of {result.as_of:%Y-%m-%dT%H:%M:%S}Z, "
        f"{result.rows_read_predictions} predictions and {result.rows_read_labels} labels read, "
        f"{result.rows_quarantined} quarantined, {result.buckets_recomputed} bucket states, "
        f"{result.metric_rows_written} metric rows written"
    )


def cmd_backfill(args) -> int:
    from perfmon_spark.job import run_monitor

    show_progress(not args.quiet)
    cfg = load(args)
    window = (parse_as_of(args.start, "--from"), parse_as_of(args.end, "--to"))
    _print_result(run_monitor(cfg, parse_as_of(args.as_of), backfill=window, wait=args.wait))
    return 0


def cmd_validate(args) -> int:
    from perfmon_spark.plan import describe

    cfg = load(args)
    print(describe(cfg))
    if args.check_tables:
        from perfmon_spark.job import check_tables

        for line in check_tables(cfg, parse_as_of(None)):
            print(line)
        print("tables: ok")
    else:
        print("tables: not checked (add --check-tables to check tables, columns and label values)")
    return 0


def cmd_maintain(args) -> int:
    from perfmon_spark.maintain import maintain, report
    from perfmon_spark.session import get_spark

    cfg = load(args)
    print(report(cfg, maintain(get_spark(cfg.spark), cfg, dry_run=args.dry_run), args.dry_run))
    return 0


RETRAIN_EXIT = 10


def exit_value(code: int, values: dict, command: str):
    """What a job task makes of a command's exit code (``databricks/tasks``): the value of an
    expected code; any other is a failure whose one-line error the command has already printed.

    Raises:
        RuntimeError: ``code`` is not one of ``values``.
    """
    if code not in values:
        raise RuntimeError(f"{command} failed with exit code {code}; its error is printed above")
    return values[code]


def cmd_decide(args) -> int:
    import json

    from perfmon_spark.decide import latest_decisions
    from perfmon_spark.session import get_spark

    cfg = load(args)
    decisions = latest_decisions(get_spark(cfg.spark), cfg, args.model_version)
    print(json.dumps(decisions, indent=2, sort_keys=True))
    return RETRAIN_EXIT if any(d["decision"] == Decision.RETRAIN for d in decisions) else 0


def cmd_rollback(args) -> int:
    from perfmon_spark.rollback import rollback
    from perfmon_spark.session import get_spark

    cfg = load(args)
    outcome = rollback(get_spark(cfg.spark), cfg, apply=args.apply)
    print(outcome.line)
    return outcome.exit_code


def cmd_status(args) -> int:
    from perfmon_spark.session import get_spark
    from perfmon_spark.status import status_report

    cfg = load(args)
    print(status_report(get_spark(cfg.spark), cfg))
    return 0


def cmd_report(args) -> int:
    import time
    from pathlib import Path

    from perfmon_spark.report import ReportOptions, write_report
    from perfmon_spark.session import get_spark

    cfg = load(args)
    out = Path(args.out or f"{cfg.name}-report.html")
    options = ReportOptions(
        args.model_version, tuple(args.metric), parse_as_of(args.since, "--since") if args.since else None
    )
    start = time.perf_counter()
    size = write_report(get_spark(cfg.spark), cfg, out, options)
    print(f"report: {out} ({size / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s)")
    return 0


def cmd_export(args) -> int:
    from perfmon_spark.export import export_prometheus, selection
    from perfmon_spark.session import get_spark

    cfg = load(args)
    chosen = selection(cfg, args.metrics, args.windows, args.slices, args.max_series)
    series, alerts = export_prometheus(get_spark(cfg.spark), cfg, args.url, chosen)
    print(f"exported to {args.to}: {series} metric series, {alerts} open alerts")
    return 0


def cmd_sql(args) -> int:
    from perfmon_spark.query import sql_queries, view_name

    cfg = load(args)
    queries = sql_queries(cfg, tuple(args.name))
    print("\n\n".join(q.statement(view_name(cfg, q) if args.views else None) for q in queries), flush=True)
    return 0


def cmd_schema(args) -> int:
    import json

    from perfmon_spark.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_demo(args) -> int:
    from perfmon_spark.demo import run_demo

    show_progress(not args.quiet)
    print(run_demo(args.dir, rows=args.rows, days=args.days))
    return 0


COMMANDS = {
    "run": cmd_run,
    "backfill": cmd_backfill,
    "validate": cmd_validate,
    "maintain": cmd_maintain,
    "decide": cmd_decide,
    "rollback": cmd_rollback,
    "status": cmd_status,
    "sql": cmd_sql,
    "report": cmd_report,
    "export": cmd_export,
    "schema": cmd_schema,
    "demo": cmd_demo,
}


def run_cli(argv: list[str] | None, parser: argparse.ArgumentParser, handler) -> int:
    """Parse, dispatch, map errors to exit codes. ``handler(args)`` returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in argv
    if verbose:
        os.environ["PERFMON_VERBOSE"] = "1"  # a local session then shows the JVM's own output
    try:
        args = parser.parse_args(argv)
        return handler(args)
    except BrokenPipeError:  # the reader left (``perfmon sql | head``): nothing to report to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit
        return 1
    except PerfmonError as e:
        if verbose:
            traceback.print_exc()
        print(str(e), file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001  (a bug: keep the traceback when asked, one line otherwise)
        if verbose:
            traceback.print_exc()
        print(
            f"unexpected error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} (use --verbose for the traceback and Spark's own output)",
            file=sys.stderr,
        )
        return 1


class _Stderr(logging.StreamHandler):
    """A handler writing to ``sys.stderr`` as it is when a record is emitted, not as it was when
    the handler was made: a host that swaps stderr (a notebook, a test runner) still gets the
    lines after the first command of the process."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property ignores it
        pass


class _LevelPrefix(logging.Formatter):
    """``warning: message``: the same one-line shape as the error lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def log_to_stderr() -> None:
    """perfmon's own warnings (and, with --verbose, the rest of its log) go to stderr."""
    logger = logging.getLogger("perfmon_spark")
    if not logging.root.handlers:
        # py4j logs through the root logger (``logging.info``), which would install Python's default
        # handler on first use, and every perfmon line would then be printed twice
        logging.root.addHandler(logging.NullHandler())
    if not any(isinstance(h.formatter, _LevelPrefix) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(_LevelPrefix())
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def show_progress(on: bool) -> None:
    """A run's progress lines (``job.progress``) on stderr, as ``perfmon: <stage> <seconds> <counts>``."""
    from perfmon_spark.job.progress import PROGRESS as logger

    if not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("perfmon: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if on else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    log_to_stderr()
    return run_cli(argv, build_parser(), lambda args: COMMANDS[args.command](args))


def entry() -> None:
    """The ``perfmon`` console script. It exits with ``main``'s code itself, because some runners
    call an entry point and ignore what it returns (a Databricks Python wheel task): a failed run
    must fail the task."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
