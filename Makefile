# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	# Lambda's Python 3.12 with boto3 only: the local runtime runs the functions in it.
	$(BIN)/python -c "from dynamo_continuous_backup.local.lambda_python import lambda_python as p; print('Lambda Python:', p())"
	# The wheels deploy's zip carries (orjson, hjson for Lambda's platform), fetched once into their
	# cache: the tests build their zip from it and never run pip (offline: none, stdlib json).
	$(BIN)/python -c "from dynamo_continuous_backup.install.packaging import fetch_wheels as f; print('Lambda wheels:', *[w.name for w in f()])"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests bench *.py
	$(BIN)/mypy src
	$(BIN)/python -m pytest tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench *.py
	$(BIN)/ruff format --check src tests bench *.py
	$(BIN)/mypy src

demo: $(STAMP)
	$(BIN)/python -m dynamo_continuous_backup.cli.demo

bench: $(STAMP)
	$(BIN)/python bench/forwarder.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/restore.py
	$(BIN)/python bench/state.py
	$(BIN)/python bench/checkpoint.py
	$(BIN)/python bench/restore_history.py
	$(BIN)/python bench/crossover.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/fold_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .dcb-cache
