# aiwfe — the two commands a user needs are `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := .aiwfe/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
AIWFE := $(VENV)/bin/aiwfe
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3

.PHONY: help up down status test lint pytest scan bench fmt clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	@scripts/bootstrap.sh $(TOOLS)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

up: $(VENV)/.synced  ## start the whole platform locally (MONITORING=1 adds Prometheus, Alertmanager, exporters)
	$(if $(MONITORING),AIWFE_STACK_MONITORING=1) $(AIWFE) up

down: $(VENV)/.synced  ## stop the local platform (data is kept)
	$(AIWFE) down

status: $(VENV)/.synced  ## health of each part of the local platform
	$(AIWFE) status

lint: $(VENV)/.synced  ## ruff + mypy (strict on src/)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

pytest: $(VENV)/.synced  ## the Python test suite only
	$(VENV)/bin/pytest

scan: $(VENV)/.synced  ## security scanners that work offline (bandit, detect-secrets, checkov, pip/npm audit)
	UV=$(UV) $(PY) scripts/scan.py

test: lint pytest scan  ## everything CI runs: lint, type-check, tests, security scans

bench: $(VENV)/.synced  ## benchmarks (each prints its figures)
	$(PY) bench/startup.py
	$(PY) bench/auth.py

fmt: $(VENV)/.synced  ## format and autofix
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

clean:  ## remove the venv and tool cache (not the stack's data)
	rm -rf $(VENV) $(TOOLS)
