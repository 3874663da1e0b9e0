# avatar: talking-head microservices. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev demo test test-fast lint format protos check-protos up bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The deployable units, each its own project; installed together, editable, into .venv.
# The gateway comes with its `web` extra: the web page that `make up` serves.
UNITS := protos core services/llm services/tts services/animator services/enhancer services/asr gateway
PYPROJECTS := $(addsuffix /pyproject.toml,$(UNITS) tools/devtools)
EDITABLE := $(addprefix -e ,$(filter-out gateway,$(UNITS))) -e "gateway[web]"

$(STAMP_RUN): $(PYPROJECTS) | $(VENV)/bin/python
	bash tools/install-system-packages.sh
	$(BIN)/pip install --quiet $(EDITABLE) -e tools/devtools
	touch $@

$(STAMP_DEV): $(PYPROJECTS) | $(VENV)/bin/python
	bash tools/install-system-packages.sh
	$(BIN)/pip install --quiet $(EDITABLE) -e "tools/devtools[dev,coqui]"
	bash tools/install-kustomize.sh $(VENV) || echo "warning: kustomize not installed; the manifest tests will fail" >&2
	touch $@ $(STAMP_RUN)

setup: $(STAMP_RUN) ## Install what the stack needs (system packages, .venv)

setup-dev: $(STAMP_DEV) ## Install everything for development and tests, coqui included

demo: $(STAMP_RUN) ## Start the stack, render the sample avatar speaking to out/demo.mp4, print timings
	$(BIN)/avatar demo --output out/demo.mp4

test: $(STAMP_DEV) ## Set everything up and run all tests
	$(BIN)/pytest -q

test-fast: $(STAMP_DEV) ## Run the tests that take seconds (no end-to-end, no training)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP_DEV) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP_DEV) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

protos: $(STAMP_DEV) ## Regenerate the Python stubs from protos/
	$(PY) tools/gen_protos.py

check-protos: $(STAMP_DEV) ## Fail when the checked-in stubs differ from protos/
	$(BIN)/pytest -q tests/test_protos.py

bench: $(STAMP_DEV) ## Start the stack, measure latency (1-8 streams) and per-stage throughput, print the tables
	$(PY) -m benchmarks.latency --start-stack --output-dir benchmarks/results $(LATENCY_ARGS)
	$(PY) -m benchmarks.stages --start-services --output-dir benchmarks/results $(STAGES_ARGS)

up: $(STAMP_RUN) ## Run the whole stack and the web page (http://localhost:8080/) until Ctrl-C
	$(BIN)/avatar up

clean: ## Remove the virtual environment and outputs
	rm -rf $(VENV) out .pytest_cache .ruff_cache
