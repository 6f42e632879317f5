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
# uv trusts its own bundled roots unless told otherwise; the platform's store is what pip, npm, git and
# curl trust, and the only one that knows a TLS-inspecting proxy's CA.
export UV_SYSTEM_CERTS := 1

.PHONY: help up down status test lint pytest scan bench fmt clean webui api-types validate

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@scripts/bootstrap.sh $(TOOLS)

# --reinstall-package urllib3: environments made before niquests was dropped (issue #20) had urllib3's
# files overwritten by urllib3-future; removing it leaves urllib3 broken until reinstalled.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --reinstall-package urllib3
	@touch $@

webui:  ## build the web UI into webui/build (needs Node.js >= 20.19; without npm the stack serves a placeholder)
	@if command -v npm >/dev/null 2>&1; then cd webui && \
	  { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && \
	  { [ -f build/index.html ] && [ -z "$$(find src static package.json package-lock.json svelte.config.js vite.config.ts -newer build/index.html -print -quit)" ] || npm run build; }; \
	else echo "npm not found: the stack serves the placeholder page"; fi

api-types: $(VENV)/.synced  ## regenerate the web UI's API types (webui/src/lib/api/schema.d.ts) from the API
	cd webui && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }
	$(PY) scripts/api-types.py

up: $(VENV)/.synced webui  ## start the whole platform locally (MONITORING=1 adds Prometheus, Alertmanager, exporters)
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

bench: $(VENV)/.synced  ## benchmarks (each prints its figures; needs wrk)
	$(PY) bench/api.py
	$(PY) bench/sql.py
	$(PY) bench/startup.py
	$(PY) bench/auth.py
	$(PY) bench/calendar

validate: $(VENV)/.synced  ## health sweep, load test (USERS=1000 DURATION=300), drills, scan; report in reports/
	$(AIWFE) validate --users $(or $(USERS),20) --duration $(or $(DURATION),20)

fmt: $(VENV)/.synced  ## format and autofix
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

clean:  ## remove the venv and tool cache (not the stack's data)
	rm -rf $(VENV) $(TOOLS)
