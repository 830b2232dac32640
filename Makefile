# CrushMe catalog backend. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

# Services the tests use for real (CI and developer machines run them locally).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/crushme
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: venv run test test-postgres test-sqlite lint format bench bench-sync clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## One command for a fresh machine: SQLite + local-memory cache + the bundled sandbox store.
run: venv
	scripts/run-demo.sh

## One command for a fresh machine: lint, the whole suite on PostgreSQL + Redis, the sync tests on SQLite.
test: venv lint test-postgres test-sqlite

test-postgres: venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

test-sqlite: venv
	DATABASE_URL=sqlite:///unused.sqlite3 REDIS_URL= $(VENV)/bin/pytest -n 2 tests/sync $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=crushme_project.settings.test $(MANAGE) makemigrations --check --dry-run

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks live outside the test suite; figures go into docs/performance.md.
bench: bench-sync

bench-sync: venv
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/bench_sync.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
