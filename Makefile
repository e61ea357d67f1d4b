# `make run` starts everything; `make test` runs the suite; `make bench` measures.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench assets chromium clean

run: $(VENV)/.runtime assets
	$(PY) -m app.devrun

test: $(VENV)/.dev assets chromium
	$(PY) -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

bench: $(VENV)/.dev assets chromium
	$(PY) -m bench.run $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

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
