"""Errors a user can cause and act on; the CLI maps each class to an exit code.

Anything that is not a ``PerfmonError`` is a bug and keeps its traceback.
"""


class PerfmonError(Exception):
    """Base class of user-facing errors; ``str(e)`` is the one line shown to the user."""

    exit_code = 1
    prefix = "error"

    def __str__(self) -> str:
        return f"{self.prefix}: {super().__str__()}"


class ConfigError(PerfmonError):
    """The config file or the command line is wrong (exit 2)."""

    exit_code = 2
    prefix = "config error"


class InputError(PerfmonError):
    """An input table is missing, or lacks a column, or a column has an unusable type (exit 3)."""

    exit_code = 3
    prefix = "input error"


class StrictError(PerfmonError):
    """A run under ``--strict`` (or ``strict: true``) had warnings: it ended FAILED (exit 4)."""

    exit_code = 4
    prefix = "strict"


class ConcurrentRunError(PerfmonError):
    """Another run holds the monitor (``io.claims``): this run stopped before writing anything
    (exit 5), or after waiting as long as ``--wait`` allowed."""

    exit_code = 5
    prefix = "concurrent run"


class MissingDependencyError(PerfmonError):
    """A command needs a package of an optional extra that is not installed (exit 1)."""

    def __init__(self, package: str, extra: str, command: str):
        super().__init__(f"{command} needs {package}, which is not installed: pip install 'perfmon-spark[{extra}]'")
