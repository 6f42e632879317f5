"""The CI/CD kit: .github/workflows (actionlint, SHA pins, minimal permissions, rollback wiring) and
scripts/deployment (shellcheck, argument handling, and smoke-test.sh run against a real local stack)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.stacks import running_stack

from aiwfe_stack.ports import free_ports
from aiwfe_stack.stack import Stack
from aiwfe_stack.system import Requirement, ensure_installed

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github/workflows"
WORKFLOW_FILES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
SCRIPTS = ROOT / "scripts/deployment"
SMOKE_TEST = SCRIPTS / "smoke-test.sh"
SHELLCHECK = Requirement("shellcheck", "shellcheck")

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+\.\d+\.\d+\s*$")
# The one trivy-action commit that was never rewritten in the March 2026 tag hijack (docs/ci-cd.md).
TRIVY_ACTION = "aquasecurity/trivy-action@57a97c7e7821a5776cebc9bb87c984fa69cba8f1"
MALICIOUS_TRIVY = {"v0.69.4", "v0.69.5", "v0.69.6"}
# Token scopes a workflow may write, and why; anything else stays read-only or absent.
WRITE_SCOPES = {
    "release.yml": {"packages", "id-token"},  # push images/chart to GHCR, cosign keyless signing
}


# --- workflows -------------------------------------------------------------------------------------


@cache
def workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the bare key `on` as True.
    if True in loaded:
        loaded["on"] = loaded.pop(True)
    return loaded


def jobs(name: str) -> dict[str, dict[str, Any]]:
    found = workflow(name)["jobs"]
    assert isinstance(found, dict)
    return found


def all_uses(name: str) -> list[str]:
    refs = []
    for job in jobs(name).values():
        if "uses" in job:
            refs.append(job["uses"])
        refs.extend(step["uses"] for step in job.get("steps", []) if "uses" in step)
    return refs


def step_index(steps: list[dict[str, Any]], needle: str) -> int:
    matches = [i for i, step in enumerate(steps) if needle in str(step.get("run", ""))]
    assert len(matches) == 1, f"expected one step running {needle!r}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def shellcheck() -> str:
    ensure_installed((SHELLCHECK,))
    path = shutil.which("shellcheck")
    assert path, "shellcheck missing after installing the Debian package"
    return path


@pytest.fixture(scope="session")
def actionlint(go_tools: Path) -> str:
    """actionlint from scripts/tools/go-tools.sh (built once with `go install`, then cached)."""
    path = go_tools / "actionlint"
    assert path.exists(), f"{path} missing after go-tools.sh"
    return str(path)


def test_the_three_workflows_exist() -> None:
    assert {"ci.yml", "release.yml", "deploy.yml"} <= set(WORKFLOW_FILES)


def test_actionlint_finds_nothing_in_any_workflow(actionlint: str, shellcheck: str) -> None:
    # With shellcheck on PATH, actionlint also checks every `run:` script.
    env = {**os.environ, "PATH": f"{Path(shellcheck).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [actionlint, "-no-color", *(str(WORKFLOWS / name) for name in WORKFLOW_FILES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_full_commit_sha(name: str) -> None:
    refs = all_uses(name)
    assert refs
    unpinned = [ref for ref in refs if not PINNED.match(ref)]
    assert not unpinned, f"not pinned to a 40-hex commit: {unpinned}"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_pin_names_its_release_in_a_comment(name: str) -> None:
    lines = [m for line in (WORKFLOWS / name).read_text().splitlines() if (m := USES_LINE.match(line))]
    assert len(lines) == len(all_uses(name)), "a `uses:` the line scan did not see (quoted or flow style?)"
    missing = [m["ref"] for m in lines if not VERSION_COMMENT.match(m["rest"])]
    assert not missing, f"no `# vX.Y.Z` comment after: {missing}"


def test_one_commit_per_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for name in WORKFLOW_FILES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            if m := USES_LINE.match(line):
                action, _, sha = m["ref"].partition("@")
                pins.setdefault(action, set()).add(f"{sha}{m['rest'].strip()}")
    drift = {action: sorted(found) for action, found in pins.items() if len(found) > 1}
    assert not drift, f"the same action pinned to different commits or versions: {drift}"


def test_trivy_runs_only_from_the_verified_action_and_a_clean_trivy_release() -> None:
    trivy_steps = [
        step
        for name in WORKFLOW_FILES
        for job in jobs(name).values()
        for step in job.get("steps", [])
        if "trivy" in str(step.get("uses", ""))
    ]
    assert trivy_steps
    for step in trivy_steps:
        assert step["uses"] == TRIVY_ACTION
        version = str(step.get("with", {}).get("version", ""))
        if version.startswith("${{"):
            version = workflow("release.yml")["env"]["TRIVY_VERSION"]
        assert version == "v0.69.3", "pin the Trivy binary too; v0.69.4-v0.69.6 were malicious builds"
        assert version not in MALICIOUS_TRIVY


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_top_level_permissions_grant_nothing(name: str) -> None:
    assert workflow(name).get("permissions") == {}


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_job_declares_minimal_permissions(name: str) -> None:
    allowed_writes = WRITE_SCOPES.get(name, set())
    for job_name, job in jobs(name).items():
        assert "permissions" in job, f"{name}: job {job_name} inherits permissions instead of declaring them"
        permissions = job["permissions"]
        assert permissions not in ("write-all", "read-all"), f"{name}: {job_name} uses {permissions}"
        assert isinstance(permissions, dict)
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= allowed_writes, f"{name}: {job_name} writes {writes - allowed_writes}"
        assert set(permissions.values()) <= {"read", "write", "none"}


def test_checkouts_never_keep_the_token_on_disk() -> None:
    for name in WORKFLOW_FILES:
        for job in jobs(name).values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, name


def test_ci_runs_make_test_with_caches_and_keeps_reports_and_screenshots() -> None:
    ci = jobs("ci.yml")
    test_steps = ci["test"]["steps"]
    assert any(step.get("run") == "make test" for step in test_steps)
    assert any(step.get("run") == "make lint" for step in ci["lint"]["steps"])
    cached = " ".join(
        str(step["with"]["path"])
        for step in test_steps
        if str(step.get("uses", "")).startswith("actions/cache@")
    )
    for path in ("~/.cache/uv", "~/.npm", "~/go/pkg/mod", "~/.cache/go-build", "~/.cache/aiwfe"):
        assert path in cached
    uploads = [
        step for step in test_steps if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert {step["with"]["name"] for step in uploads} == {"test-reports", "ui-screenshots"}
    assert all(step["if"] == "${{ !cancelled() }}" for step in uploads)


def test_release_scans_each_image_before_pushing_then_signs_it() -> None:
    release = workflow("release.yml")
    assert release["on"]["push"]["tags"]
    image = jobs("release.yml")["image"]
    assert {entry["file"] for entry in image["strategy"]["matrix"]["include"]} == {
        "Dockerfile",
        "webui/Dockerfile",
    }
    steps = image["steps"]
    uses = [str(step.get("uses", "")) for step in steps]
    scan = uses.index(TRIVY_ACTION)
    pushes = [i for i, step in enumerate(steps) if step.get("with", {}).get("push") is True]
    assert len(pushes) == 1
    assert scan < pushes[0], "Trivy must gate the image before it is pushed"
    gate = steps[scan]["with"]
    assert (gate["exit-code"], gate["ignore-unfixed"], gate["severity"]) == ("1", True, "HIGH,CRITICAL")
    assert steps[pushes[0]]["with"]["platforms"] == "linux/amd64,linux/arm64"
    sbom = next(i for i, u in enumerate(uses) if u.startswith("anchore/sbom-action@"))
    sign = step_index(steps, "cosign sign --yes")
    assert pushes[0] < sbom < sign
    chart = jobs("release.yml")["chart"]
    assert chart["needs"] == "image"
    script = " ".join(str(step.get("run", "")) for step in chart["steps"])
    assert "helm package" in script
    assert "helm push" in script
    assert "oci://" in script


@pytest.mark.parametrize(("job", "environment"), [("staging", "staging"), ("production", "prod")])
def test_deploy_rolls_back_when_the_smoke_test_fails(job: str, environment: str) -> None:
    steps = jobs("deploy.yml")[job]["steps"]
    deploy = step_index(steps, "scripts/deployment/deploy.sh")
    smoke = step_index(steps, "scripts/deployment/smoke-test.sh")
    rollback = step_index(steps, "scripts/deployment/rollback.sh")
    assert deploy < smoke < rollback
    assert f"deploy.sh {environment} " in steps[deploy]["run"]
    assert steps[deploy]["env"]["AIWFE_HELM_TIMEOUT"] == "5m"
    assert steps[smoke]["id"] == "smoke"
    condition = steps[rollback]["if"].replace(" ", "")
    assert condition == "failure()&&steps.smoke.outcome=='failure'"
    assert f"rollback.sh {environment} " in steps[rollback]["run"]
    recorded = next(step for step in steps if step.get("name") == "Record the deployed version")
    assert recorded["if"] == "success()"
    assert "GITHUB_STEP_SUMMARY" in recorded["run"]


def test_production_waits_for_staging_and_an_approval() -> None:
    deploy = jobs("deploy.yml")
    assert "staging" in deploy["production"]["needs"]
    assert deploy["production"]["environment"]["name"] == "production"
    assert deploy["staging"]["environment"]["name"] == "staging"
    for job in ("staging", "production"):
        assert deploy[job]["concurrency"]["cancel-in-progress"] is False


def test_production_is_promoted_with_the_digests_staging_verified() -> None:
    """Image promotion by digest: production never looks a tag up again (a tag can be moved)."""
    deploy = jobs("deploy.yml")
    staging, production = deploy["staging"], deploy["production"]
    assert set(staging["outputs"]) == {"image-digest", "webui-image-digest"}
    prod_steps = json.dumps(production["steps"])
    assert "needs.staging.outputs.image-digest" in prod_steps
    assert "needs.staging.outputs.webui-image-digest" in prod_steps
    assert "imagetools inspect" not in prod_steps, "production resolves a tag instead of promoting a digest"
    assert "cosign verify" in prod_steps


def test_deploy_script_upgrades_atomically_and_waits_five_minutes() -> None:
    script = (SCRIPTS / "deploy.sh").read_text()
    assert "upgrade --install" in script
    assert "--atomic --wait" in script
    assert "AIWFE_HELM_TIMEOUT:-5m" in script


# --- scripts ---------------------------------------------------------------------------------------


def test_deployment_scripts_are_strict_and_executable() -> None:
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert {p.name for p in scripts} >= {"deploy.sh", "rollback.sh", "smoke-test.sh", "backup.sh"}
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        assert "set -euo pipefail" in script.read_text(), script.name


def test_deployment_scripts_are_shellcheck_clean(shellcheck: str) -> None:
    done = subprocess.run(
        [shellcheck, "--external-sources", *sorted(str(p) for p in SCRIPTS.glob("*.sh"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def fake_tools(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose `helm` and `aiwfe` only log their arguments (and answer `helm status`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    (bin_dir / "helm").write_text(
        "#!/bin/sh\n"
        f'echo "helm $*" >>"{log}"\n'
        'if [ "$1" = status ]; then\n'
        '  [ -n "$FAKE_HELM_REVISION" ] || exit 1\n'
        '  echo "{\\"version\\": $FAKE_HELM_REVISION}"\n'
        "fi\n"
    )
    (bin_dir / "aiwfe").write_text(f'#!/bin/sh\necho "aiwfe $*" >>"{log}"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("GITHUB_SHA", None)
    return env, log


def _calls(log: Path, verb: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith(f"helm {verb}")]


def test_deploy_script_upgrades_an_existing_release_atomically(
    fake_tools: tuple[dict[str, str], Path],
) -> None:
    env, log = fake_tools
    env |= {"FAKE_HELM_REVISION": "4", "AIWFE_IMAGE_DIGEST": "sha256:" + "a" * 64}
    done = subprocess.run(
        [str(SCRIPTS / "deploy.sh"), "staging", "v1.2.3"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    (upgrade,) = _calls(log, "upgrade")
    assert "--install aiwfe" in upgrade
    assert "--namespace aiwfe-staging" in upgrade
    assert "--atomic --wait" in upgrade
    assert "--timeout 5m" in upgrade
    assert "image.tag=1.2.3" in upgrade
    assert "webui.image.tag=1.2.3" in upgrade
    assert "image.digest=sha256:" + "a" * 64 in upgrade
    assert "k8s/environments/staging.yaml" in upgrade


def test_deploy_script_first_install_runs_without_wait(fake_tools: tuple[dict[str, str], Path]) -> None:
    env, log = fake_tools
    done = subprocess.run(
        [str(SCRIPTS / "deploy.sh"), "prod", "1.2.3"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    (install,) = _calls(log, "upgrade")
    assert "--wait" not in install
    assert "--atomic" not in install
    assert "post-install hook" in done.stderr


def test_deploy_script_refuses_an_unknown_environment(fake_tools: tuple[dict[str, str], Path]) -> None:
    env, log = fake_tools
    done = subprocess.run(
        [str(SCRIPTS / "deploy.sh"), "qa", "1.2.3"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "no values file" in done.stderr
    assert not log.exists()


def test_rollback_script_returns_to_the_revision_before_the_current(
    fake_tools: tuple[dict[str, str], Path],
) -> None:
    env, log = fake_tools
    env["FAKE_HELM_REVISION"] = "7"
    done = subprocess.run(
        [str(SCRIPTS / "rollback.sh"), "prod"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    (rollback,) = _calls(log, "rollback")
    assert rollback.startswith("helm rollback aiwfe 6 --namespace aiwfe-prod --wait")


def test_rollback_script_takes_an_explicit_revision(fake_tools: tuple[dict[str, str], Path]) -> None:
    env, log = fake_tools
    done = subprocess.run(
        [str(SCRIPTS / "rollback.sh"), "staging", "3"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    (rollback,) = _calls(log, "rollback")
    assert rollback.startswith("helm rollback aiwfe 3 --namespace aiwfe-staging")


def test_rollback_script_refuses_when_there_is_nothing_earlier(
    fake_tools: tuple[dict[str, str], Path],
) -> None:
    env, log = fake_tools
    env["FAKE_HELM_REVISION"] = "1"
    done = subprocess.run(
        [str(SCRIPTS / "rollback.sh"), "staging"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "nothing to roll back to" in done.stderr
    assert not _calls(log, "rollback")


def test_backup_script_calls_aiwfe_backup_now(fake_tools: tuple[dict[str, str], Path]) -> None:
    env, log = fake_tools
    env["AIWFE"] = str(Path(env["PATH"].split(":")[0]) / "aiwfe")
    done = subprocess.run(
        [str(SCRIPTS / "backup.sh"), "--type", "full"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["aiwfe backup now --type full"]


def _smoke(*args: str, retries: str = "1") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMOKE_RETRIES": retries, "SMOKE_TIMEOUT": "15"}
    for name in ("SMOKE_EMAIL", "SMOKE_PASSWORD"):
        env.pop(name, None)
    return subprocess.run([str(SMOKE_TEST), *args], env=env, capture_output=True, text=True, timeout=180)


def test_smoke_test_names_the_step_when_nothing_answers() -> None:
    (port,) = free_ports(1)
    done = _smoke(f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert f"smoke test FAILED: GET /health: no answer from http://127.0.0.1:{port}" in done.stderr


def test_smoke_test_without_a_url_prints_its_usage() -> None:
    done = _smoke()
    assert done.returncode == 2
    assert "smoke-test.sh BASE_URL [--ca CA_FILE]" in done.stderr


# --- smoke-test.sh against a running local stack ----------------------------------------------------


@pytest.fixture(scope="module")
def stack(system_packages: None) -> Iterator[Stack]:
    with running_stack("aiwfe-test-smoke-") as running:
        yield running


@pytest.mark.stack
def test_smoke_test_passes_against_the_local_stack(stack: Stack) -> None:
    base = f"https://localhost:{stack.settings.https_port}"
    done = _smoke(base, "--ca", str(stack.paths.ca_cert), retries="3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"smoke test passed: {base}" in done.stdout
    assert "sign in smoke-" in done.stdout
    openapi = httpx.get(f"{base}/api/openapi.json", verify=stack.ca_context(), timeout=10).json()
    if "/api/v1/calendars" in openapi["paths"]:
        assert "create a calendar and an event, read the event back" in done.stdout
    else:
        assert "calendar check skipped" in done.stdout


@pytest.mark.stack
def test_smoke_test_fails_clearly_on_a_wrong_base_url(stack: Stack) -> None:
    base = f"https://localhost:{stack.settings.https_port}/not-aiwfe"
    done = _smoke(base, "--ca", str(stack.paths.ca_cert))
    assert done.returncode == 1
    assert re.search(r"^smoke test FAILED: GET /health: ", done.stderr, re.M), done.stderr


@pytest.mark.stack
def test_smoke_test_refuses_an_untrusted_certificate(stack: Stack) -> None:
    done = _smoke(f"https://localhost:{stack.settings.https_port}")
    assert done.returncode == 1
    assert "smoke test FAILED: GET /health: no answer from" in done.stderr
    assert "certificate" in done.stderr.lower()


def test_secrets_baseline_is_valid_json_with_the_lock_files_excluded() -> None:
    baseline = json.loads((ROOT / ".secrets.baseline").read_text())
    patterns = [
        f.get("pattern") for f in baseline["filters_used"] if f["path"].endswith("should_exclude_file")
    ]
    assert patterns
    assert any("uv\\.lock" in p[0] for p in patterns if p)
