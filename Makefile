# Two commands from a bare clone: `make demo` and `make test`. Each creates .venv, installs the
# package with every extra (local Spark, a Spark Connect client, report, prometheus, mlflow) and the test tools, and caches the
# Delta JARs in .ivy/ (later runs work offline).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PERFMON_IVY_DIR := $(CURDIR)/.ivy

# Debian packages the tests drive for real: Chromium renders the HTML report, the Pushgateway
# receives `perfmon export`, promtool checks and tests ops/prometheus/. Each is COMMAND:PACKAGE (or
# one name where they are the same); a package is installed where its command is missing (as root,
# or through sudo). `prometheus` brings promtool and the server, which apt starts on a host with
# systemd (`systemctl disable --now prometheus` stops it; the tests never need it).
SYSTEM_PACKAGES := chromium prometheus-pushgateway promtool:prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages test lint unit demo bench docs clean

setup: $(VENV)/.installed .ivy/.resolved

# Each set-up step prints a line when it starts and one with its seconds when it ends (nothing
# once it is done: the stamp files below are then up to date).
$(VENV)/.installed: pyproject.toml
	@echo "setup: creating $(VENV) ..."; t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && echo "setup: $(VENV) created ($$(( $$(date +%s) - t )) s)"
	@echo "setup: installing packages (pip; about 1-7 minutes the first time, mostly pyspark) ..."; \
	t=$$(date +%s); \
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[local,connect,report,prometheus,mlflow,test]' && \
	echo "setup: packages installed ($$(( $$(date +%s) - t )) s)"
	@touch $@

.ivy/.resolved: $(VENV)/.installed
	@echo "setup: caching the Delta Lake JARs in .ivy/ (starts a JVM; about 20-60 s the first time) ..."; \
	t=$$(date +%s); \
	$(BIN)/python -c "from perfmon_spark.session import ensure_delta_jars; ensure_delta_jars()" && \
	echo "setup: Delta Lake JARs cached ($$(( $$(date +%s) - t )) s)"
	@touch $@

# The Spark tests of the job's core again on the Spark that Databricks Runtime 17.3 LTS ships (4.0,
# with Delta 4.0), from a venv of their own (README, Deploy: supported runtimes).
VENV40 := .venv40
SPARK40 := pyspark==4.0.5 delta-spark==4.0.1
SPARK40_TESTS := tests/spark/test_job.py tests/spark/test_problem_types.py tests/spark/test_incremental.py \
	tests/spark/test_concurrent_runs.py

$(VENV40)/.installed: pyproject.toml Makefile
	@echo "setup: creating $(VENV40) with $(SPARK40) ..."; t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV40) && \
	$(VENV40)/bin/pip install --quiet --disable-pip-version-check -e '.[report,prometheus,mlflow,test]' $(SPARK40) && \
	$(VENV40)/bin/python -c "from perfmon_spark.session import ensure_delta_jars; ensure_delta_jars()" && \
	echo "setup: $(VENV40) ready ($$(( $$(date +%s) - t )) s)"
	@touch $@

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do command -v $${p%%:*} >/dev/null || echo $${p#*:}; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

test: setup system-packages lint $(VENV40)/.installed
	$(BIN)/python -m pytest -q
	$(VENV40)/bin/python -m pytest -q $(SPARK40_TESTS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

unit: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/unit

demo: setup
	@$(BIN)/perfmon demo --dir demo-lake

docs: $(VENV)/.installed
	$(BIN)/python -m perfmon_spark.reference > docs/reference.md
	$(BIN)/perfmon schema > docs/perfmon.schema.json

bench: setup
	$(BIN)/python bench/bench_full_run.py
	$(BIN)/python bench/bench_incremental.py

clean:
	rm -rf $(VENV) $(VENV40) .ivy demo-lake .pytest_cache
