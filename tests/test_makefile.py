"""What the Makefile hands to the tools it runs, checked through make itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_env_var(name: str) -> str:
    """The value of `name` in the environment of a recipe make runs (as uv sees it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "SSL_CERT_"))}
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "--eval", f"print-env: ; @printf '%s' \"$${name}\"", "print-env"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_uv_trusts_the_platform_certificate_store_without_ssl_cert_file() -> None:
    # A normal user's login sets no SSL_CERT_FILE; behind a TLS-inspecting proxy whose CA is only in the
    # platform store, uv's bundled roots make `uv sync` fail with "invalid peer certificate: UnknownIssuer".
    assert make_env_var("UV_SYSTEM_CERTS") == "1"
