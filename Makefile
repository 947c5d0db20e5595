# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap what they need:
# the virtual environment (.venv) and the MongoDB wire-protocol server (mongo-java-server from
# Maven Central, compiled launcher under tools/mongo-server/).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all bootstrap test lint run bench clean

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

bootstrap: $(STAMP)
	$(PY) -m devstack.dbserver fetch
	$(PY) -m devstack.pubsub_emulator build

test: bootstrap
	$(PY) -m devstack.dbserver run -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy common functions devstack bench tests

run: bootstrap
	$(PY) -m common.cli dev

bench: bootstrap
	$(PY) -m devstack.dbserver run -- $(PY) bench/engine.py

clean:
	rm -rf $(VENV) tools/mongo-server/lib tools/mongo-server/build .pytest_cache .mypy_cache .ruff_cache
