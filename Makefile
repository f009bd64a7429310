# Strongroom: `make run` to try it, `make test` to check it. `make help` lists the rest.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_PG_URL ?= $(or $(STRONGROOM_TEST_DATABASE_URL),postgresql://postgres@127.0.0.1:5432/test)
TEST_REDIS_URL ?= $(or $(STRONGROOM_TEST_REDIS_URL),redis://127.0.0.1:6379/15)
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
CHROMIUM := /usr/bin/chromium
PG_DUMP := /usr/bin/pg_dump
NGINX := /usr/sbin/nginx
PROMTOOL := .venv/promtool/usr/bin/promtool
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-postgres lint typecheck fmt bench bench-ledger bench-files lock clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Strongroom needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP) install -c $(CONSTRAINTS) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PIP) install -c $(CONSTRAINTS) -e '.[test,lint]'
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) ## Install, migrate and serve on http://127.0.0.1:8000 with SQLite in ./var
	$(BIN)/strongroom db upgrade
	$(BIN)/strongroom serve --host $(HOST) --port $(PORT)

test: test-sqlite test-postgres ## Run every test: the suite on SQLite, then the database tests on PostgreSQL

# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
# Outside CI a failed install only means those tests are skipped; in CI they fail.
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests (tests/browser)"
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium \
		|| { echo "could not install chromium: the browser tests will be skipped"; [ "$$CI" != true ]; }

# The reverse-proxy test (tests/integration/test_nginx.py) runs Debian's nginx on
# loopback in front of a real server; as with chromium, only CI fails without it.
$(NGINX):
	@echo "Installing Debian's nginx for the reverse-proxy test (tests/integration/test_nginx.py)"
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx \
		|| { echo "could not install nginx: the nginx test will be skipped"; [ "$$CI" != true ]; }

# The alert rules test (tests/integration/test_metrics_deploy.py) checks
# deploy/prometheus/alerts.yml with promtool, taken from Debian's prometheus package
# unpacked into the venv (not installed: no daemon, no service user). As with
# chromium, only CI fails without it.
$(PROMTOOL):
	@echo "Fetching promtool from Debian's prometheus package for the alert rules test"
	rm -rf .venv/promtool && mkdir -p .venv/promtool && cd .venv/promtool \
		&& { apt-get download prometheus 2>/dev/null || { $(SUDO) apt-get update -qq && apt-get download prometheus; }; } \
		&& dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb usr/bin/prometheus \
		|| { echo "could not fetch promtool: the rules check will be skipped"; [ "$$CI" != true ]; }

test-sqlite: $(DEV_STAMP) $(CHROMIUM) $(NGINX) $(PROMTOOL) ## Run the suite on SQLite and the local disk (and the Redis tests)
	env -u STRONGROOM_TEST_DATABASE_URL -u STRONGROOM_TEST_STORAGE STRONGROOM_TEST_REDIS_URL="$(TEST_REDIS_URL)" \
		$(BIN)/pytest -m "not postgres"

# `strongroom backup` on PostgreSQL runs pg_dump/pg_restore: Debian's postgresql-client.
$(PG_DUMP):
	@echo "Installing Debian's postgresql-client for the backup tests (pg_dump, pg_restore)"
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql-client \
		|| { echo "could not install postgresql-client: the PostgreSQL backup tests will fail"; [ "$$CI" != true ]; }

test-postgres: $(DEV_STAMP) $(PG_DUMP) ## Run the database tests on PostgreSQL (TEST_PG_URL) with blobs on a local S3 server
	STRONGROOM_TEST_DATABASE_URL="$(TEST_PG_URL)" STRONGROOM_TEST_REDIS_URL="$(TEST_REDIS_URL)" \
		STRONGROOM_TEST_STORAGE=s3 \
		$(BIN)/pytest -m "db or postgres"

lint: $(DEV_STAMP) ## ruff (lint and format check), mypy and the import contracts
	$(BIN)/ruff check strongroom tests bench
	$(BIN)/ruff format --check strongroom tests bench
	$(BIN)/mypy strongroom
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP) ## mypy only
	$(BIN)/mypy strongroom

fmt: $(DEV_STAMP) ## Format and auto-fix what ruff can
	$(BIN)/ruff format strongroom tests bench
	$(BIN)/ruff check --fix strongroom tests bench

bench: $(DEV_STAMP) ## Time sign-in and /me against a real server (docs/benchmarks.md; BENCH_ARGS=...)
	$(BIN)/python bench/auth_bench.py $(BENCH_ARGS)

bench-ledger: $(DEV_STAMP) ## Time ledger appends, proofs, checkpoints, verify at 1M entries (BENCH_ARGS=...)
	$(BIN)/python bench/ledger_bench.py $(BENCH_ARGS)

bench-files: $(DEV_STAMP) ## Time uploads, downloads, encryption, memory, first byte, S3 (BENCH_ARGS=...)
	$(BIN)/python bench/files_bench.py $(BENCH_ARGS)

lock: $(DEV_STAMP) ## Refresh requirements/constraints.txt from the installed versions
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^strongroom' > $(CONSTRAINTS)

clean: ## Remove the virtual environment, caches and test artifacts (keeps ./var)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info artifacts
