#!/usr/bin/env bash
# Takes a PostgreSQL backup now through `aiwfe backup now` (pgBackRest); arguments are passed on.
#
#   backup.sh [aiwfe backup now options...]
#
#   AIWFE   the aiwfe command (default: aiwfe on PATH, else this checkout's .venv/bin/aiwfe)
set -euo pipefail

AIWFE="${AIWFE:-$(command -v aiwfe || echo "$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/aiwfe")}"
exec "$AIWFE" backup now "$@"
