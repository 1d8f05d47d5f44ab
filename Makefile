# Touchstone — the front door. `make` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
# The database `make db` creates: named by DB_NAME, or taken from DATABASE_URL when set.
ifdef DATABASE_URL
DB_NAME ?= $(lastword $(subst /, ,$(DATABASE_URL)))
else
DB_NAME ?= touchstone
endif
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/$(DB_NAME)
export REDIS_URL ?= redis://127.0.0.1:6379/0

.DEFAULT_GOAL := help
.PHONY: help install services db migrate demo run test test-fast check-api lint format bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# WeasyPrint (the journey report's PDF) needs Debian's pango, harfbuzz and fontconfig.
PDF_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core

.venv/.installed: pyproject.toml
	@ldconfig -p | grep -q libpangoft2-1.0 || { echo "Installing $(PDF_LIBS)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_LIBS) >/dev/null \
		|| echo "Could not install $(PDF_LIBS): install them (the PDF report needs them)"; }
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet ".[dev]"
	touch $@

# Test-only JavaScript (axe-core for the browser tests' accessibility checks), pinned in
# package-lock.json; npm ci installs exactly that into node_modules/ (gitignored).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

install: .venv/.installed node_modules/.installed ## Create .venv and node_modules/ with the pinned dependencies

services: ## Start PostgreSQL and Redis if they are not running
	@scripts/ensure-services.sh

db: services ## Create the database if missing
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$(DB_NAME)'" | grep -q 1 \
		|| (echo "Creating database $(DB_NAME)" && createdb -h 127.0.0.1 -U postgres $(DB_NAME))

migrate: install db ## Apply database migrations
	DEBUG=true $(PY) manage.py migrate --no-input

demo: migrate ## Load the demo organization (once; safe to rerun)
	DEBUG=true $(PY) manage.py load_demo

run: demo ## Install, migrate, load demo data, start web + worker + beat
	DEBUG=true scripts/run-all.sh

# Parallel test processes (pytest-xdist). Most of the suite waits on real processes
# (workers, brokers, Chromium, PostgreSQL), so more processes than the 2 cores pay off;
# each gets its own test database and throttle keys. TEST_WORKERS=0 runs in one process.
# tests/conftest.py orders the run: groups first (a module sharing a Celery worker, the
# demo or Chromium, on one worker), then slow tests, then worker and browser tests, then
# the rest, so no long test starts last.
TEST_WORKERS ?= 4
# Byte-compiled files let every test process (and each worker or gunicorn it starts) skip
# recompiling the app and re-rewriting the test modules' asserts: about half of a test
# process's start-up CPU on these machines. (__pycache__/ is gitignored.)
WRITE_BYTECODE := env -u PYTHONDONTWRITEBYTECODE
# The fault tests (tests/faults/) time recoveries of real processes: run beside the rest
# (-n 6, 2026-12-05) a broker-restart test's convergence and a compose healthcheck timed
# out, so they run after the parallel part, one at a time, with the machine to themselves.
test: install services ## Run the whole test suite (real PostgreSQL, Redis, Celery, Chromium)
	$(WRITE_BYTECODE) DEBUG=true $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --ignore=tests/faults $(PYTEST_ARGS)
	$(WRITE_BYTECODE) DEBUG=true $(PY) -m pytest tests/faults $(PYTEST_ARGS)

test-fast: install services ## The inner loop: everything but worker, browser, fault and slow tests
	$(WRITE_BYTECODE) DEBUG=true $(PY) -m pytest -n 2 --dist loadgroup -m "not worker and not browser and not slow" $(PYTEST_ARGS)

# The API as an outside integrator tries it: own database + demo, live gunicorn, schemathesis
# with every check and phase for CHECK_API_SECONDS (default 300). docs/reliability.md S12b.
check-api: install services ## Schemathesis (all checks, all phases) against a live server with the demo
	scripts/check-api.sh

lint: install ## ruff, format check, mypy, import layers, missing migrations
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DEBUG=true .venv/bin/mypy
	.venv/bin/lint-imports
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

format: install ## Apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# The scale bench's size: `make bench SCALE=10m` (about 25 minutes the first time on 2 cores, to generate
# the data into its own database). ONLY=scale (or scoring, api, load, freshness, feedback, polling, events) runs one bench.
SCALE ?= 1m
bench: install services ## Run the benchmarks (SCALE=10m: scale bench at 10M; ONLY=scale: one)
	DEBUG=true $(PY) bench/run.py --scale $(SCALE) $(if $(ONLY),--only $(ONLY))

clean: ## Remove the virtualenv and caches
	rm -rf .venv node_modules .pytest_cache .mypy_cache .ruff_cache staticfiles
