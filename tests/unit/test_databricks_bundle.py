"""The Databricks bundle (``databricks/databricks.yml``), without a workspace or Spark.

Every job is built with the typed classes of ``databricks-bundles``, which reject unknown fields, so
a misspelt key fails here rather than at deploy time; the retrain branch reads the value the decide
notebook sets; every file the bundle names exists; the config it runs parses; each target's tasks
read and write that target's own tables; URLs come from a secret scope; in each target a failed run
notifies, and the perfmon tasks time out and retry.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import operator
import os
import re
import shlex
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from databricks.bundles.jobs import ConditionTaskOp, Job, Task, TaskDependency

from perfmon_spark.cli import COMMANDS, RETRAIN_EXIT, build_parser
from perfmon_spark.config import load_config
from perfmon_spark.export import PUSHGATEWAY_ENV
from tests.helpers import ROOT

BUNDLE_ROOT = Path(__file__).resolve().parents[2] / "databricks"
# The variables without a default must be given at deploy time; these stand in for them.
REQUIRED_VALUES = {"retrain_job_id": "123"}
# Values a deploy may give the notification variables (empty by default).
NOTIFY_VALUES = {"notify_emails": ["ml-oncall@example.com"], "notify_destinations": [{"id": "0a1b2c3d"}]}
VARIABLE = re.compile(r"\$\{var\.([\w-]+)\}")
SECRET = re.compile(r"^\{\{secrets/[\w.-]+/[\w.-]+\}\}$")  # a Databricks secret reference
FILE_PATH = "${workspace.file_path}/"  # where the bundle's own files are synced to
RUN_DATE = "{{job.start_time.iso_date}}"

# The keys of the bundle's top level, of an artifact and of a variable (the Databricks CLI's
# config.Root, config.Artifact and variable.Variable); databricks-bundles types resources only.
BUNDLE_KEYS = {
    "bundle", "include", "variables", "workspace", "artifacts", "resources", "targets",
    "sync", "run_as", "presets", "experimental", "permissions", "scripts", "python",
}  # fmt: skip
ARTIFACT_KEYS = {"type", "path", "files", "build", "executable", "dynamic_version"}
VARIABLE_KEYS = {"type", "default", "description", "lookup"}
EXPECTED_KINDS = {
    "monitor": "python_wheel_task",
    "decide": "notebook_task",
    "retrain_recommended": "condition_task",
    "rollback_enabled": "condition_task",
    "rollback": "notebook_task",
    "retrain": "run_job_task",
    "report": "python_wheel_task",
    "export": "python_wheel_task",
}
EXTRAS = {"report": "report", "export": "prometheus", "rollback": "mlflow"}  # the wheel's extra each command needs
SERVERLESS = "perfmon_daily_serverless"  # the same job on serverless compute
CELL = "\n# COMMAND ----------\n"  # between a notebook's cells


def resolve(value, values: dict):
    """``value`` with every ``${var.name}`` replaced by the variable's value, recursively; a value
    that is one reference and nothing else takes the variable's value as is (a complex variable's list)."""
    if isinstance(value, dict):
        return {k: resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    if isinstance(value, str):
        if whole := VARIABLE.fullmatch(value):
            return copy.deepcopy(values[whole.group(1)])
        return VARIABLE.sub(lambda m: str(values[m.group(1)]), value)
    return value


def task_kind(task: Task) -> str:
    """The one ``*_task`` field that is set."""
    kinds = [name for name, value in vars(task).items() if name.endswith("_task") and value is not None]
    assert len(kinds) == 1, f"task {task.task_key!r} has task kinds {kinds}"
    return kinds[0]


def target_values(raw: dict, target: str, deploy: dict | None = None) -> dict:
    """The variables' values in ``target``, as the bundle resolves them: what the deploy gives
    (``deploy``), else the target's own value, else the default, else the stand-in of a required one."""
    given = {**raw["targets"][target].get("variables", {}), **(deploy or {})}
    return {
        name: given.get(name, spec.get("default", REQUIRED_VALUES.get(name))) for name, spec in raw["variables"].items()
    }


def target_job(raw: dict, target: str, deploy: dict | None = None, name: str = "perfmon_daily") -> Job:
    """The job ``name`` of ``target`` (with the values ``deploy`` gives), built with the typed classes."""
    resolved = resolve(raw, target_values(raw, target, deploy))
    jobs = {**resolved["resources"]["jobs"], **resolved["targets"][target].get("resources", {}).get("jobs", {})}
    return Job.from_dict(copy.deepcopy(jobs[name]))


