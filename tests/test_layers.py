"""The shape of the source tree: imports run one way only, and no module grows past what a reader holds.

The import contracts are in pyproject.toml ([tool.importlinter]): core at the bottom, the domains above,
the API and the command on top, and the runtime package never importing ``aiwfe_stack``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500


def test_imports_follow_the_layers() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout[-2000:]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def _sources() -> list[Path]:
    migrations = ROOT / "src" / "aiwfe" / "migrations" / "versions"
    return [p for p in sorted((ROOT / "src").rglob("*.py")) if migrations not in p.parents]


def test_no_source_file_is_over_500_lines() -> None:
    long = {str(p.relative_to(ROOT)): _lines(p) for p in _sources() if _lines(p) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"
