"""scripts/scan.py: what it hands to the scanners it runs."""

from __future__ import annotations

import importlib.util
import ssl
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_scan() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan", ROOT / "scripts/scan.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_pip_audit_trusts_the_platform_store_without_ssl_cert_file() -> None:
    # A normal user's login sets neither variable: requests would fall back to certifi's roots, which
    # do not hold a TLS-inspecting proxy's CA, and pip-audit would crash instead of reporting.
    env = load_scan().pip_audit_env({"PATH": "/usr/bin:/bin"})
    paths = ssl.get_default_verify_paths()
    assert env["REQUESTS_CA_BUNDLE"] == (paths.cafile or paths.capath)
    assert env["PATH"] == "/usr/bin:/bin"


def test_pip_audit_keeps_a_bundle_the_user_chose() -> None:
    env = load_scan().pip_audit_env({"REQUESTS_CA_BUNDLE": "/srv/ca.pem", "SSL_CERT_FILE": "/other.pem"})
    assert env["REQUESTS_CA_BUNDLE"] == "/srv/ca.pem"
