#!/usr/bin/env python3
"""`make scan`: the security scanners that work offline here, each reported as PASS, FAIL or SKIP (why).

  bandit          src/ — fails on findings of medium or high severity and confidence
  detect-secrets  every tracked or new file, against the committed .secrets.baseline
  checkov         the Dockerfiles, the Helm chart rendered for each environment, .github/workflows, infra/tofu
  pip-audit       the locked runtime dependencies (`uv export`), against PyPI's advisory data
  npm audit       webui/package-lock.json, when there is one

Trivy is not run here: its vulnerability database and checks are downloaded from an OCI registry this
machine cannot reach; CI runs it (.github/workflows/ci.yml on the tree, release.yml on the images).
A scanner whose service cannot be reached is a SKIP that names the reason, never a silent PASS.

    .venv/bin/python scripts/scan.py                            # what `make scan` runs
    .venv/bin/python scripts/scan.py --update-secrets-baseline  # after reviewing new findings
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BASELINE = ROOT / ".secrets.baseline"
# Lock files are all hashes (every line would look like a high-entropy secret); node_modules is
# third-party code installed by npm, never ours to commit.
# Test code holds throwaway credentials by design (fixtures, fake providers); everything that ships or
# configures a deployment (src, configs, scripts, docs, workflows) is scanned.
SECRETS_EXCLUDE = r"(^|/)(uv\.lock|\.?package-lock\.json)$|(^|/)node_modules/|^tests/|^webui/tests/"
ENVIRONMENTS = ("staging", "prod")

# checkov's Kubernetes checks switched off, each for a reason (as in tests/deploy/test_helm.py).
CHECKOV_K8S_SKIPS = {
    "CKV_K8S_21": "the namespace is given at install (helm -n, Argo CD destination), not in the manifests",
    "CKV_K8S_15": "pull policy IfNotPresent: images are pinned by release tag or digest, and Always would "
    "make every pod start depend on the registry",
    "CKV_K8S_43": "environment values carry release tags; deploy.yml installs the application images by "
    "digest (image.digest, webui.image.digest), after checking their cosign signatures",
    "CKV_K8S_35": "settings are AIWFE_* environment variables by design (same in compose and the local "
    "stack); the Secret is mounted only into the pods that need it",
    "CKV_K8S_8": "beat has no port to probe (one scheduler, Recreate) and the helm test pod is one-shot; "
    "the API, worker and web UI probes are asserted by tests/deploy/test_helm.py",
    "CKV_K8S_9": "as CKV_K8S_8",
}


@dataclass
class Result:
    scanner: str
    status: str  # PASS | FAIL | SKIP
    detail: str


def run(
    cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False)


def show(done: subprocess.CompletedProcess[str]) -> None:
    """Print a failed tool's own output, so the reason is in the log."""
    sys.stdout.write(done.stdout[-20000:])
    sys.stderr.write(done.stderr[-5000:])


def repo_files() -> list[str]:
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    if listed.returncode != 0:
        raise SystemExit(f"scan: git ls-files failed (not a git checkout?): {listed.stderr.strip()}")
    return sorted({name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()})


def bandit() -> Result:
    done = run(
        [str(BIN / "bandit"), "-r", "src", "-q", "--severity-level", "medium", "--confidence-level", "medium"]
    )
    if done.returncode == 0:
        return Result("bandit", "PASS", "src/: no finding of medium or high severity and confidence")
    show(done)
    return Result(
        "bandit", "FAIL", "src/: findings above (fix, or `# nosec BXXX` with the reason on the line)"
    )


def _secrets_scan(files: list[str], baseline: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "detect-secrets"), "scan", "--exclude-files", SECRETS_EXCLUDE]
    if baseline:
        cmd += ["--baseline", str(BASELINE)]
    return run([*cmd, *files])


