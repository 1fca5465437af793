# inoplan: two commands for a newcomer (see README.md)
#   make run    install into .venv and run the main job on the embedded default (SQLite, demo data)
#   make test   install into .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/inoplan serve --demo

test: $(STAMP)
	bash scripts/ensure-test-services.sh
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not postgres and not browser and not slow"

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m mypy

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis artifacts
