# leaksleuth: `make demo` shows it working, `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit live bench bench-quick fixtures system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## system-deps: Debian packages the integration tests start for real (idempotent; needs root + apt)
system-deps:
	./scripts/install-system-deps.sh

## demo: three instances of a bundled Go service (goroutine leak, heap leak, healthy) watched by the service; prints the dashboard URL
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/leaksleuth demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports --no-cache  # the layers of docs/architecture.md (contracts in pyproject.toml)

typecheck: $(STAMP)
	$(BIN)/mypy

## unit: the fast lane (tests/unit: no real services, < 2 min)
unit: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q tests/unit

## live: real Go programs, Prometheus, Alertmanager, PostgreSQL and Chromium (needs system-deps)
live: $(STAMP) system-deps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q tests/live

## test: everything CI runs
test: $(STAMP) system-deps lint typecheck
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q tests

## fixtures: rebuild the Go corpus and recapture testdata/captures (commit the result)
fixtures: $(STAMP)
	$(BIN)/python scripts/capture_fixtures.py

## bench: generate large inputs under bench/out and time leaksleuth against go tool pprof
bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/run.py

## bench-quick: the hot paths on the small inputs against go tool pprof (< 3 min); `make bench-quick ARGS=--write-readme`
bench-quick: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/quick.py $(ARGS)

clean:
	rm -rf $(VENV) bench/out .pytest_cache .mypy_cache .ruff_cache
