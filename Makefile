# Local-first IoT pipeline: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install test test-unit clean-venv

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP) ## Create the virtualenv and install everything (done by the other targets when needed)

test: $(STAMP) ## Run the whole test suite (unit, then integration on the embedded backend)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## Run only the fast unit tests
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

clean-venv: ## Remove the virtualenv
	rm -rf $(VENV)
