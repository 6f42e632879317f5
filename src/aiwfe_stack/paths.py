"""Where the checkout is: the one place this package looks outside itself.

The stack reads files that live beside the code, not inside it — ``caddy/Caddyfile``, ``compose/redis/``,
``monitoring/``, ``webui/build``, ``bench/``, ``scripts/``. They exist only in a checkout of the repository
(an editable install), so every such path starts from :func:`project_root`, which says so clearly when the
package runs from anywhere else (a wheel in site-packages, an image).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

# What marks the checkout: the files `aiwfe up` reads (tests/ops/test_nonroot.py copies the same set).
MARKERS = ("pyproject.toml", "caddy/Caddyfile", "compose/redis/persistence.conf", "monitoring")


class NotACheckout(RuntimeError):
    """aiwfe_stack runs outside a checkout of the repository, where its configuration files are not."""


def _is_root(folder: Path) -> bool:
    return all((folder / marker).exists() for marker in MARKERS)


@cache
def project_root() -> Path:
    """The checkout holding ``caddy/``, ``compose/`` and ``monitoring/`` (``AIWFE_PROJECT_ROOT`` overrides).

    Searched upwards from this file, so it works from an editable install wherever the checkout lives.
    """
    if override := os.environ.get("AIWFE_PROJECT_ROOT"):
        root = Path(override).resolve()
        if not _is_root(root):
            raise NotACheckout(f"AIWFE_PROJECT_ROOT={override} is not an aiwfe checkout (needs {MARKERS})")
        return root
    here = Path(__file__).resolve()
    for folder in here.parents:
        if _is_root(folder):
            return folder
    raise NotACheckout(
        f"aiwfe_stack runs from {here.parent}, which is not inside a checkout of the aiwfe repository: "
        "the local stack and the evidence suite need its caddy/, compose/ and monitoring/ folders. "
        "Run them from a checkout (`make up`), or set AIWFE_PROJECT_ROOT to one."
    )
