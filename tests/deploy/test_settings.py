"""One source of truth for settings: the pydantic model (aiwfe.core.settings.Settings) against every runtime.

The set of settings the app reads is derived from the model, not written here. From it come the settings
an operator must give on an install:

- every setting without a default;
- every secret (a ``SecretStr``): it must be routable from the runtime's secret store;
- every setting whose default points at this machine (``localhost``/``127.0.0.1``);
- the few choices below whose development default is wrong for an install (each with its reason).

A new setting with a default is a tunable: the runtimes may leave it out, but where they set it, the value
must equal the model's default. A new setting without a default, or a new secret, fails here until each
runtime wires it. Each runtime is read as it really runs: the local stack's ``app_env()``, the interpolated
docker-compose.yml, and the Helm chart rendered by helm.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from tests.deploy.test_compose import environment, interpolate, read_env_file

from aiwfe.core.settings import Settings
from aiwfe_stack.settings import StackSettings
from aiwfe_stack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s/charts/aiwfe"
CHART_VALUE_FILES = sorted(
    [*(CHART / "ci").glob("*-values.yaml"), *(ROOT / "k8s/environments").glob("*.yaml")]
)
APP_CONTAINERS = ("api", "worker", "beat", "migrate")
COMPOSE_APP_SERVICES = ("migrate", "api", "worker", "beat")

# Settings whose default suits a laptop but not an install, though it does not name this machine.
OPERATOR_CHOICES = {
    "env": "production refuses development secrets; every install runs it",
    "registration_mode": "open sign-up is a decision, not a default",
    "smtp_port": "the local SMTP sink's port; a relay uses 587 or 465",
    "smtp_starttls": "off for the local sink; a relay needs it",
    "smtp_username": "the relay's account",
    "log_level": "operators turn it up and down",
    "otlp_endpoint": "where traces go is per install",
}
# Settings each runtime sets for its own process layout (listen addresses, files): not operator input,
# and their values differ by runtime on purpose.
PROCESS_LAYOUT = {
    "api_host",
    "api_port",
    "forwarded_allow_ips",
    "worker_metrics_host",
    "worker_metrics_port",
    "worker_metrics_dir",
    "worker_name",
    "beat_schedule_file",
}
# A runtime that does not offer a secret says why.
SECRETS_NOT_OFFERED = {
    "compose": {"broker_url": "one Redis per host: the Celery broker is AIWFE_REDIS_URL"},
    "chart": {},
}


def env_name(field: str) -> str:
    return f"AIWFE_{field.upper()}"


def _default(field: str) -> Any:
    info = Settings.model_fields[field]
    if info.default is PydanticUndefined and info.default_factory is None:
        return PydanticUndefined
    return info.get_default(call_default_factory=True)


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def required_fields() -> set[str]:
    return {name for name in Settings.model_fields if _default(name) is PydanticUndefined}


def secret_fields() -> set[str]:
    return {name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}


def host_bound_fields() -> set[str]:
    return {
        name
        for name in Settings.model_fields
        if isinstance(_plain(_default(name)), str)
        and re.search(r"localhost|127\.0\.0\.1", _plain(_default(name)))
    }


def operator_fields() -> set[str]:
    """Everything an operator must give or decide, derived from the model (plus OPERATOR_CHOICES)."""
    return required_fields() | secret_fields() | host_bound_fields() | set(OPERATOR_CHOICES)


def tunable_fields() -> set[str]:
    return set(Settings.model_fields) - operator_fields() - PROCESS_LAYOUT


def settings_from(env: dict[str, str]) -> Settings:
    """The settings a process with exactly these AIWFE_* variables gets (nothing from this shell)."""
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("AIWFE_")}
    try:
        for key, value in env.items():
            if key.startswith("AIWFE_"):
                os.environ[key] = value
        return Settings()
    finally:
        for key in [key for key in os.environ if key.startswith("AIWFE_")]:
            del os.environ[key]
        os.environ.update(saved)


def assert_tunables_keep_the_model_defaults(runtime: str, env: dict[str, str]) -> None:
    # Only tunables are compared: run as `test` so production's refusal of missing secrets stays out of it.
    settings = settings_from({**env, "AIWFE_ENV": "test"})
    differing = {
        env_name(name): (_plain(getattr(settings, name)), _plain(_default(name)))
        for name in tunable_fields()
        if env_name(name) in env and _plain(getattr(settings, name)) != _plain(_default(name))
    }
    assert not differing, (
        f"{runtime} sets tunables away from the model's defaults (set, default): {differing}"
    )


# ---- the derivation itself ---------------------------------------------------------------------------------


def test_the_operator_settings_are_derived_from_the_model() -> None:
    """Guards the derivation: the settings issue #18 found unwired must come out of it."""
    derived = operator_fields()
    for name in ("secret_key", "database_url", "redis_url", "smtp_password", "oauth_providers"):
        assert name in secret_fields(), name
        assert name in derived, name
    for name in ("public_url", "smtp_host", "mail_from"):
        assert name in host_bound_fields(), name
    assert set(OPERATOR_CHOICES) <= set(Settings.model_fields), "a choice names no setting"
    assert set(Settings.model_fields) >= PROCESS_LAYOUT, "a layout entry names no setting"
    assert "calendar_max_instances" in tunable_fields()


# ---- local stack -----------------------------------------------------------------------------------------


def test_local_stack_sets_what_the_model_cannot_default_and_keeps_tunable_defaults(tmp_path: Path) -> None:
    env = Stack(StackSettings(dir=tmp_path / "stack")).app_env()
    # The stack runs everything on loopback with its own ports and SMTP sink: what it must set are the
    # settings without a default, the secrets production refuses by default, and its own addresses.
    must = required_fields() | {"secret_key", "database_url", "redis_url", "public_url", "smtp_port"}
    missing = sorted(env_name(name) for name in must if env_name(name) not in env)
    assert not missing, f"the local stack does not set {missing}"
    assert_tunables_keep_the_model_defaults("the local stack", env)


