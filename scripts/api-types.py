"""Generate the web UI's API types (webui/src/lib/api/schema.d.ts) from the API's OpenAPI document.

The document comes from the app factory, so no server has to run; openapi-typescript (a devDependency of
webui/) turns it into TypeScript. ``make api-types`` runs this; tests/webui/test_api_types.py runs it into a
temp folder and fails when the committed file differs.

    .venv/bin/python scripts/api-types.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBUI = ROOT / "webui"
SCHEMA = WEBUI / "src" / "lib" / "api" / "schema.d.ts"
GENERATOR = WEBUI / "node_modules" / ".bin" / "openapi-typescript"


def openapi_document() -> dict[str, object]:
    """The document ``/api/openapi.json`` serves, built without starting the app (no database, no Redis)."""
    from aiwfe.api.app import create_app
    from aiwfe.core.settings import Settings

    return create_app(Settings()).openapi()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=SCHEMA, help=f"where to write (default: {SCHEMA.relative_to(ROOT)})"
    )
    args = parser.parse_args()
    if not GENERATOR.exists():
        print(f"{GENERATOR} is missing: run `npm ci` in webui/ first", file=sys.stderr)
        return 1
    document = json.dumps(openapi_document(), indent=2, sort_keys=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(GENERATOR), "--default-non-nullable", "false", "--output", str(args.out.resolve())],
        input=document,
        text=True,
        cwd=WEBUI,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
