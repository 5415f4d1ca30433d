# Every target sets itself up: a fresh clone needs nothing but Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run demo test lint format benchmark data model clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,serve]'
	touch $(STAMP)

## Start the service on the embedded defaults (SQLite in instance/, the shipped model and ruleset).
run: $(STAMP)
	$(BIN)/sme-export serve --host 127.0.0.1 --port $(PORT)

## Score the shipped example cohort and print a ranked table (no service needed).
demo: $(STAMP)
	$(BIN)/sme-export score data/cohort_bandung_2020.csv --table

## Run the whole test suite (lint first, so style breaks fail fast).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Regenerate the synthetic data and retrain the shipped model (deterministic).
data: $(STAMP)
	$(BIN)/sme-export generate-data --out-dir data

model: $(STAMP)
	$(BIN)/sme-export train --data data/training.parquet --models-dir models --synthetic --activate

benchmark: $(STAMP)
	$(BIN)/python benchmarks/score_batch.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