# ---- compose ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("host")
    (folder / "compose").mkdir()
    for name in ("env.example", "generate-env.sh"):
        (folder / "compose" / name).write_bytes((ROOT / "compose" / name).read_bytes())
    subprocess.run(
        ["sh", str(folder / "compose" / "generate-env.sh"), "aiwfe.example.com"],
        check=True,
        capture_output=True,
    )
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, dict[str, Any]] = interpolate(raw, read_env_file(folder / ".env"))["services"]
    return services


def test_compose_wires_every_operator_setting_to_env(compose_services: dict[str, dict[str, Any]]) -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    example = read_env_file(ROOT / "compose" / "env.example")
    for service in COMPOSE_APP_SERVICES:
        written = environment(raw["services"][service])
        for name in sorted(operator_fields() - PROCESS_LAYOUT):
            key = env_name(name)
            if name in SECRETS_NOT_OFFERED["compose"]:
                continue
            assert key in written, f"compose {service} does not pass {key}"
            # AIWFE_ENV is the one choice compose makes itself: it is a production install.
            if name in (secret_fields() | set(OPERATOR_CHOICES) | required_fields()) - {"env"}:
                # The operator's .env decides it, so it is a ${...} reference, never a literal here.
                assert "${" in written[key], f"compose {service}: {key} is fixed to {written[key]!r}"
            referenced = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", written[key])
            for variable in referenced:
                if variable.startswith("AIWFE_") and variable != key:
                    assert variable in example, f"{key} reads {variable}, which compose/env.example lacks"
            if key in referenced:
                assert key in example, f"compose/env.example does not list {key}"


def test_compose_app_environment_keeps_tunable_defaults(compose_services: dict[str, dict[str, Any]]) -> None:
    for service in COMPOSE_APP_SERVICES:
        assert_tunables_keep_the_model_defaults(f"compose {service}", environment(compose_services[service]))


# ---- Helm chart ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm(go_tools: Path) -> Path:
    return go_tools / "helm"


@cache
def _render(helm: Path, values: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(helm), "template", "aiwfe", str(CHART), "--namespace", "aiwfe-test", "-f", str(values)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if isinstance(doc, dict)]


def chart_app_env(docs: list[dict[str, Any]], component: str) -> dict[str, dict[str, Any]]:
    """Variable → {"value": ...} or {"secret": key, "optional": bool} of the component's container."""
    configs = {doc["metadata"]["name"]: doc.get("data", {}) for doc in docs if doc["kind"] == "ConfigMap"}
    workloads = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] in {"Deployment", "Job"}}
    pod = workloads[f"aiwfe-{component}"]["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == component)
    found: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        for key, value in configs[source["configMapRef"]["name"]].items():
            found[key] = {"value": value}
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found[item["name"]] = {"secret": ref["key"], "optional": ref.get("optional", False)}
        else:
            found[item["name"]] = {"value": item.get("value", "")}
    return found


@pytest.mark.parametrize("values", CHART_VALUE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("component", APP_CONTAINERS)
def test_chart_wires_every_operator_setting(helm: Path, values: Path, component: str) -> None:
    env = chart_app_env(_render(helm, values), component)
    for name in sorted(operator_fields() - PROCESS_LAYOUT):
        key = env_name(name)
        if name in SECRETS_NOT_OFFERED["chart"]:
            continue
        assert key in env, f"the chart gives {component} no {key} ({values.name})"
        if name in secret_fields():
            assert "secret" in env[key] or "$(" in env[key]["value"], (
                f"{key} is not from the Secret: {env[key]}"
            )
        elif _default(name) is not None:
            # Optional settings (default None) may stay empty; the others need a value.
            assert env[key].get("value"), f"{component}: {key} is empty ({values.name})"


def test_chart_defaults_and_compose_defaults_agree(
    helm: Path, compose_services: dict[str, dict[str, Any]]
) -> None:
    """An operator choice left at its default behaves the same on compose and Kubernetes."""
    chart = chart_app_env(_render(helm, CHART / "ci" / "default-values.yaml"), "api")
    compose = environment(compose_services["api"])
    per_install = {"otlp_endpoint", "smtp_username"}  # no sensible default: each install names its own
    assert chart["AIWFE_ENV"]["value"] == compose["AIWFE_ENV"] == "production"
    for name in sorted(set(OPERATOR_CHOICES) - per_install - {"env"}):
        key = env_name(name)
        chart_value = _plain(getattr(settings_from({key: chart[key]["value"]}), name))
        compose_value = _plain(getattr(settings_from({key: compose[key]}), name))
        assert chart_value == compose_value, f"{key}: chart {chart_value!r}, compose {compose_value!r}"


@pytest.mark.parametrize("values", CHART_VALUE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chart_keeps_tunable_defaults(helm: Path, values: Path) -> None:
    env = chart_app_env(_render(helm, values), "api")
    plain = {key: item["value"] for key, item in env.items() if "value" in item and "$(" not in item["value"]}
    assert_tunables_keep_the_model_defaults(f"the chart ({values.name})", plain)


# ---- docs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["deploy-kubernetes.md", "deploy-compose.md"])
def test_deploy_docs_list_every_operator_setting(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    missing = sorted(
        env_name(name)
        for name in operator_fields() - PROCESS_LAYOUT
        if env_name(name) not in text
        and not (page == "deploy-compose.md" and name in SECRETS_NOT_OFFERED["compose"])
    )
    assert not missing, f"docs/{page} does not list {missing}"