def _findings(report: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    results = report.get("results", {})
    assert isinstance(results, dict)
    return {(name, item["hashed_secret"]): item for name, items in results.items() for item in items}


def detect_secrets() -> Result:
    files = [f for f in repo_files() if not re.search(SECRETS_EXCLUDE, f) and f != BASELINE.name]
    if not BASELINE.exists():
        return Result(
            "detect-secrets", "FAIL", f"no {BASELINE.name}: run scripts/scan.py --update-secrets-baseline"
        )
    done = _secrets_scan(files)
    if done.returncode != 0:
        show(done)
        return Result("detect-secrets", "FAIL", "detect-secrets scan failed")
    known = _findings(json.loads(BASELINE.read_text()))
    found = _findings(json.loads(done.stdout))
    new = [(key[0], item) for key, item in found.items() if key not in known]
    confirmed = [(key[0], item) for key, item in known.items() if item.get("is_secret") is True]
    for name, item in new:
        print(f"  new potential secret: {name}:{item['line_number']} ({item['type']})")
    for name, item in confirmed:
        print(f"  audited as a real secret: {name}:{item['line_number']} ({item['type']})")
    if new or confirmed:
        return Result(
            "detect-secrets",
            "FAIL",
            f"{len(new)} new, {len(confirmed)} confirmed: remove real secrets; for false positives add "
            "`# pragma: allowlist secret` or run scripts/scan.py --update-secrets-baseline and commit it",
        )
    return Result("detect-secrets", "PASS", f"{len(files)} files, nothing outside {BASELINE.name}")


def update_secrets_baseline() -> int:
    files = [f for f in repo_files() if not re.search(SECRETS_EXCLUDE, f) and f != BASELINE.name]
    done = _secrets_scan(files, baseline=BASELINE.exists())
    if done.returncode != 0:
        show(done)
        return 1
    if not BASELINE.exists():
        BASELINE.write_text(done.stdout)
    print(f"{BASELINE.name}: {len(_findings(json.loads(BASELINE.read_text())))} findings recorded")
    return 0


def _helm() -> str | None:
    done = run(["bash", str(ROOT / "scripts/tools/go-tools.sh")], timeout=1800)
    if done.returncode != 0:
        show(done)
        return None
    return str(Path(done.stdout.strip().splitlines()[-1]) / "helm")


def checkov(work: Path) -> Result:
    helm = _helm()
    if helm is None:
        return Result(
            "checkov", "FAIL", "scripts/tools/go-tools.sh could not provide helm to render the chart"
        )
    rendered = work / "chart"
    for env in ENVIRONMENTS:
        done = run(
            [
                helm,
                "template",
                "aiwfe",
                "k8s/charts/aiwfe",
                "--namespace",
                f"aiwfe-{env}",
                "--values",
                f"k8s/environments/{env}.yaml",
                "--output-dir",
                str(rendered / env),
            ]
        )
        if done.returncode != 0:
            show(done)
            return Result("checkov", "FAIL", f"helm template with k8s/environments/{env}.yaml failed")
    # checkov skips a file containing "{{" (it takes it for an unrendered template): here those are the
    # Prometheus rules and Grafana dashboards, which hold no workload.
    unscanned = sorted(
        str(p.relative_to(rendered)) for p in rendered.rglob("*.yaml") if "{{" in p.read_text()
    )
    dockerfiles = [f for f in repo_files() if Path(f).name == "Dockerfile"]
    cmd = [str(BIN / "checkov"), "--quiet", "--compact", "--skip-download"]
    cmd += ["--framework", "dockerfile", "kubernetes", "github_actions", "terraform"]
    cmd += ["--skip-check", ",".join(CHECKOV_K8S_SKIPS)]
    cmd += ["--directory", str(rendered), "--directory", ".github", "--directory", "infra/tofu"]
    for dockerfile in dockerfiles:
        cmd += ["--file", dockerfile]
    done = run(cmd, env={**os.environ, "LOG_LEVEL": "WARNING"})
    what = (
        f"{len(dockerfiles)} Dockerfiles, chart rendered for {' and '.join(ENVIRONMENTS)}, workflows, "
        "the OpenTofu module"
    )
    if unscanned:
        what += f" (not parsed by checkov, alert/dashboard templates only: {', '.join(unscanned)})"
    if done.returncode == 0:
        return Result("checkov", "PASS", what)
    show(done)
    return Result("checkov", "FAIL", f"{what}: failed checks above")


def _uv() -> str | None:
    for candidate in (os.environ.get("UV"), str(ROOT / ".aiwfe/tools/bin/uv"), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).resolve())
    return None


