#!/usr/bin/env bash
# Validation suite with evidence: health sweep, Locust load test, failover and restore drills, schemathesis,
# Prometheus panel snapshots (when monitoring runs), security scan.
#
#   validate.sh [aiwfe validate options]     e.g. validate.sh --users 1000 --duration 300
#   validate.sh --base-url https://staging.example.com --ca ca.crt --skip load --skip failover --skip restore
#
# The report goes to reports/validation-<time>/ (report.html, report.md, report.json, CSVs, plots).
# Exits non-zero when a target fails (--no-fail to only report). See docs/validation.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
AIWFE="${AIWFE:-.venv/bin/aiwfe}"
exec "$AIWFE" validate "$@"
