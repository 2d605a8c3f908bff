# The two commands of the quick start: `make run` and `make test`.
# Each creates .venv with the interpreter named by PYTHON (3.11+) and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCENARIO ?= peak_week
SEED ?= 1
# replications until the verdict is precise (syncsim compare --precision)
PRECISION ?= 0.05
MAX_REPLICATIONS ?= 6

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "syncsim needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/syncsim compare $(SCENARIO) --seed $(SEED) --precision $(PRECISION) --max-replications $(MAX_REPLICATIONS) --no-history

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy sim mocks strategies
	$(BIN)/mypy --strict strategies

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	$(BIN)/syncsim bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