def pip_audit_env(environ: dict[str, str]) -> dict[str, str]:
    """pip-audit's requests trusts certifi's roots unless told otherwise; the platform store is what pip,
    npm and git trust here, and the only one a TLS-inspecting proxy's CA is in. Root's environment often
    names it (SSL_CERT_FILE); a normal user's login does not."""
    if environ.get("REQUESTS_CA_BUNDLE"):
        return dict(environ)
    paths = ssl.get_default_verify_paths()
    bundle = environ.get("SSL_CERT_FILE") or paths.cafile or paths.capath
    return {**environ, "REQUESTS_CA_BUNDLE": bundle} if bundle else dict(environ)


def pip_audit(work: Path) -> Result:
    uv = _uv()
    if uv is None:
        return Result("pip-audit", "FAIL", "uv not found (make bootstraps it into .aiwfe/tools)")
    requirements = work / "requirements.txt"
    done = run(
        [
            uv,
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-default-groups",
            "--no-emit-project",
            "--quiet",
            "--output-file",
            str(requirements),
        ]
    )
    if done.returncode != 0:
        show(done)
        return Result("pip-audit", "FAIL", "uv export of the locked runtime dependencies failed")
    report = work / "pip-audit.json"
    done = run(
        [
            str(BIN / "pip-audit"),
            "--disable-pip",
            "--requirement",
            str(requirements),
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
            "--timeout",
            "30",
        ],
        env=pip_audit_env(dict(os.environ)),
    )
    if not report.exists():
        show(done)
        return Result("pip-audit", "FAIL", "pip-audit produced no report")
    deps = json.loads(report.read_text())["dependencies"]
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    if vulnerable:
        return Result(
            "pip-audit",
            "FAIL",
            f"{len(vulnerable)} of {len(deps)} locked packages have known vulnerabilities",
        )
    if deps and len(skipped) == len(deps):
        return Result(
            "pip-audit",
            "SKIP",
            f"none of the {len(deps)} packages could be looked up ('{skipped[0]['skip_reason']}'): the PyPI "
            "mirror here does not serve the per-release JSON API pip-audit reads advisories from, and OSV is "
            "not reachable; CI runs it against pypi.org",
        )
    note = f", {len(skipped)} not looked up" if skipped else ""
    return Result(
        "pip-audit",
        "PASS",
        f"{len(deps) - len(skipped)} locked runtime packages, no known vulnerability{note}",
    )


def npm_audit() -> Result:
    lock = ROOT / "webui/package-lock.json"
    if not lock.exists():
        return Result("npm audit", "SKIP", "no webui/package-lock.json")
    npm = shutil.which("npm")
    if npm is None:
        return Result("npm audit", "SKIP", "npm is not installed")
    done = run([npm, "audit", "--package-lock-only", "--audit-level=high", "--json"], cwd=lock.parent)
    try:
        report = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        show(done)
        return Result("npm audit", "FAIL", "npm audit printed no JSON")
    if "error" in report and "vulnerabilities" not in report:
        reason = report.get("message") or report["error"].get("summary") or "unknown error"
        return Result(
            "npm audit", "SKIP", f"the registry's audit endpoint is not available here ({reason}); CI runs it"
        )
    counts = report.get("metadata", {}).get("vulnerabilities", {})
    serious = int(counts.get("high", 0)) + int(counts.get("critical", 0))
    if serious:
        show(done)
        return Result("npm audit", "FAIL", f"{serious} high/critical advisories in webui dependencies")
    return Result("npm audit", "PASS", f"webui: no high/critical advisory ({counts.get('total', 0)} lower)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--update-secrets-baseline", action="store_true", help="rescan and rewrite .secrets.baseline"
    )
    if parser.parse_args().update_secrets_baseline:
        return update_secrets_baseline()
    with tempfile.TemporaryDirectory(prefix="aiwfe-scan-") as tmp:
        work = Path(tmp)
        results = [bandit(), detect_secrets(), checkov(work), pip_audit(work), npm_audit()]
    results.append(
        Result(
            "trivy",
            "SKIP",
            "needs its vulnerability database and checks from an OCI registry this machine cannot reach; "
            "CI runs it (ci.yml: filesystem + config, release.yml: images)",
        )
    )
    print("\nscan summary")
    for result in results:
        print(f"  {result.status:4}  {result.scanner:14}  {result.detail}")
    return 1 if any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
