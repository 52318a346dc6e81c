# Nightshift: `make demo` runs a whole batch on the embedded default; `make test` runs the tests.
# Both create .venv and install with the committed constraints when it is missing or stale.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo up test test-fast lint bench reliability system clean

$(STAMP): requirements.txt requirements-dev.txt requirements-deploy.txt constraints.txt constraints-deploy.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -c constraints-deploy.txt \
		-r requirements.txt -r requirements-dev.txt -r requirements-deploy.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

system:
	@bash scripts/ensure-system-packages.sh

demo: system $(STAMP)
	$(PY) -m nightshift demo $(ARGS)

# The local deployment on loopback from one settings file (SETTINGS, default deploy/local.yaml); Ctrl-C stops it.
up: system $(STAMP)
	$(PY) -m nightshift_local.up $(SETTINGS)

test: system $(STAMP)
	@bash scripts/ensure-system-packages.sh --tests
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not agentcli" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check dags plugins include tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

reliability: system $(STAMP)
	$(PY) -m pytest -m reliability --reliability-table -q $(PYTEST_ARGS)

# `make bench BENCH_ARGS="batch dag"` runs some areas (python -m benchmarks --list); figures are merged
# into .nightshift/bench/results.json. BENCH_NIGHTS=rate_limit,20x3 picks some of the batch nights.
bench: system $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .demo .pytest_cache .mypy_cache .ruff_cache
