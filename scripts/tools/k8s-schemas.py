#!/usr/bin/env python3
"""Offline JSON schemas for kubeconform: the Kubernetes API and the CRDs the chart uses.

kubeconform normally downloads schemas from GitHub, which CI cannot reach. This builds them from
package registries instead, once, into a cache outside the repository (a second run only checks):

* Kubernetes: the ``kubernetes-validate`` wheel (PyPI) ships the OpenAPI-derived strict schemas of
  every release; they are rewritten into kubeconform's layout (``_definitions.json`` next to each
  kind, ``definitions`` instead of ``$defs`` because kubeconform compiles as draft 4).
* CRDs: the CustomResourceDefinition YAML inside the operators' Go modules (``go mod download``),
  converted like kubeconform's ``openapi2jsonschema.py --strict``: ``nullable`` becomes a null type
  and objects that list their properties refuse others.

Usage: ``k8s-schemas.py [KUBERNETES_VERSION ...]`` (default 1.30.0 1.37.0). Prints JSON with the two
``-schema-location`` templates. Cache: ``$AIWFE_SCHEMA_CACHE`` (default ~/.cache/aiwfe/k8s-schemas).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"
DEFAULT_KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# Bump when the conversion changes, so caches made by an older script are rebuilt.
SCHEMA_FORMAT = 2

# (Go module, version, CRD files inside it). Versions match the operators pinned in k8s/argocd/.
CRD_MODULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("github.com/cloudnative-pg/cloudnative-pg", "v1.30.0", ("config/crd/bases/postgresql.cnpg.io_*.yaml",)),
    ("github.com/cloudnative-pg/plugin-barman-cloud", "v0.15.0", ("config/crd/bases/*.yaml",)),
    ("github.com/kedacore/keda/v2", "v2.21.0", ("config/crd/bases/keda.sh_*.yaml",)),
    (
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        ("example/prometheus-operator-crd/*.yaml",),
    ),
    ("github.com/cert-manager/cert-manager", "v1.21.2", ("deploy/crds/*.yaml",)),
    (
        "github.com/external-secrets/external-secrets",
        "v0.16.2",
        ("config/crds/bases/external-secrets.io_*.yaml",),
    ),
    ("istio.io/api", "v1.32.0", ("kubernetes/customresourcedefinitions.gen.yaml",)),
    ("github.com/argoproj/argo-cd/v3", "v3.5.7", ("manifests/crds/*-crd.yaml",)),
    # The chart's Traefik body limits (ingress.className=traefik) are traefik.io/v1alpha1 Middlewares.
    (
        "github.com/traefik/traefik/v3",
        "v3.7.13",
        ("docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml",),
    ),
)


def main(argv: list[str]) -> int:
    cache = Path(os.environ.get("AIWFE_SCHEMA_CACHE") or Path.home() / ".cache/aiwfe/k8s-schemas")
    versions = argv or list(DEFAULT_KUBERNETES_VERSIONS)
    kubernetes = cache / "kubernetes"
    for version in versions:
        ensure_kubernetes_schemas(cache, kubernetes, version)
    crds = cache / "crds"
    ensure_crd_schemas(crds)
    print(
        json.dumps(
            {
                "kubernetes": str(kubernetes)
                + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
                + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
                "crds": str(crds) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
            }
        )
    )
    return 0


# --- Kubernetes ---------------------------------------------------------------------------------


def ensure_kubernetes_schemas(cache: Path, root: Path, version: str) -> None:
    target = root / f"v{version}-standalone-strict"
    stamp = f"{KUBERNETES_VALIDATE} format {SCHEMA_FORMAT}\n"
    if (target / ".complete").exists() and (target / ".complete").read_text() == stamp:
        return
    wheel = download_wheel(cache / "downloads")
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".staging-"))
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".json")]
        if not names:
            raise SystemExit(f"{wheel.name} has no schemas for Kubernetes {version}")
        for name in names:
            schema = to_kubeconform(json.loads(archive.read(name)))
            (staging / name.removeprefix(prefix)).write_text(json.dumps(schema))
    (staging / ".complete").write_text(stamp)
    replace_dir(staging, target)


def download_wheel(folder: Path) -> Path:
    name, version = KUBERNETES_VALIDATE.split("==")
    wheel = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    if wheel.exists():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    command = [*pip_command(folder.parent), "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*command, "--dest", str(folder), KUBERNETES_VALIDATE], check=True, stdout=sys.stderr)
    return wheel


def pip_command(cache: Path) -> list[str]:
    """This interpreter's pip, else a private venv's (Debian's python3 may lack pip)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    venv = cache / "pip-venv"
    if not (venv / "bin/pip").exists():
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], check=True)
    return [str(venv / "bin/pip"), "--disable-pip-version-check"]


def to_kubeconform(node: Any) -> Any:
    """kubernetes-validate's layout -> kubeconform's: file-relative refs, draft-4 ``definitions``."""
    if isinstance(node, list):
        return [to_kubeconform(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$id":  # ids would resolve refs against kubernetes.io instead of the local files
            continue
        if key == "$ref" and isinstance(value, str):
            value = value.replace("/api/_definitions.json#/$defs/", "_definitions.json#/definitions/")
            value = value.replace("#/$defs/", "#/definitions/")
        out["definitions" if key == "$defs" else key] = to_kubeconform(value)
    return out


# --- CRDs ---------------------------------------------------------------------------------------


def ensure_crd_schemas(root: Path) -> None:
    stamp = hashlib.sha256(json.dumps([SCHEMA_FORMAT, CRD_MODULES]).encode()).hexdigest()[:16]
    if (root / f".complete-{stamp}").exists():
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".staging-"))
    for module, version, patterns in CRD_MODULES:
        folder = go_module_dir(module, version)
        files = sorted({path for pattern in patterns for path in folder.glob(pattern)})
        if not files:
            raise SystemExit(f"no CRD files {patterns} in {module}@{version}")
        for path in files:
            documents = yaml.load_all(path.read_text(), Loader=_CRDLoader)  # a SafeLoader
            for document in documents:
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    write_crd(staging, document)
    (staging / f".complete-{stamp}").write_text(json.dumps(CRD_MODULES, indent=1) + "\n")
    replace_dir(staging, root)


class _CRDLoader(yaml.SafeLoader):
    """SafeLoader that reads a bare ``=`` (an operator enum in some CRDs) as a string, as Go does."""


def _as_string(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_CRDLoader.add_constructor("tag:yaml.org,2002:value", _as_string)


def go_binary() -> str:
    """`go` on PATH, else where Go's official tarball installs it: only the installing account's shell
    profile usually puts /usr/local/go/bin on PATH (scripts/tools/go-tools.sh falls back the same way)."""
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        raise SystemExit("go (>= 1.24) is required to fetch the CRDs from their Go modules")
    return found


def go_module_dir(module: str, version: str) -> Path:
    result = subprocess.run(
        [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"go mod download {module}@{version} failed: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])


def write_crd(root: Path, crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"].lower()
    for version in spec.get("versions", []):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            continue
        # Every object has these, but some CRDs (Istio's) describe only spec and status.
        properties = schema.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", {"type": "object"})
        out = root / group / f"{kind}_{version['name']}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(strict(schema)))


def strict(node: Any) -> Any:
    """openapi2jsonschema --strict: null types for ``nullable``, no unlisted properties."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def replace_dir(staging: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
