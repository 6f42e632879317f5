#!/usr/bin/env bash
# Installs the one tool the Makefile needs before anything else: uv, pinned, in a private venv.
# Everything after this (Python deps, PostgreSQL, Redis, Caddy) is installed by uv and `aiwfe`.
set -euo pipefail

UV_VERSION="${UV_VERSION:-0.13.8}"
TOOLS_DIR="${1:-.aiwfe/tools}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root (or sudo) to run: $*" >&2; exit 1; fi; }

if ! command -v python3 >/dev/null; then
  command -v apt-get >/dev/null || { echo "python3 (>= 3.11) is required; install it first" >&2; exit 1; }
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
fi
python3 - <<'PY' || { echo "aiwfe needs Python >= 3.11 (found $(python3 --version))" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
  command -v apt-get >/dev/null || { echo "python3's venv module is missing; install it" >&2; exit 1; }
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
if [ ! -x "$TOOLS_DIR/bin/uv" ] || [ "$("$TOOLS_DIR/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python3 -m venv "$TOOLS_DIR"
  "$TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
"$TOOLS_DIR/bin/uv" --version
