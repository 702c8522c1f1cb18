# Two entry points: `make lab` (open the notebooks) and `make test` (run every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: lab test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.lab-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lab,hub]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lab,hub]"
	touch $@

# JupyterLab refuses to run as root unless told to (containers and CI machines often are root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

## Open JupyterLab on the tutorial notebooks.
lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

## Lint and type-check, then run the whole suite (unit, server, browser and notebook tests).
test: $(VENV)/.test-installed
	$(BIN)/ruff check nnlab tests benchmarks notebooks conftest.py
	$(BIN)/ruff format --check nnlab tests benchmarks notebooks conftest.py
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check nnlab tests benchmarks notebooks conftest.py

format: $(VENV)/.test-installed
	$(BIN)/ruff format nnlab tests benchmarks notebooks conftest.py
	$(BIN)/ruff check --fix nnlab tests benchmarks notebooks conftest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
