# Two entry points: `make demo` (set up, generate the demo exports, ingest, summarise) and
# `make test` (set up the same way, run the whole suite). Both start from a bare Python 3.11.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
CUSTOMERS ?= 20000
SEED ?= 7

.PHONY: setup system demo test lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import venv, ensurepip' 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

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

test: setup system
	$(BIN)/python -m pytest -q tests

# Re-pin after changing dependencies: freezes the venv into requirements.lock and environment.yml.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^cjworkbench' > requirements.lock
	{ echo '# conda equivalent of requirements.lock (make lock writes both; tests/test_environment.py checks)'; \
	  echo 'name: cjworkbench'; echo 'channels: [conda-forge]'; echo 'dependencies:'; \
	  echo '  - python=3.11'; echo '  - pip'; echo '  - pip:'; echo '    - -e .'; \
	  sed 's/^/    - /' requirements.lock; } > environment.yml

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
