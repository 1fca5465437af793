# inoplan: two commands for a newcomer (see README.md)
#   make run    install into .venv and run the service on the embedded default (SQLite, demo data)
#   make test   install into .venv and run the whole test suite with its coverage threshold
# and the gates CI runs beside the tests (.ci/run): make lint. CONTRIBUTING.md explains each.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Exact versions, with hashes, of every runtime and development dependency (all extras).
LOCK   := requirements.lock
# make run HOST=0.0.0.0 PORT=8080
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Arguments for pytest, e.g. make test PYTEST_ARGS="tests/cli -x"; test workers (pytest-xdist,
# one per CPU by default; PYTEST_WORKERS=0 runs the tests in one process)
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	--generate-hashes --no-header --quiet --output-file $(LOCK)

.PHONY: install run test test-fast lint format api-docs audit lock lock-upgrade bench clean

# Install from the lock (hashes checked, nothing outside it), then the project without deps.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python scripts/check_lock.py
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/inoplan serve --demo --host $(HOST) --port $(PORT)

# The tests, subprocesses included, under coverage; fails below [tool.coverage.report] fail_under.
test: $(STAMP)
	bash scripts/ensure-test-services.sh
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not postgres and not browser and not slow" $(PYTEST_ARGS)

# Static gates: lint, format, types (src and tests), layers (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/python -m ruff check src tests bench scripts
	$(BIN)/python -m ruff format --check src tests bench scripts
	$(BIN)/python -m mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/python -m ruff check --fix src tests bench scripts
	$(BIN)/python -m ruff format src tests bench scripts

# The response fields of every route in docs/api.md, from the OpenAPI document.
api-docs: $(STAMP)
	$(BIN)/python scripts/api_fields.py

# Known vulnerabilities in the locked versions; says plainly when no data can be had.
audit: $(STAMP)
	$(BIN)/python scripts/audit.py $(LOCK)

# Regenerate the lock after a change to the requirements in pyproject.toml; versions already
# locked are kept where they still fit. lock-upgrade moves every package to its newest fit.
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet "uv>=0.9,<1"; }
	$(UV_COMPILE)

lock-upgrade:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet "uv>=0.9,<1"; }
	$(UV_COMPILE) --upgrade

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache \
		artifacts htmlcov .coverage .coverage.*
