# `make run` starts everything; `make test` runs the suite; `make bench` measures.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint format bench bench-table assets chromium clean

run: $(VENV)/.local assets
	$(PY) -m devtools.run

# pytest-xdist worker processes, each with its own PostgreSQL and Redis: two keep
# the suite within 10 minutes on CI's 2 cores. 0 runs it in this one process.
PYTEST_WORKERS ?= 2
# worksteal: tests are handed out in batches, and a worker that runs out takes
# the other's pending ones, so a batch of long tests never ends the run alone.
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist worksteal

# Everything, as CI runs it (after `make lint`).
test: $(VENV)/.dev assets chromium
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The quick subset while working: no browser, no worker or server processes.
test-fast: $(VENV)/.dev assets
	$(PY) -m pytest $(PYTEST_XDIST) -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# A full run rewrites bench/results.json, and the README's table is rendered from it;
# `--only` and `--quick` runs leave both alone.
bench: $(VENV)/.dev assets chromium
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.table --write README.md

# Plain files: needs nothing installed but Python.
bench-table: | $(VENV)/bin/python
	$(PY) -m bench.table --write README.md

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.local: requirements.txt requirements-local.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-local.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-local.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.local

assets: app/static/vendor/.built

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

app/static/vendor/.built: node_modules/.installed build-assets.mjs
	npm run --silent build
	touch $@

# Browser tests drive Debian's chromium; Playwright cannot download its own here.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests will be skipped)"; fi; }

clean:
	rm -rf $(VENV) node_modules app/static/vendor
