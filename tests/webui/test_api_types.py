"""The web UI's generated API types (webui/src/lib/api/schema.d.ts) match the API's OpenAPI document."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

from tests.webui.build import WEBUI, install_dependencies, require_node

SCRIPT = WEBUI.parent / "scripts" / "api-types.py"
COMMITTED = WEBUI / "src" / "lib" / "api" / "schema.d.ts"


def test_generated_api_types_are_up_to_date(tmp_path: Path) -> None:
    install_dependencies(require_node())
    fresh = tmp_path / "schema.d.ts"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(fresh)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            fresh.read_text().splitlines(keepends=True),
            "committed",
            "generated",
            n=1,
        )
    )
    assert not diff, (
        f"{COMMITTED.relative_to(WEBUI.parent)} is stale: the API changed. "
        f"Regenerate it with `make api-types`, then fix what `npm run check` finds.\n{diff[:4000]}"
    )
