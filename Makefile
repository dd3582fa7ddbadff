# make test — set up .venv on a fresh machine and run lint, types and every test.
# make dev  — run the local stack (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit integration e2e dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e

bench: $(STAMP)
	$(BIN)/python bench/route_cost.py

dev: $(STAMP)
	$(BIN)/livechat dev --workspace workspaces/demo.yaml --port 8700

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