def task_parameters(task: Task) -> list[str]:
    """The parameters a task passes: a wheel task's arguments, a notebook task's widget values."""
    if task.python_wheel_task:
        return list(task.python_wheel_task.parameters)
    if task.notebook_task:
        return list(task.notebook_task.base_parameters.values())
    return []


def bundle_file(parameter: str) -> Path | None:
    """The local file behind a ``${workspace.file_path}/...`` parameter, or None for other values."""
    return BUNDLE_ROOT / parameter.removeprefix(FILE_PATH) if parameter.startswith(FILE_PATH) else None


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((BUNDLE_ROOT / "databricks.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def values(raw) -> dict:
    """The values of the default target (what `databricks bundle deploy` without -t uses)."""
    [default] = [name for name, target in raw["targets"].items() if target.get("default")]
    return target_values(raw, default)


@pytest.fixture(scope="module")
def bundle(raw, values) -> dict:
    return resolve(raw, values)


@pytest.fixture(scope="module")
def jobs(bundle) -> dict[str, Job]:
    return {name: Job.from_dict(copy.deepcopy(spec)) for name, spec in bundle["resources"]["jobs"].items()}


@pytest.fixture(scope="module")
def tasks(jobs) -> dict[str, Task]:
    return {t.task_key: t for t in jobs["perfmon_daily"].tasks}


def test_bundle_artifact_and_variable_keys_are_known(raw):
    assert set(raw) <= BUNDLE_KEYS
    for name, artifact in raw["artifacts"].items():
        assert set(artifact) <= ARTIFACT_KEYS, name
    for name, spec in raw["variables"].items():
        assert set(spec) <= VARIABLE_KEYS, name
    assert set(REQUIRED_VALUES) == {n for n, spec in raw["variables"].items() if "default" not in spec}


def test_every_job_is_a_typed_job_and_round_trips(raw, jobs):
    assert set(jobs) == {"perfmon_daily"}
    assert set(raw["targets"]["serverless"]["resources"]["jobs"]) == {SERVERLESS}  # that target's only
    jobs = {**jobs, SERVERLESS: target_job(raw, "serverless", name=SERVERLESS)}
    for name, job in jobs.items():  # as_dict leaves out empty lists, such as notifications to nobody
        assert Job.from_dict(job.as_dict()).as_dict() == job.as_dict(), name
    daily = jobs["perfmon_daily"]
    assert daily.schedule.timezone_id == "UTC"
    assert len(daily.schedule.quartz_cron_expression.split()) in (6, 7)  # quartz: seconds first


@pytest.mark.parametrize(
    "where, right, wrong",
    [
        ((), "python_wheel_task", "python_wheel_tsk"),
        (("python_wheel_task",), "entry_point", "entrypoint"),
        (("libraries", 0), "whl", "wheel"),
    ],
    ids=["task kind", "nested field", "library field"],
)
def test_a_misspelt_field_is_rejected(bundle, where, right, wrong):
    [task] = [t for t in bundle["resources"]["jobs"]["perfmon_daily"]["tasks"] if t["task_key"] == "monitor"]
    task = copy.deepcopy(task)
    Task.from_dict(copy.deepcopy(task))  # as written, it is valid
    container = functools.reduce(operator.getitem, where, task)
    container[wrong] = container.pop(right)
    with pytest.raises(ValueError, match=f"Unexpected field '{wrong}'"):
        Task.from_dict(task)


def test_tasks_have_the_expected_kinds_and_known_references(jobs, tasks):
    assert {key: task_kind(t) for key, t in tasks.items()} == EXPECTED_KINDS
    clusters = {c.job_cluster_key for c in jobs["perfmon_daily"].job_clusters}
    for task in tasks.values():
        assert {d.task_key for d in task.depends_on} <= set(tasks), task.task_key
        if task_kind(task) in ("condition_task", "run_job_task"):
            assert task.job_cluster_key is None and not task.libraries, task.task_key
        else:
            assert task.job_cluster_key in clusters and [lib.whl for lib in task.libraries if lib.whl], task.task_key


def test_wheel_tasks_run_the_perfmon_console_script(tasks, values):
    [entry] = [ep for ep in metadata.distribution("perfmon_spark").entry_points if ep.name == "perfmon"]
    assert entry.value == "perfmon_spark.cli:entry"
    monitor = tasks["monitor"].python_wheel_task
    assert (monitor.package_name, monitor.entry_point) == ("perfmon_spark", "perfmon")
    assert monitor.parameters[:3] == ["run", "--config", FILE_PATH + values["monitor_config"]]
    location = f"output.location={values['catalog']}.{values['schema']}"
    assert monitor.parameters[3:] == ["--set", location, "--as-of", RUN_DATE]


@pytest.mark.parametrize("key", [k for k, kind in EXPECTED_KINDS.items() if kind == "python_wheel_task"])
def test_wheel_task_parameters_parse_as_perfmon_arguments(tasks, key):
    wheel = tasks[key].python_wheel_task
    assert (wheel.package_name, wheel.entry_point) == ("perfmon_spark", "perfmon")
    command = wheel.parameters[0]
    if command not in COMMANDS:
        pytest.skip(f"perfmon has no {command!r} command yet")
    args = build_parser().parse_args(wheel.parameters)
    assert args.command == command


def test_the_retrain_job_runs_only_when_decide_sets_retrain_true(tasks):
    decide, condition, retrain = tasks["decide"], tasks["retrain_recommended"], tasks["retrain"]
    assert [d.task_key for d in decide.depends_on] == ["monitor"]
    assert [d.task_key for d in tasks["report"].depends_on] == ["monitor"]
    assert condition.depends_on == [TaskDependency(task_key="decide")]
    assert condition.condition_task.left == "{{tasks.decide.values.retrain}}"
    assert condition.condition_task.op == ConditionTaskOp.EQUAL_TO
    assert condition.condition_task.right == "true"
    assert retrain.depends_on == [TaskDependency(task_key="retrain_recommended", outcome="true")]
    assert retrain.run_job_task.job_id == int(REQUIRED_VALUES["retrain_job_id"])


def test_every_file_the_bundle_names_exists(bundle, tasks):
    for name, artifact in bundle["artifacts"].items():
        source = (BUNDLE_ROOT / artifact["path"]).resolve()
        assert (source / "pyproject.toml").is_file(), name
        build = shlex.split(artifact["build"])
        wheel_dir = (source / build[build.index("--wheel-dir") + 1]).resolve()
        for task in tasks.values():
            for lib in task.libraries:  # what the tasks install is what the build writes
                if lib.whl:
                    assert (BUNDLE_ROOT / lib.whl).resolve().parent == wheel_dir, task.task_key
    named = [bundle_file(p) for task in tasks.values() for p in task_parameters(task) if bundle_file(p)]
    assert named, "no task names a bundle file"
    for path in named:
        assert path.is_file(), path
    for task in tasks.values():
        if task.notebook_task:
            notebook = BUNDLE_ROOT / task.notebook_task.notebook_path
            # A .py file is a notebook to Databricks only with this first line.
            assert notebook.read_text(encoding="utf-8").startswith("# Databricks notebook source\n"), notebook


def test_the_config_parses_and_names_catalog_tables(values):
    cfg = load_config(BUNDLE_ROOT / values["monitor_config"])
    for ref in (cfg.predictions.table, cfg.labels.table, cfg.output.location):
        assert not ref.is_path, ref.text  # Unity Catalog names, not paths on the driver


def config_reads(task: Task) -> tuple[str, list[str]] | None:
    """(config file, ``--set`` overrides) of a task that loads the perfmon config, else None."""
    if task.python_wheel_task:
        args = build_parser().parse_args(task.python_wheel_task.parameters)
        return args.config, args.overrides
    if task.notebook_task and "config" in task.notebook_task.base_parameters:
        widgets = task.notebook_task.base_parameters
        return widgets["config"], shlex.split(widgets.get("set", ""))
    return None


def target_tables(raw: dict, target: str, name: str = "perfmon_daily") -> dict[str, str]:
    """Each config-reading task of ``target``'s job ``name``: the perf_metrics table it reads or
    writes, from the config as the task loads it (its ``--set`` overrides applied)."""
    values = target_values(raw, target)
    tables = {}
    for task in target_job(raw, target, name=name).tasks:
        if (reads := config_reads(task)) is not None:
            config, overrides = reads
            assert bundle_file(config) == BUNDLE_ROOT / values["monitor_config"], task.task_key
            tables[task.task_key] = load_config(bundle_file(config), overrides).output.table("perf_metrics").text
    return tables


def test_dev_and_prod_write_different_tables_and_each_tasks_read_what_its_run_wrote(raw):
    assert set(raw["targets"]) == {"dev", "prod", "serverless"}
    dev, prod = target_tables(raw, "dev"), target_tables(raw, "prod")
    assert set(dev) == set(prod) == {"monitor", "decide", "rollback", "report", "export"}
    assert set(dev.values()) == {"main.ml_monitoring_dev.perf_metrics"}
    assert set(prod.values()) == {"main.ml_monitoring.perf_metrics"}
    # production on serverless compute: both jobs of the target on prod's tables
    assert target_tables(raw, "serverless", SERVERLESS) == target_tables(raw, "serverless") == prod


@pytest.mark.parametrize(
    "target, classic, serverless",
    [("dev", "PAUSED", None), ("prod", "UNPAUSED", None), ("serverless", "PAUSED", "UNPAUSED")],
)
def test_one_job_runs_on_schedule_in_production(raw, target, classic, serverless):
    """prod starts the classic job, serverless the serverless one (it deploys the classic job
    paused), and a development copy neither."""
    assert target_job(raw, target).schedule.pause_status.value == classic
    if serverless is None:
        with pytest.raises(KeyError):
            target_job(raw, target, name=SERVERLESS)
    else:
        assert target_job(raw, target, name=SERVERLESS).schedule.pause_status.value == serverless


def serverless_only(task: dict) -> dict:
    """A serverless task without what serverless adds (an environment, the notebooks' install widgets)."""
    task = {k: v for k, v in task.items() if k not in ("environment_key", "environment_variables_key")}
    if "notebook_task" in task:
        widgets = task["notebook_task"]["base_parameters"]
        task["notebook_task"] = {
            **task["notebook_task"],
            "base_parameters": {k: v for k, v in widgets.items() if k not in ("wheels", "extras")},
        }
    return task


@pytest.fixture(scope="module")
def serverless_target(raw) -> dict[str, Job]:
    """The target serverless's jobs: the classic one (paused) and the serverless one."""
    return {name: target_job(raw, "serverless", name=name) for name in ("perfmon_daily", SERVERLESS)}


def test_the_serverless_job_runs_the_classic_tasks_without_a_cluster(serverless_target):
    """Task for task the same commands, dependencies, timeouts and retries, less the cluster and its
    libraries; what a perfmon task needs comes from the job's environment or the install notebook."""
    classic, serverless = serverless_target["perfmon_daily"], serverless_target[SERVERLESS]
    assert not serverless.job_clusters
    for name in ("email_notifications", "webhook_notifications", "max_concurrent_runs"):
        assert getattr(serverless, name) == getattr(classic, name), name
    assert serverless.schedule.quartz_cron_expression == classic.schedule.quartz_cron_expression
    without_cluster = [
        {k: v for k, v in t.as_dict().items() if k not in ("job_cluster_key", "libraries")} for t in classic.tasks
    ]
    assert [serverless_only(t.as_dict()) for t in serverless.tasks] == without_cluster
    [environment] = serverless.environments
    env_vars = {e.environment_variables_key for e in serverless.environment_variables}
    for task in serverless.tasks:
        assert task.job_cluster_key is None and not task.libraries, task.task_key
        if task.python_wheel_task:
            assert task.environment_key == environment.environment_key, task.task_key
        if task.notebook_task:
            widgets = task.notebook_task.base_parameters
            assert widgets["wheels"] == "${workspace.artifact_path}/.internal", task.task_key  # where deploys upload
            assert widgets.get("extras", "") == EXTRAS.get(task.task_key, ""), task.task_key
            cells = (BUNDLE_ROOT / task.notebook_task.notebook_path).read_text(encoding="utf-8").split(CELL)
            assert cells[0].splitlines()[1] == "# MAGIC %run ./install_wheel", task.task_key  # before any import
        # the URLs: of the notification sinks (monitor) and the Pushgateway (export)
        assert (task.environment_variables_key in env_vars) == (task.task_key in ("monitor", "export")), task.task_key


def test_the_serverless_environment_installs_the_wheel_and_every_extra_a_task_needs(serverless_target):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    [environment] = serverless_target[SERVERLESS].environments
    wheels = {lib.whl for t in serverless_target["perfmon_daily"].tasks for lib in t.libraries if lib.whl}
    needed = [package for key in sorted(set(EXTRAS.values())) for package in extras[key]]
    assert sorted(environment.spec.dependencies) == sorted([*wheels, *needed])


@pytest.mark.parametrize("deploy", [None, NOTIFY_VALUES], ids=["defaults", "given"])
@pytest.mark.parametrize("target", ["dev", "prod"])
def test_a_failed_run_notifies_whoever_the_target_names(raw, target, deploy):
    job = target_job(raw, target, deploy)
    values = target_values(raw, target, deploy)
    assert job.email_notifications.on_failure == values["notify_emails"]
    assert [w.as_dict() for w in job.webhook_notifications.on_failure] == values["notify_destinations"]
    if deploy is None:
        assert values["notify_emails"] == values["notify_destinations"] == []  # nobody unless given
    else:
        assert Job.from_dict(job.as_dict()) == job


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_perfmon_tasks_time_out_and_retry_and_the_retrain_task_does_not(raw, target):
    """Retries are safe for the perfmon commands (idempotent) and not for retraining; a timeout is not
    retried, and the monitor task's timeout ends a run before its claim expires (run_timeout)."""
    tasks = {t.task_key: t for t in target_job(raw, target).tasks}
    for key, task in tasks.items():
        if task.job_cluster_key:  # a perfmon command
            assert task.timeout_seconds > 0, key
            assert task.max_retries >= 1 and task.min_retry_interval_millis >= 60_000, key
            assert not task.retry_on_timeout, key
        else:
            assert not task.max_retries, key
    cfg = load_config(BUNDLE_ROOT / target_values(raw, target)["monitor_config"])
    assert tasks["monitor"].timeout_seconds < cfg.run_timeout.delta.total_seconds()
    export = tasks["export"]
    assert [d.task_key for d in export.depends_on] == ["monitor"]  # each daily run pushes once it succeeded
    assert export.python_wheel_task.parameters[0] == "export" and "prometheus" in export.python_wheel_task.parameters


def test_urls_come_from_the_secret_scope_not_the_deployers_environment(jobs, tasks, values):
    """The variables the job's perfmon commands read, and only those, are set from secrets."""
    [cluster] = jobs["perfmon_daily"].job_clusters
    env = cluster.new_cluster.spark_env_vars
    cfg = load_config(BUNDLE_ROOT / values["monitor_config"])
    exports = [t for t in tasks.values() if t.python_wheel_task and t.python_wheel_task.parameters[0] == "export"]
    assert set(env) == {sink.url_env for sink in cfg.notifications} | ({PUSHGATEWAY_ENV} if exports else set())
    for name, value in env.items():
        assert SECRET.match(value) and f"/{values['secret_scope']}/" in value, name


@pytest.mark.parametrize("key", EXTRAS)
def test_tasks_install_the_extra_their_command_needs(tasks, key):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert [lib.pypi.package for lib in tasks[key].libraries if lib.pypi] == extras[EXTRAS[key]]


class FakeDbutils:
    """The parts of ``dbutils`` the decide notebook uses: widgets (the task's parameters) and task values."""

    def __init__(self, parameters: dict[str, str]):
        self.task_values: dict[str, object] = {}
        widgets: dict[str, str] = {}
        self.widgets = SimpleNamespace(
            text=lambda name, default: widgets.setdefault(name, parameters.get(name, default)),
            get=lambda name: widgets[name],
        )
        self.jobs = SimpleNamespace(
            taskValues=SimpleNamespace(set=lambda key, value: self.task_values.__setitem__(key, value))
        )


def notebook(name: str):
    """A task notebook as a module: its ``if __name__ == "__main__"`` cell does not run on import."""
    spec = importlib.util.spec_from_file_location(name, BUNDLE_ROOT / "tasks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def decide_notebook():
    return notebook("decide_task")


@pytest.mark.parametrize("exit_code, retrain", [(RETRAIN_EXIT, True), (0, False)])
def test_decide_notebook_sets_retrain_from_the_exit_code(monkeypatch, decide_notebook, tasks, exit_code, retrain):
    calls = []
    monkeypatch.setattr(decide_notebook, "perfmon", lambda argv: calls.append(argv) or exit_code)
    parameters = tasks["decide"].notebook_task.base_parameters
    dbutils = FakeDbutils(parameters)
    assert decide_notebook.main(dbutils) is retrain
    assert calls == [["decide", "--config", parameters["config"], "--set", parameters["set"]]]
    assert dbutils.task_values == {"retrain": retrain}  # the key the condition task reads


def test_decide_notebook_fails_the_task_on_an_error_and_sets_no_value(monkeypatch, decide_notebook):
    monkeypatch.setattr(decide_notebook, "perfmon", lambda argv: 3)
    dbutils = FakeDbutils({"config": "/Workspace/x.yml", "model_version": "v2"})
    with pytest.raises(RuntimeError, match="exit code 3"):
        decide_notebook.main(dbutils)
    assert dbutils.task_values == {}


def test_decide_notebook_passes_the_model_version(monkeypatch, decide_notebook):
    calls = []
    monkeypatch.setattr(decide_notebook, "perfmon", lambda argv: calls.append(argv) or 0)
    decide_notebook.main(FakeDbutils({"config": "c.yml", "model_version": "v2"}))
    assert calls == [["decide", "--config", "c.yml", "--model-version", "v2"]]


@pytest.fixture
def rollback_notebook():
    return notebook("rollback_task")


def test_the_rollback_task_is_off_unless_the_target_asks_and_applies_only_when_told(raw, tasks):
    condition, rollback = tasks["rollback_enabled"], tasks["rollback"]
    assert condition.depends_on == [TaskDependency(task_key="decide")]
    assert (condition.condition_task.op, condition.condition_task.left, condition.condition_task.right) == (
        ConditionTaskOp.NOT_EQUAL,
        "off",
        "off",
    )
    assert rollback.depends_on == [TaskDependency(task_key="rollback_enabled", outcome="true")]
    for mode in ("dry_run", "apply"):
        job = {t.task_key: t for t in target_job(raw, "prod", {"rollback": mode}).tasks}
        assert (
            job["rollback_enabled"].condition_task.left == job["rollback"].notebook_task.base_parameters["mode"] == mode
        )


@pytest.mark.parametrize("exit_code, outcome", [(0, "none"), (10, "rolled_back"), (11, "refused")])
@pytest.mark.parametrize("mode, apply", [("apply", ["--apply"]), ("dry_run", [])])
def test_rollback_notebook_sets_the_outcome_from_the_exit_code(
    monkeypatch, rollback_notebook, exit_code, outcome, mode, apply
):
    calls = []
    monkeypatch.setattr(rollback_notebook, "perfmon", lambda argv: calls.append(argv) or exit_code)
    dbutils = FakeDbutils({"config": "c.yml", "set": "output.location=main.x", "mode": mode})
    assert rollback_notebook.main(dbutils) == outcome
    assert calls == [["rollback", "--config", "c.yml", "--set", "output.location=main.x", *apply]]
    assert dbutils.task_values == {"rollback": outcome}


def test_rollback_notebook_fails_the_task_on_an_error(monkeypatch, rollback_notebook):
    monkeypatch.setattr(rollback_notebook, "perfmon", lambda argv: 2)
    dbutils = FakeDbutils({"config": "c.yml"})
    with pytest.raises(RuntimeError, match="perfmon rollback failed with exit code 2"):
        rollback_notebook.main(dbutils)
    assert dbutils.task_values == {}


@pytest.fixture
def install_notebook():
    return notebook("install_wheel")


def test_install_notebook_installs_the_newest_wheel_with_its_extras(monkeypatch, install_notebook, tmp_path):
    calls = []
    monkeypatch.setattr(install_notebook.subprocess, "run", lambda argv, check: calls.append(argv))
    assert install_notebook.install("", "mlflow") is None and not calls  # a job cluster attached it
    with pytest.raises(FileNotFoundError, match="no perfmon_spark wheel in"):
        install_notebook.install(str(tmp_path))
    for age, version in enumerate(["0.3.0", "0.2.0", "0.1.0"]):  # uploaded last: 0.1.0 (a rollback of the code)
        wheel = tmp_path / f"perfmon_spark-{version}-py3-none-any.whl"
        wheel.write_bytes(b"")
        os.utime(wheel, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "other-9.9.9-py3-none-any.whl").write_bytes(b"")
    newest = tmp_path / "perfmon_spark-0.1.0-py3-none-any.whl"
    assert install_notebook.install(str(tmp_path), "mlflow") == newest
    assert install_notebook.install(str(tmp_path)) == newest
    assert [argv[1:] for argv in calls] == [
        ["-m", "pip", "install", "--quiet", f"{newest}[mlflow]"],
        ["-m", "pip", "install", "--quiet", str(newest)],
    ]
