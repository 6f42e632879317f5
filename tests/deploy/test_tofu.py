"""infra/tofu, the OpenTofu module that installs the platform on an existing cluster: `tofu init` from a
filesystem mirror of providers built from their Go modules (no registry), `tofu validate`, `tofu fmt -check`,
and the module reads the same charts, versions, values and namespaces as the Argo CD applications."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "tofu"
APPS = ROOT / "k8s" / "argocd" / "apps"
PROVIDERS = {"hashicorp/helm": "1.3.2", "hashicorp/kubernetes": "1.13.4"}

pytestmark = pytest.mark.timeout(1800)  # the first run builds tofu and its providers


@pytest.fixture(scope="module")
def tofu_bin(go_tools: Path) -> tuple[Path, Path]:
    """(tofu, provider mirror) from scripts/tools/go-tools.sh (built once, then cached)."""
    tofu, mirror = go_tools / "tofu", go_tools.parent / "tofu-mirror"
    assert tofu.is_file(), f"tofu missing from {go_tools}"
    return tofu, mirror


@pytest.fixture(scope="module")
def workdir(
    tofu_bin: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A copy of infra/tofu beside k8s/ (the module reads ../../k8s), initialised from the mirror only."""
    tofu, mirror = tofu_bin
    root = tmp_path_factory.mktemp("tofu")
    shutil.copytree(MODULE, root / "infra" / "tofu", ignore=shutil.ignore_patterns(".terraform*"))
    shutil.copytree(ROOT / "k8s", root / "k8s")
    # No `direct` block: a provider missing from the mirror fails init instead of reaching for a registry.
    cli_config = root / "tofurc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    module = root / "infra" / "tofu"
    done = subprocess.run(
        [str(tofu), "init", "-input=false", "-no-color"],
        cwd=module, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return module, env


def tofu(
    tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]], *args: str, stdin: str = ""
) -> Any:
    module, env = workdir
    return subprocess.run(
        [str(tofu_bin[0]), *args],
        cwd=module,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_init_installs_the_pinned_providers_from_the_mirror(workdir: tuple[Path, dict[str, str]]) -> None:
    module, _ = workdir
    lock = (module / ".terraform.lock.hcl").read_text()
    for source, version in PROVIDERS.items():
        assert f'provider "registry.opentofu.org/{source}"' in lock
        assert re.search(
            rf'provider "registry.opentofu.org/{source}" {{\s*version\s*=\s*"{version}"', lock
        ), lock


def test_validate_passes(tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]]) -> None:
    done = tofu(tofu_bin, workdir, "validate", "-json", "-no-color")
    report = json.loads(done.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert (report["error_count"], report["warning_count"]) == (0, 0), report["diagnostics"]


def test_fmt_check_passes(tofu_bin: tuple[Path, Path]) -> None:
    done = subprocess.run(
        [str(tofu_bin[0]), "fmt", "-check", "-recursive", "-diff", "-no-color", str(MODULE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"tofu fmt would change:\n{done.stdout}{done.stderr}"


def test_a_left_out_backend_is_refused_with_the_reason(tofu_bin: tuple[Path, Path], tmp_path: Path) -> None:
    # go-tools.sh builds tofu without the cloud state backends (scripts/tools/tofu-local-backends.patch).
    (tmp_path / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    done = subprocess.run(
        [str(tofu_bin[0]), "init", "-input=false", "-no-color"],
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, output
    assert 'The "s3" backend is left out of the tofu scripts/tools/go-tools.sh builds' in output, output


def console(tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]], expr: str, *args: str) -> Any:
    done = tofu(tofu_bin, workdir, "console", "-no-color", *args, stdin=f"jsonencode({expr})\n")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(json.loads(done.stdout.strip()))


def test_platform_charts_are_those_of_the_argocd_applications(
    tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]]
) -> None:
    """Both installers install the same chart, version, namespace and values, in the same order."""
    platform = console(tofu_bin, workdir, "local.platform")
    wanted = {
        "alloy", "cert-manager", "cloudnative-pg", "external-secrets", "keda", "kube-prometheus-stack",
        "loki", "plugin-barman-cloud",
    }  # fmt: skip
    assert set(platform) == wanted
    for name, release in platform.items():
        app = yaml.safe_load((APPS / f"{name}.yaml").read_text())
        source = app["spec"]["source"]
        assert (release["repository"], release["chart"], release["version"]) == (
            source["repoURL"], source["chart"], source["targetRevision"],
        ), name  # fmt: skip
        assert release["namespace"] == app["spec"]["destination"]["namespace"], name
        assert yaml.safe_load(release["values"]) == source.get("helm", {}).get("valuesObject", {}), name
        creates = "CreateNamespace=true" in app["spec"].get("syncPolicy", {}).get("syncOptions", [])
        assert release["create_namespace"] is creates, name
    # The operators (wave -5) go first; the Barman Cloud plugin needs cert-manager, Alloy needs Loki.
    first = {name for name, release in platform.items() if release["wave"] <= -5}
    assert {"cert-manager", "cloudnative-pg", "keda", "external-secrets", "kube-prometheus-stack"} <= first
    assert {"plugin-barman-cloud", "loki", "alloy"}.isdisjoint(first)


def test_namespaces_are_those_of_k8s_namespaces(
    tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]]
) -> None:
    namespaces = console(tofu_bin, workdir, "local.namespaces")
    for path in sorted((ROOT / "k8s" / "namespaces").glob("*.yaml")):
        metadata = yaml.safe_load(path.read_text())["metadata"]
        assert namespaces[path.stem] == metadata
    assert namespaces["aiwfe-prod"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_releases_pin_images_per_environment(
    tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]]
) -> None:
    digest = "sha256:" + "a" * 64
    images = console(
        tofu_bin, workdir, "local.images",
        "-var", f'environments={{prod = {{image_tag = "1.2.3", image_digest = "{digest}"}}, staging = {{}}}}',
    )  # fmt: skip
    assert images == {
        "prod": {"image": {"tag": "1.2.3", "digest": digest}, "webui": {"image": {"tag": "1.2.3"}}},
        "staging": {"image": {}, "webui": {"image": {}}},
    }


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("environments={qa = {}}", "Environments are staging and prod"),
        ('environments={prod = {image_digest = "latest"}}', "Image digests are sha256"),
        ('platform_apps=["nginx"]', "Each platform app must be an Application"),
    ],
)
def test_bad_variables_are_refused(
    tofu_bin: tuple[Path, Path], workdir: tuple[Path, dict[str, str]], variable: str, message: str
) -> None:
    # `tofu console` reports a failed variable validation but still exits 0: the message is the signal.
    done = tofu(tofu_bin, workdir, "console", "-no-color", "-var", variable, stdin="local.repo_root\n")
    assert "Invalid value for variable" in done.stdout + done.stderr
    assert message in " ".join((done.stdout + done.stderr).split()), done.stdout + done.stderr
