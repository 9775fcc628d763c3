# Local-first IoT pipeline: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BACKEND ?= auto
SIM_RATE ?= 5
STATE_DIR ?= .state
# The one setting that moves a stack: the emulator, deploy, simulator, functions and every target follow it.
EMULATOR_PORT ?= 4566
ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_ARGS ?=
export STATE_DIR BACKEND SIM_RATE EMULATOR_PORT
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help install lint format bench compose-parser up down status logs outputs simulate deploy teardown clean test test-unit test-integration clean-venv query restore

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP) ## Create the virtualenv and install everything (the other targets do it when needed)

up: $(STAMP) ## Start the backend (BACKEND=auto|embedded|localstack) on EMULATOR_PORT=4566, deploy, simulate (SIM_RATE=5)
	@$(BIN)/python -m bootstrap up

down: $(STAMP) ## Stop everything `make up` started (data is kept)
	@$(BIN)/python -m bootstrap down

status: $(STAMP) ## Show what each stage holds: queue, DLQ, table items, history lines, archived items
	@$(BIN)/python -m bootstrap status

logs: $(STAMP) ## Follow the three functions' logs (CloudWatch Logs /aws/lambda/...)
	@$(BIN)/python -m bootstrap logs

outputs: $(STAMP) ## Print the stack's outputs as JSON (endpoint, table, queue URLs, buckets, functions)
	@$(BIN)/python -m bootstrap outputs

simulate: $(STAMP) ## Send simulated device load, e.g. make simulate ARGS="--rate 200 --duration 30"
	@$(BIN)/python -m simulator $(ARGS)

query: export SQL := $(SQL)
query: $(STAMP) ## SQL over the change history, e.g. make query SQL="SELECT action, count(*) FROM history GROUP BY 1" (ARGS="--format csv|json")
	@$(BIN)/python -m bootstrap.query --sql "$$SQL" $(ARGS)

restore: $(STAMP) ## Put archived readings back, e.g. make restore ARGS="--device dev-0001 --from 2026-11-01 --to 2026-11-02 --dry-run"
	@$(BIN)/python -m bootstrap.restore $(ARGS)

deploy: $(STAMP) ## Deploy (or update) the stack on the running backend; a second run reports "no changes"
	@$(BIN)/python -m bootstrap deploy

teardown: $(STAMP) ## Remove what the stack created, and nothing else
	@$(BIN)/python -m bootstrap teardown

clean: $(STAMP) ## Stop everything and wipe the local state ($(STATE_DIR))
	@$(BIN)/python -m bootstrap clean

# The compose file is checked by a real parser: Debian's docker-compose, installed when we can (root).
compose-parser:
	@command -v docker-compose >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's docker-compose to check docker-compose.yml..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1 \
	      || echo "could not install docker-compose: the compose-file tests will be skipped"; \
	  else echo "docker-compose not found: the compose-file tests will be skipped"; fi; }

lint: $(STAMP) ## Check style, formatting and types (ruff, mypy): part of make test
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy

format: $(STAMP) ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format --quiet .
	$(BIN)/ruff check --fix --quiet .

test: $(STAMP) compose-parser lint ## Run lint, then the whole test suite (unit, then integration on the embedded backend)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## Run only the unit tests
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) compose-parser ## Run only the end-to-end tests (starts its own embedded stack)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

bench: $(BENCH_STAMP) ## Load benchmark on a fresh embedded stack (~10 min): results in bench/results/ (BENCH_ARGS=...)
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)
	$(BIN)/python bench/history_query.py

clean-venv: ## Remove the virtualenv
	rm -rf $(VENV)
