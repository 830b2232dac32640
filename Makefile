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

.PHONY: venv run test test-postgres test-sqlite lint format bench bench-sync bench-api bench-export clean deps deploy-check bench-memory bench-sync-limits bench-queue

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
test: venv deps lint test-postgres test-sqlite

test-postgres: venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

test-sqlite: venv
	DATABASE_URL=sqlite:///unused.sqlite3 REDIS_URL= $(VENV)/bin/pytest -n 2 tests/sync $(PYTEST_ARGS)

## Debian tools the deploy checks call (nginx -t, shellcheck, systemd-analyze verify, flock, openssl; wrk for
## the benchmarks). Installed quietly, only when missing; package services are not started.
DEPS := nginx:nginx shellcheck:shellcheck systemd-analyze:systemd flock:util-linux openssl:openssl wrk:wrk
deps:
	@missing=""; for pair in $(DEPS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null && $$sudo chmod +x /usr/sbin/policy-rc.d && policy=1; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  status=$$?; [ -z "$$policy" ] || $$sudo rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

## The deployment checks alone: units, timers, crontab, nginx, deploy.sh, gunicorn, health, memory.
deploy-check: venv deps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest tests/deploy tests/test_health.py \
	  tests/common/test_memory_middleware.py tests/common/test_check_memory.py $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=crushme_project.settings.test $(MANAGE) makemigrations --check --dry-run

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks live outside the test suite; figures go into docs/performance.md.
bench: bench-sync

## sync_woocommerce vs a naive update_or_create loop over 20,000 products (BENCH_SYNC_ARGS=--quick: 5,000).
## Creates and drops its own database; the shared ones are never touched.
BENCH_SYNC_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/crushme_bench_sync
bench-sync: venv
	DATABASE_URL=$(BENCH_SYNC_DATABASE_URL) REDIS_URL= $(PY) bench/bench_sync.py $(BENCH_SYNC_ARGS)

## API throughput with wrk against gunicorn (gunicorn_config.py) over 20,000 products; see docs/performance.md.
bench-api: venv
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/bench_api.py $(BENCH_API_ARGS)

## Peak RSS growth of the staff CSV export over 100,000 products.
bench-export: venv
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/bench_api_export.py

## Worker RSS idle and after 10,000 requests, gevent and sync workers (docs/performance.md).
bench-memory: venv deps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/bench_memory.py $(BENCH_MEMORY_ARGS)

## API p99 under load with and without a --full sync under the crushme-sync@ unit's limits.
bench-sync-limits: venv deps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/bench_sync_limits.py $(BENCH_SYNC_LIMITS_ARGS)

## What wrong Basic/token credentials from 16 clients cost a normal client, Basic off vs on (issue 8).
.PHONY: bench-auth
bench-auth: venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/bench_auth.py $(BENCH_AUTH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles

## Sync queue: webhook ingest through gunicorn (wrk -c50) and applying 10,000 queued updates against the
## one-at-a-time loop (docs/performance.md). BENCH_QUEUE_ARGS="--operations 2000 --duration 5" for a quick run.
bench-queue: venv deps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/bench_queue.py $(BENCH_QUEUE_ARGS)
