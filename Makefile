# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap what they need:
# the virtual environment (.venv) and the MongoDB wire-protocol server (mongo-java-server from
# Maven Central, compiled launcher under tools/mongo-server/).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# checkov pins dozens of packages (boto3, numpy, an old `packaging`) and takes minutes to
# install, so it lives in its own virtual environment, out of the way of the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# OpenTofu from the Go module proxy (`go install pkg@version` refuses its go.mod's replace
# directive, so build inside the downloaded module). Optional: `make tofu` (about 10 minutes).
TOFU_VERSION := v1.10.10
TOFU := .tools/bin/tofu

.PHONY: all bootstrap bootstrap-run test test-fast test-mongodb lint openapi run bench clean tofu

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'

$(TOFU):
	go mod download github.com/opentofu/opentofu@$(TOFU_VERSION)
	cd "$$(go env GOMODCACHE)/github.com/opentofu/opentofu@$(TOFU_VERSION)" && \
		go build -trimpath -o "$(CURDIR)/$(TOFU)" ./cmd/tofu

tofu: $(TOFU)

# What `make run` needs: the project and the database server.
bootstrap-run: $(STAMP)
	$(PY) -m devstack.dbserver fetch

# What `make test` needs on top: checkov, the Pub/Sub emulator and (as root) Chromium.
bootstrap: bootstrap-run $(CHECKOV_VENV)/bin/checkov
	$(PY) -m devstack.pubsub_emulator build
	scripts/ensure-chromium.sh

# The tests write Python's bytecode caches (__pycache__/, git-ignored) even where the environment
# sets PYTHONDONTWRITEBYTECODE: without them every run compiles the project's modules again and
# pytest rewrites every test module again (make test-fast's collection: 3.7 s -> 1.9 s).
TEST_PYTHON = env -u PYTHONDONTWRITEBYTECODE $(PY)

# The database server for a short run (C1 compiler only, see devstack/dbserver.py).
test: bootstrap
	$(TEST_PYTHON) -m devstack.dbserver run --short-run -- $(PY) -m pytest $(PYTEST_ARGS)

# The quick layers: tests/unit (no process, no database) and tests/db (the wire server only),
# in seconds. `make test` runs these and tests/process and tests/infra.
# Only tests/process fuzzes with schemathesis and hypothesis: their plugins cost ~4 s of CPU to load.
# pytest starts the database server itself (tests/conftest.py), booting while the unit tests run.
FAST_PLUGINS_OFF = -p no:schemathesis -p no:hypothesispytest -p no:anyio
test-fast: bootstrap-run
	$(TEST_PYTHON) -m pytest -q $(FAST_PLUGINS_OFF) tests/unit tests/db $(PYTEST_ARGS)

# Opt-in: with MONGO_URI pointing at a real MongoDB, `explain` proves the tick's and the status
# report's reads scan indexes and examine only due and open posts (the local server cannot).
test-mongodb: $(STAMP)
	@test -n "$(MONGO_URI)" || { echo "test-mongodb: set MONGO_URI to a real MongoDB" >&2; exit 2; }
	$(PY) -m pytest -rs tests/db/test_mongodb_explain.py tests/db/test_query_shapes.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy common functions devstack bench tests
	$(VENV)/bin/lint-imports

# docs/openapi.yaml from the shapes declared in common/entrypoints/api/shapes/ (a test keeps
# the committed file equal to the generated one).
openapi: $(STAMP)
	$(PY) -m devstack.openapi

# TICK_SECONDS=10 make run ticks faster than Cloud Scheduler's minute.
run: bootstrap-run
	$(PY) -m devstack --tick-seconds $(or $(TICK_SECONDS),60) $(if $(PORT_BASE),--port-base $(PORT_BASE))

bench: bootstrap-run
	$(PY) -m devstack.dbserver run -- $(PY) bench/engine.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/coldstart.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/lateness.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/fanout.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/api.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/web.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/media.py
	$(PY) bench/adapters.py
	$(PY) -m devstack.dbserver run -- $(PY) bench/threads.py

# The web app's pages as PNGs in docs/ (headless Chromium through Playwright).
screenshots: bootstrap-run
	scripts/ensure-chromium.sh
	$(PY) -m devstack.dbserver run -- $(PY) -m devstack.screenshots

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .tools tools/mongo-server/lib tools/mongo-server/build .pytest_cache .mypy_cache .ruff_cache
