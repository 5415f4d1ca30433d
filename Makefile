# Every target sets itself up: a fresh clone needs nothing but Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
CHROMIUM := /usr/bin/chromium
PDFTOPPM := /usr/bin/pdftoppm
AXE := tests/a11y/node_modules/.installed

.PHONY: run demo test screenshots lint audit format benchmark data model clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e '.[dev,serve]'
	touch $(STAMP)

## Start the service on the embedded defaults (SQLite in instance/, the shipped model and ruleset).
run: $(STAMP)
	$(BIN)/sme-export serve --host 127.0.0.1 --port $(PORT)

## Score the shipped example cohort and print a ranked table (no service needed).
demo: $(STAMP)
	$(BIN)/sme-export score data/cohort_bandung_2020.csv --table

## Load the example cohort, its support decisions and a year of export follow-ups (all
## synthetic) into the embedded database, for the outcome evaluation page; safe to repeat.
.PHONY: demo-outcomes
demo-outcomes: $(STAMP)
	$(BIN)/sme-export demo load

## Run the whole test suite (lint first, so style breaks fail fast).
test: $(STAMP) $(CHROMIUM) $(PDFTOPPM) $(AXE) lint
	$(BIN)/python -m pytest -q

## Known vulnerabilities in the installed dependencies (PyPI's advisory data; needs the network).
## --strict: a dependency that cannot be audited fails the run, so no data never looks like
## no vulnerabilities.
audit: $(STAMP)
	$(BIN)/python -m pip_audit --strict --vulnerability-service pypi --skip-editable \
		--progress-spinner off

## The browser of the end-to-end tests of the staff pages (Debian's; never downloaded by
## Playwright).
$(CHROMIUM):
	apt-get update
	apt-get install -y --no-install-recommends chromium

## The PDF reports' tests draw pages as images with poppler's pdftoppm (Debian's).
$(PDFTOPPM):
	apt-get update
	apt-get install -y --no-install-recommends poppler-utils

## axe-core for the accessibility tests, as tests/a11y/package-lock.json pins it (npm's registry).
$(AXE): tests/a11y/package.json tests/a11y/package-lock.json
	command -v npm >/dev/null || { apt-get update && apt-get install -y --no-install-recommends npm; }
	npm ci --prefix tests/a11y --no-audit --no-fund
	touch $@

## Screenshots of the main staff pages into docs/screenshots/ (the end-to-end tests).
screenshots: $(STAMP) $(CHROMIUM)
	SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_web_e2e.py

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
