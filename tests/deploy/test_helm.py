"""The Helm chart (k8s/charts/aiwfe): lint, render every scenario and environment, validate the output
with kubeconform (Kubernetes and CRD schemas, offline) and kube-score, and assert the deployment
requirements on the rendered manifests."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s/charts/aiwfe"
K8S = ROOT / "k8s"
SCENARIOS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
ENVIRONMENTS = sorted(p.name for p in (K8S / "environments").glob("*.yaml"))
# Every value file the chart is rendered with, by a short id.
VALUE_FILES = {f"ci/{n}": CHART / "ci" / n for n in SCENARIOS} | {
    f"env/{n}": K8S / "environments" / n for n in ENVIRONMENTS
}
# The chart's minimum (Chart.yaml kubeVersion) and the newest release the schemas cover.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
RELEASE = "aiwfe"
NAMESPACE = "aiwfe-test"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}

# kube-score checks switched off, each for a reason: no unexplained exceptions.
KUBE_SCORE_IGNORED = {
    "container-image-pull-policy": "images are pinned by digest or release tag; Always would make every "
    "pod start, and so every failover, depend on the registry",
    "deployment-has-host-podantiaffinity": "replicas are spread over nodes and zones with "
    "topologySpreadConstraints instead (test_replicas_spread_over_nodes_and_zones)",
}
KUBE_SCORE_IGNORED_PER_FILE = {
    "ci/minimal-values.yaml": {
        "pod-networkpolicy": "the minimal scenario turns NetworkPolicies off on purpose",
        "deployment-replicas": "the minimal scenario runs one replica of each process on purpose",
    },
}

pytestmark = pytest.mark.timeout(1800)  # the first run builds helm, kubeconform and kube-score


# --- tools and rendering ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tools(go_tools: Path) -> dict[str, Path]:
    """helm, kubeconform and kube-score from scripts/tools/go-tools.sh (built once, then cached)."""
    found = {name: go_tools / name for name in ("helm", "kubeconform", "kube-score")}
    missing = [name for name, path in found.items() if not path.is_file()]
    assert not missing, f"{missing} missing from {go_tools}"
    return found


@pytest.fixture(scope="session")
def schema_locations() -> list[str]:
    """kubeconform -schema-location templates: Kubernetes (PyPI) and CRDs (Go modules), offline."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/tools/k8s-schemas.py"), *KUBE_VERSIONS],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"k8s-schemas.py failed:\n{done.stderr[-4000:]}"
    locations = json.loads(done.stdout.strip().splitlines()[-1])
    return [locations["kubernetes"], locations["crds"]]


def run_helm(tools: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools["helm"]), *args], capture_output=True, text=True, timeout=120)


Render = Callable[..., str]


@pytest.fixture(scope="session")
def render(tools: dict[str, Path]) -> Render:
    """`helm template` of the chart with one value file and --set pairs; cached per arguments."""

    @cache
    def _render(file_id: str = "ci/default-values.yaml", *sets: str, kube: str = KUBE_VERSIONS[0]) -> str:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube]
        args += ["-f", str(VALUE_FILES[file_id])]
        for pair in sets:
            args += ["--set", pair]
        done = run_helm(tools, *args)
        assert done.returncode == 0, f"helm template {file_id} {sets} failed:\n{done.stderr}"
        return done.stdout

    return _render


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert name in found, f"no {kind} {name}; rendered: {sorted(found)}"
    return found[name]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every pod the manifests would create."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def name_of(component: str) -> str:
    return f"{RELEASE}-{component}"


# --- tools ----------------------------------------------------------------------------------------


def test_tool_installer_second_run_builds_nothing(tools: dict[str, Path]) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/tools/go-tools.sh")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "building" not in done.stderr, f"the cached tools were rebuilt:\n{done.stderr}"
    assert Path(done.stdout.strip()) == tools["helm"].parent


@pytest.mark.skipif(not Path("/usr/local/go/bin/go").is_file(), reason="Go is not installed in /usr/local/go")
def test_tool_installer_finds_go_in_usr_local_without_it_on_path(tools: dict[str, Path]) -> None:
    # A normal user's login PATH lacks /usr/local/go/bin when only root's profile adds it.
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/tools/go-tools.sh")],
        env={k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "building" not in done.stderr, f"the cached tools were rebuilt:\n{done.stderr}"
    assert Path(done.stdout.strip()) == tools["helm"].parent


@pytest.mark.skipif(not Path("/usr/local/go/bin/go").is_file(), reason="Go is not installed in /usr/local/go")
def test_schema_fetcher_finds_go_in_usr_local_without_it_on_path(
    schema_locations: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # schema_locations leaves the CRD modules in Go's module cache: the download below reads only that.
    spec = importlib.util.spec_from_file_location("k8s_schemas", ROOT / "scripts/tools/k8s-schemas.py")
    assert spec is not None
    assert spec.loader is not None
    k8s_schemas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(k8s_schemas)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    module, version, _ = k8s_schemas.CRD_MODULES[0]
    folder = k8s_schemas.go_module_dir(module, version)
    assert (folder / "go.mod").is_file()


# --- lint and schema validation -------------------------------------------------------------------


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_helm_lint_strict_passes(tools: dict[str, Path], file_id: str) -> None:
    done = run_helm(tools, "lint", "--strict", str(CHART), "-f", str(VALUE_FILES[file_id]))
    assert done.returncode == 0, done.stdout + done.stderr


def kubeconform(
    tools: dict[str, Path], locations: list[str], kube: str, paths: list[str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = [str(tools["kubeconform"]), "-strict", "-summary", "-output", "text", "-kubernetes-version", kube]
    for location in locations:
        args += ["-schema-location", location]
    return subprocess.run([*args, *paths], input=stdin, capture_output=True, text=True, timeout=300)


def assert_all_valid(done: subprocess.CompletedProcess[str]) -> None:
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Invalid: 0, Errors: 0, Skipped: 0$", summary), done.stdout


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_rendered_manifests_match_the_kubernetes_and_crd_schemas(
    tools: dict[str, Path], schema_locations: list[str], render: Render, file_id: str, kube: str
) -> None:
    done = kubeconform(tools, schema_locations, kube, ["-"], stdin=render(file_id, kube=kube))
    assert_all_valid(done)


def test_kubeconform_refuses_unknown_fields_in_core_and_custom_resources(
    tools: dict[str, Path], schema_locations: list[str], render: Render
) -> None:
    docs = documents(render("ci/prod-like-values.yaml"))
    one(docs, "Deployment", name_of("api"))["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    one(docs, "ScaledObject", name_of("worker"))["spec"]["maxReplicas"] = 10  # it is maxReplicaCount
    done = kubeconform(tools, schema_locations, KUBE_VERSIONS[0], ["-"], stdin=yaml.safe_dump_all(docs))
    assert done.returncode != 0
    assert "'bogus' not allowed" in done.stdout
    assert "'maxReplicas' not allowed" in done.stdout


def test_argocd_applications_and_namespaces_match_their_schemas(
    tools: dict[str, Path], schema_locations: list[str]
) -> None:
    done = kubeconform(
        tools, schema_locations, KUBE_VERSIONS[0], [str(K8S / "argocd"), str(K8S / "namespaces")]
    )
    assert_all_valid(done)
    assert "Valid: 0," not in done.stdout


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_kube_score_finds_nothing_unexplained(tools: dict[str, Path], render: Render, file_id: str) -> None:
    ignored = KUBE_SCORE_IGNORED | KUBE_SCORE_IGNORED_PER_FILE.get(file_id, {})
    done = subprocess.run(
        [
            str(tools["kube-score"]),
            "score",
            "--kubernetes-version",
            "v" + KUBE_VERSIONS[0].rsplit(".", 1)[0],
            "--output-format",
            "ci",
            "--ignore-test",
            ",".join(sorted(ignored)),
            "-",
        ],
        input=render(file_id),
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = [line for line in done.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))]
    assert not findings, "\n".join(findings)
    assert "[OK]" in done.stdout, done.stdout + done.stderr


# checkov checks switched off, each for a reason.
CHECKOV_SKIPPED = {
    "CKV_K8S_15": KUBE_SCORE_IGNORED["container-image-pull-policy"],
    "CKV_K8S_21": "helm template leaves metadata.namespace out; Helm and Argo CD set the release namespace",
    "CKV_K8S_35": "aiwfe reads its settings, secrets included, from AIWFE_* environment variables "
    "(pydantic-settings), as in compose; the values come from secretKeyRef, never from the manifest",
    "CKV_K8S_43": "digests are supported (image.digest) and set at release time; scenarios may use tags",
    "CKV_K8S_8": "beat has no port or health command (its heartbeat is checked by /ready and alerted on); "
    "the helm test pod is a one-shot check",
    "CKV_K8S_9": "as CKV_K8S_8: beat serves nothing, the helm test pod is a one-shot check",
}


def test_checkov_finds_nothing_unexplained(render: Render, tmp_path: Path) -> None:
    checkov = Path(sys.executable).parent / "checkov"
    assert checkov.exists(), "checkov is in the scan dependency group (uv sync installs it)"
    # One file per object: checkov's Kubernetes parser drops a whole multi-document file it trips on.
    for file_id in VALUE_FILES:
        folder = tmp_path / file_id.replace("/", "_")
        folder.mkdir()
        for index, doc in enumerate(documents(render(file_id))):
            (folder / f"{index:03d}-{doc['kind']}.yaml").write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--skip-check",
            ",".join(sorted(CHECKOV_SKIPPED)),
            "--skip-download",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    assert summary["resource_count"] > 0, done.stdout[:2000] + done.stderr[-2000:]
    assert summary["parsing_errors"] == 0
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)


# --- values schema and cross-field checks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("api.replicas=-1", "/api/replicas"),
        ("image.tag=latest", "/image/tag"),
        ("api.unknownKey=1", "additional properties 'unknownKey' not allowed"),
        ("worker.terminationGracePeriodSeconds=60", "/worker/terminationGracePeriodSeconds"),
        ("ingress.className=haproxy", "/ingress/className"),
        ("podSecurityContext.runAsNonRoot=false", "/podSecurityContext/runAsNonRoot"),
        ("containerSecurityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation"),
        ("secrets.source=plaintext", "/secrets/source"),
        ("postgresql.cloudnativepg.backup.retentionPolicy=forever", "retentionPolicy"),
        ("config.forwardedAllowIps=*", "/config/forwardedAllowIps"),
    ],
)
def test_values_schema_refuses_bad_values(tools: dict[str, Path], setting: str, message: str) -> None:
    done = run_helm(tools, "template", RELEASE, str(CHART), "--set", setting)
    assert done.returncode != 0, f"--set {setting} was accepted"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert message in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["secrets.source=existingSecret"], "secrets.existingSecret"),
        (["postgresql.mode=external"], "secrets.source=generated cannot know an external database"),
        (["worker.autoscaling.minReplicas=11"], "must not exceed worker.autoscaling.maxReplicas"),
        (["postgresql.cloudnativepg.backup.enabled=true"], "backup.objectStore.destinationPath"),
        (["api.terminationGracePeriodSeconds=15"], "must cover api.preStopSleepSeconds"),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(
    tools: dict[str, Path], settings: list[str], message: str
) -> None:
    args = ["template", RELEASE, str(CHART)]
    for setting in settings:
        args += ["--set", setting]
    done = run_helm(tools, *args)
    assert done.returncode != 0, f"{settings} was accepted"
    assert message in done.stderr, done.stderr


# --- pods: security, resources, images -------------------------------------------------------------


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_every_pod_runs_restricted(render: Render, file_id: str) -> None:
    specs = dict(pod_specs(documents(render(file_id))))
    assert specs
    for where, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] >= 10000, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork"), where
        assert not spec.get("hostPID"), where
        for container in containers(spec):
            ctx = container["securityContext"]
            at = f"{where} container {container['name']}"
            assert ctx["allowPrivilegeEscalation"] is False, at
            assert ctx["readOnlyRootFilesystem"] is True, at
            assert ctx["privileged"] is False, at
            assert ctx["capabilities"]["drop"] == ["ALL"], at
            assert "add" not in ctx["capabilities"], at
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault", at


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_every_container_has_requests_and_limits(render: Render, file_id: str) -> None:
    for where, spec in pod_specs(documents(render(file_id))):
        for container in containers(spec):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory", "ephemeral-storage"):
                    assert resource in resources.get(bound, {}), f"{where}: no {bound}.{resource}"


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_images_are_pinned_never_latest(render: Render, file_id: str) -> None:
    for where, spec in pod_specs(documents(render(file_id))):
        for container in containers(spec):
            image = container["image"]
            assert re.fullmatch(r"[^:@\s]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})", image), f"{where}: {image}"
            assert not image.endswith(":latest"), f"{where}: {image}"


def test_images_are_referenced_by_digest_when_one_is_given(render: Render) -> None:
    docs = documents(render("ci/prod-like-values.yaml"))
    api = one(docs, "Deployment", name_of("api"))["spec"]["template"]["spec"]["containers"][0]
    webui = one(docs, "Deployment", name_of("webui"))["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == "ghcr.io/aiwfe/aiwfe@sha256:" + "0" * 63 + "1"
    assert webui["image"].startswith("ghcr.io/aiwfe/aiwfe-webui@sha256:")


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_app_pods_write_only_to_an_emptydir_tmp(render: Render, file_id: str) -> None:
    for where, spec in pod_specs(documents(render(file_id))):
        if where.startswith("Pod/"):
            continue  # the helm test pod writes nothing
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], where
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") == "tmp", where


# --- api --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_api_probes_liveness_on_health_and_readiness_on_ready(render: Render, file_id: str) -> None:
    api = one(documents(render(file_id)), "Deployment", name_of("api"))
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["api"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 30, "a pod must be up within 30 s"


def test_prod_runs_three_api_replicas_with_the_briefs_resources(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    api = one(docs, "Deployment", name_of("api"))
    hpa = by_kind(docs, "HorizontalPodAutoscaler").get(name_of("api"))
    if hpa is None:
        assert api["spec"]["replicas"] == 3
    else:
        assert hpa["spec"]["minReplicas"] == 3
        assert "replicas" not in api["spec"], "the HPA owns the replica count"
    resources = api["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "100m"
    assert resources["requests"]["memory"] == "256Mi"
    assert resources["limits"]["cpu"] == "500m"
    assert resources["limits"]["memory"] == "1Gi"


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_rollouts_never_drop_below_wanted_capacity(render: Render, file_id: str) -> None:
    deployments = by_kind(documents(render(file_id)), "Deployment")
    for component in ("api", "worker", "webui"):
        deployment = deployments.get(name_of(component))
        if deployment is None:
            continue
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", component
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, component


def test_api_drains_before_it_stops(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    spec = one(docs, "Deployment", name_of("api"))["spec"]["template"]["spec"]
    config = one(docs, "ConfigMap", name_of("config"))["data"]
    sleep = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep > 0
    assert spec["terminationGracePeriodSeconds"] >= sleep + int(config["AIWFE_GRACEFUL_SHUTDOWN_SECONDS"])


def test_replicas_spread_over_nodes_and_zones(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    for component in ("api", "worker", "webui"):
        spec = one(docs, "Deployment", name_of(component))["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, component


@pytest.mark.parametrize("file_id", ["ci/default-values.yaml", "env/staging.yaml", "env/prod.yaml"])
def test_pdbs_cover_api_worker_and_webui(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for component in ("api", "worker", "webui"):
        pdb = pdbs[name_of(component)]
        labels = one(docs, "Deployment", name_of(component))["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), component
        assert pdb["spec"]["maxUnavailable"] == 1, component


def test_pods_roll_when_their_configuration_changes(render: Render) -> None:
    def checksum(text: str) -> str:
        api = one(documents(text), "Deployment", name_of("api"))
        return str(api["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    default = checksum(render("ci/default-values.yaml"))
    assert checksum(render("ci/default-values.yaml", "config.logLevel=DEBUG")) != default
    assert checksum(render("ci/default-values.yaml", "api.replicas=4")) == default


# --- worker, beat, migrations ---------------------------------------------------------------------


@pytest.mark.parametrize("file_id", ["ci/prod-like-values.yaml", "env/prod.yaml"])
def test_keda_scales_workers_2_to_10_on_the_celery_queue(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    scaled = one(docs, "ScaledObject", name_of("worker"))["spec"]
    assert scaled["scaleTargetRef"]["name"] == name_of("worker")
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 10)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "celery"
    assert trigger["metadata"]["address"] == f"{name_of('redis-primary')}.{NAMESPACE}.svc:6379"
    auth = one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"][0]["parameter"] == "password"
    assert name_of("worker") not in by_kind(docs, "HorizontalPodAutoscaler"), "KEDA makes its own HPA"
    assert "replicas" not in one(docs, "Deployment", name_of("worker"))["spec"]


def test_celery_queue_name_is_the_apps_default_queue() -> None:
    from aiwfe.worker.app import DEFAULT_QUEUE

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["worker"]["autoscaling"]["keda"]["listName"] == DEFAULT_QUEUE


def test_without_keda_an_hpa_scales_workers_on_cpu_and_memory(render: Render) -> None:
    docs = documents(render("ci/hpa-without-keda-values.yaml"))
    assert not by_kind(docs, "ScaledObject")
    hpa = one(docs, "HorizontalPodAutoscaler", name_of("worker"))["spec"]
    assert hpa["scaleTargetRef"]["name"] == name_of("worker")
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_worker_grace_period_outlasts_the_longest_task(render: Render, file_id: str) -> None:
    from aiwfe.core.settings import Settings
    from aiwfe.worker.app import create_celery

    time_limit = create_celery(Settings()).conf.task_time_limit
    worker = one(documents(render(file_id)), "Deployment", name_of("worker"))
    spec = worker["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= time_limit
    container = spec["containers"][0]
    assert container["args"] == ["worker"]
    assert container["livenessProbe"]["exec"]["command"][:2] == ["aiwfe", "worker-health"]


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_beat_runs_exactly_once(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    beat = one(docs, "Deployment", name_of("beat"))
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["args"] == ["beat"]
    scalers = [*by_kind(docs, "HorizontalPodAutoscaler").values(), *by_kind(docs, "ScaledObject").values()]
    assert all(s["spec"]["scaleTargetRef"]["name"] != name_of("beat") for s in scalers)


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_migrations_run_as_a_hook_job_before_upgrades(render: Render, file_id: str) -> None:
    job = one(documents(render(file_id)), "Job", name_of("migrate"))
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "pre-upgrade"}
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"] == ["migrate"]
    assert spec["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_argocd_runs_migrations_between_the_data_plane_and_the_workloads(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))

    def wave(kind: str, name: str) -> int:
        return int(one(docs, kind, name)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])

    migrate = wave("Job", name_of("migrate"))
    assert wave("Cluster", name_of("pg")) < migrate
    assert wave("ExternalSecret", name_of("secrets")) < migrate
    assert wave("Deployment", name_of("api")) > migrate


def test_helm_test_pod_calls_ready(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    pod = one(docs, "Pod", name_of("test-ready"))
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][0]
    assert f"http://{name_of('api')}:8001/ready" in script


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_id", [f"env/{n}" for n in ENVIRONMENTS])
def test_environments_take_secrets_from_vault(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    assert not by_kind(docs, "Secret"), "no Secret is rendered from values in a real environment"
    external = one(docs, "ExternalSecret", name_of("secrets"))["spec"]
    assert external["secretStoreRef"]["name"] == "vault"
    assert external["target"]["name"] == name_of("secrets")


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_secret_settings_come_from_secret_refs_only(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    for config in by_kind(docs, "ConfigMap").values():
        for key in config.get("data", {}):
            assert key not in {"AIWFE_SECRET_KEY", "AIWFE_DATABASE_URL", "AIWFE_REDIS_URL"}, key
    for where, spec in pod_specs(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                if env["name"] in {"AIWFE_SECRET_KEY", "REDIS_PASSWORD", "DB_PASSWORD"}:
                    assert "secretKeyRef" in env["valueFrom"], f"{where}: {env['name']}"
                # A URL composed in the manifest carries credentials only as $(VAR) references.
                credentials = re.search(r"://([^@/]*)@", env.get("value", ""))
                if credentials:
                    assert re.fullmatch(r"(\$\(\w+\))?(:\$\(\w+\))?", credentials[1]), f"{where}: {env}"


# --- data plane -----------------------------------------------------------------------------------


def test_redis_persistence_comes_from_the_shared_file(render: Render) -> None:
    """Snapshots and AOF as on compose and the local stack: compose/redis/persistence.conf, not a copy."""
    shared = (ROOT / "compose/redis/persistence.conf").read_text()
    expected = [line for line in shared.splitlines() if line and not line.startswith("#")]
    conf = one(documents(render("env/prod.yaml")), "ConfigMap", name_of("redis"))["data"]["redis.conf"]
    directives = [
        line.strip() for line in conf.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    for key in ("appendonly", "appendfsync", "save"):
        assert [d for d in directives if d.startswith(f"{key} ")] == [
            e for e in expected if e.startswith(f"{key} ")
        ]
    assert (CHART / "files/redis-persistence.conf").resolve() == (ROOT / "compose/redis/persistence.conf")


def test_prod_postgresql_has_three_instances_wal_archiving_and_30_day_backups(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    cluster = one(docs, "Cluster", name_of("pg"))["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["parameters"]["archive_timeout"] == "60s"
    (plugin,) = cluster["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io"
    assert plugin["isWALArchiver"] is True
    store = one(docs, "ObjectStore", plugin["parameters"]["barmanObjectName"])["spec"]
    assert store["retentionPolicy"] == "30d"
    backup = one(docs, "ScheduledBackup", name_of("pg-daily"))["spec"]
    assert backup["method"] == "plugin"
    assert backup["cluster"]["name"] == name_of("pg")
    assert len(backup["schedule"].split()) == 6


def test_point_in_time_recovery_bootstraps_from_the_object_store(render: Render) -> None:
    text = render(
        "env/prod.yaml",
        "postgresql.cloudnativepg.recovery.enabled=true",
        "postgresql.cloudnativepg.recovery.sourceServerName=aiwfe-pg",
        "postgresql.cloudnativepg.recovery.targetTime=2026-01-15T10:30:00Z",
        "postgresql.cloudnativepg.backup.serverName=aiwfe-pg-r1",
    )
    cluster = one(documents(text), "Cluster", name_of("pg"))["spec"]
    recovery = cluster["bootstrap"]["recovery"]
    assert recovery["recoveryTarget"]["targetTime"] == "2026-01-15T10:30:00Z"
    (origin,) = cluster["externalClusters"]
    assert origin["name"] == recovery["source"]
    assert origin["plugin"]["parameters"]["serverName"] == "aiwfe-pg"
    assert cluster["plugins"][0]["parameters"]["serverName"] == "aiwfe-pg-r1"


def test_redis_is_a_persistent_primary_with_a_replica(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    config = one(docs, "ConfigMap", name_of("redis"))["data"]["redis.conf"]
    assert "appendonly yes" in config
    assert re.search(r"^save \d+ \d+", config, re.M)
    assert "maxmemory-policy noeviction" in config
    primary = one(docs, "StatefulSet", name_of("redis-primary"))["spec"]
    replica = one(docs, "StatefulSet", name_of("redis-replica"))["spec"]
    assert primary["replicas"] == 1
    assert replica["replicas"] >= 1
    assert "--replicaof" in replica["template"]["spec"]["containers"][0]["args"][0]
    for spec in (primary, replica):
        assert spec["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]


# --- network ----------------------------------------------------------------------------------------


def test_network_is_default_deny_with_explicit_allows(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies[name_of("default-deny")]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    api = policies[name_of("api")]["spec"]
    sources = api["ingress"][0]["from"]
    namespaces = {s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in sources[:-1]}
    assert namespaces == {"ingress-nginx", "aiwfe-monitoring"}
    assert sources[-1]["podSelector"]["matchExpressions"][0]["values"] == ["test"]
    assert not policies[name_of("beat")]["spec"].get("ingress"), "nothing may connect to beat"

    postgres = policies[name_of("pg")]["spec"]
    assert postgres["podSelector"] == {"matchLabels": {"cnpg.io/cluster": name_of("pg")}}
    clients = postgres["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert set(clients) == {"api", "worker", "beat", "migrate"}

    redis = policies[name_of("redis")]["spec"]
    keda = redis["ingress"][0]["from"][-1]["namespaceSelector"]["matchLabels"]
    assert keda == {"kubernetes.io/metadata.name": "keda"}, "KEDA's scaler reads the queue length"


@pytest.mark.parametrize("file_id", [f for f in sorted(VALUE_FILES) if f != "ci/minimal-values.yaml"])
def test_every_chart_pod_is_selected_by_a_network_policy(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    selectors = [p["spec"]["podSelector"] for p in by_kind(docs, "NetworkPolicy").values()]
    specific = [s for s in selectors if s]
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert any(s.get("matchLabels", {}).items() <= labels.items() for s in specific), doc["metadata"]


def test_ingress_routes_api_and_webui_with_cert_manager_tls(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    ingress = one(docs, "Ingress", RELEASE)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == ["aiwfe.example.com"]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in paths}
    assert routes == {
        "/api": name_of("api"),
        "/health": name_of("api"),
        "/ready": name_of("api"),
        "/dav": name_of("api"),
        "/.well-known/caldav": name_of("api"),
        "/": name_of("webui"),
    }
    assert "/metrics" not in routes


def test_the_ingress_sends_the_api_what_caddy_sends_it(render: Render) -> None:
    """Compose and the local stack route by the Caddyfile's ``@api`` matcher; a path it gives the API (CalDAV
    included) that the Ingress gave the web UI would work on one box and 404 on Kubernetes."""
    matcher = re.search(r"^\s*@api path (.+)$", (ROOT / "caddy" / "Caddyfile").read_text(), re.MULTILINE)
    assert matcher is not None
    caddy = matcher.group(1).split()
    for values in ("env/prod.yaml", "ci/external-secrets-vault-values.yaml"):  # nginx, Traefik
        ingress = one(documents(render(values)), "Ingress", RELEASE)
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        routes = {p["path"]: (p["pathType"], p["backend"]["service"]["name"]) for p in paths}
        for path in caddy:
            if path.endswith("/*"):
                assert routes.get(path.removesuffix("/*")) == ("Prefix", name_of("api")), (values, path)
            else:
                assert routes.get(path, ("", ""))[1] == name_of("api"), (values, path)


def _api_paths() -> tuple[str, str]:
    """A real ICS import path and a real live job stream path, from the API's own routers."""
    from aiwfe.api.app import API_PREFIX
    from aiwfe.calendar.routes import calendars
    from aiwfe.jobs.routes import jobs

    some_id = "0b6f4c5e-6d1a-4f7e-9a51-6a1f3f0a9e11"
    imports = [path for route in calendars.routes if (path := getattr(route, "path", "")).endswith("/import")]
    assert imports == ["/calendars/{calendar_id}/import"]
    streams = [path for route in jobs.routes if (path := getattr(route, "path", "")).endswith("/events")]
    assert streams == ["/jobs/{job_id}/events"]
    return (
        API_PREFIX + imports[0].replace("{calendar_id}", some_id),
        API_PREFIX + streams[0].replace("{job_id}", some_id),
    )


def _with_headroom(limit: int, percent: int = 25) -> int:
    return limit * (100 + percent) // 100


# Paths near the ICS import route that must keep the API's ordinary limit.
NOT_IMPORTS = ("/api/v1/calendars", "/api/v1/calendars/1/events", "/api/v1/calendars/1/import/x",
               "/api/v1/calendars/1/imports/2", "/api/v1/calendars/a/b/import")  # fmt: skip


def test_nginx_ingress_limits_request_bodies_just_above_the_api(render: Render) -> None:
    """The Ingress refuses (413, nginx's own page) a body far over the API's limit before a pod reads it, and
    lets one a little over it through, so the API answers it with its 413 problem: the API's limit plus
    ingress.bodyLimitHeadroomPercent on every path, the larger ICS import limit only on the import route; both
    follow the chart values that set the API's settings, and the defaults are the settings model's."""
    from aiwfe.core.settings import Settings

    fields = Settings.model_fields
    default_max = fields["api_max_body_bytes"].default
    default_import = fields["calendar_import_max_bytes"].default
    upload, _stream = _api_paths()

    for sets, body, upload_body, percent in [
        ((), default_max, default_import, 25),
        (("config.maxBodyBytes=2097152", "config.importMaxBodyBytes=52428800"), 2097152, 52428800, 25),
        (("ingress.bodyLimitHeadroomPercent=0",), default_max, default_import, 0),
    ]:
        docs = documents(render("env/prod.yaml", *sets))
        env = one(docs, "ConfigMap", f"{RELEASE}-config")["data"]
        assert (env["AIWFE_API_MAX_BODY_BYTES"], env["AIWFE_CALENDAR_IMPORT_MAX_BYTES"]) == (
            str(body), str(upload_body),
        )  # fmt: skip
        main = one(docs, "Ingress", RELEASE)["metadata"]["annotations"]
        assert main["nginx.ingress.kubernetes.io/proxy-body-size"] == str(_with_headroom(body, percent))
        large = one(docs, "Ingress", f"{RELEASE}-import")
        annotations = large["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == str(
            _with_headroom(upload_body, percent)
        )
        assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
        (path,) = large["spec"]["rules"][0]["http"]["paths"]
        assert path["backend"]["service"]["name"] == name_of("api")
        assert large["spec"]["rules"][0]["host"] == "aiwfe.example.com"
        assert large["spec"]["tls"] == one(docs, "Ingress", RELEASE)["spec"]["tls"]
        # ingress-nginx anchors the regex at the start of the path (location ~* "^<path>").
        pattern = re.compile("^" + path["path"], re.IGNORECASE)
        assert pattern.match(upload)
        for other in NOT_IMPORTS:
            assert not pattern.match(other), other
        assert not by_kind(docs, "Middleware"), "Traefik objects rendered for nginx"


def _middlewares(ingress: dict[str, Any]) -> list[str]:
    """The names of the Middlewares (of the release's namespace) an Ingress's Traefik router runs."""
    refs = ingress["metadata"]["annotations"].get("traefik.ingress.kubernetes.io/router.middlewares", "")
    names = []
    for ref in filter(None, (part.strip() for part in refs.split(","))):
        assert ref.startswith(f"{NAMESPACE}-"), ref
        assert ref.endswith("@kubernetescrd"), ref
        names.append(ref.removeprefix(f"{NAMESPACE}-").removesuffix("@kubernetescrd"))
    return names


def test_traefik_ingress_limits_request_bodies_as_nginx_does(render: Render) -> None:
    """With Traefik, buffering Middlewares refuse the bodies nginx would (same limits and headroom): the
    ordinary limit on every route, the import limit on the ICS import route only, and none on the live job
    streams, whose events Traefik's response buffering would hold until the stream ends."""
    upload, stream = _api_paths()
    for sets in [(), ("config.maxBodyBytes=2097152", "config.importMaxBodyBytes=52428800")]:
        nginx = documents(render("env/prod.yaml", *sets))
        docs = documents(render("ci/external-secrets-vault-values.yaml", *sets))
        limits = {
            name: doc["spec"]["buffering"]["maxRequestBodyBytes"]
            for name, doc in by_kind(docs, "Middleware").items()
        }
        assert all(doc["apiVersion"] == "traefik.io/v1alpha1" for doc in by_kind(docs, "Middleware").values())
        nginx_limit = {
            name: int(doc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"])
            for name, doc in by_kind(nginx, "Ingress").items()
        }
        ingresses = by_kind(docs, "Ingress")
        assert set(ingresses) == {RELEASE, f"{RELEASE}-import", f"{RELEASE}-events"}
        routers = {name: _middlewares(doc) for name, doc in ingresses.items()}
        assert [limits[m] for m in routers[RELEASE]] == [nginx_limit[RELEASE]]
        assert [limits[m] for m in routers[f"{RELEASE}-import"]] == [nginx_limit[f"{RELEASE}-import"]]
        assert routers[f"{RELEASE}-events"] == []
        for name, want, others in [
            (f"{RELEASE}-import", upload, (*NOT_IMPORTS, stream)),
            (f"{RELEASE}-events", stream, ("/api/v1/jobs/1", "/api/v1/jobs/1/events/x", upload)),
        ]:
            ingress = ingresses[name]
            annotations = ingress["metadata"]["annotations"]
            assert annotations["traefik.ingress.kubernetes.io/router.pathmatcher"] == "PathRegexp"
            assert annotations["traefik.ingress.kubernetes.io/router.tls"] == "true"
            assert ingress["spec"]["tls"] == ingresses[RELEASE]["spec"]["tls"]
            (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
            assert path["pathType"] == "ImplementationSpecific"  # the only type pathmatcher applies to
            assert path["backend"]["service"]["name"] == name_of("api")
            # Traefik's PathRegexp is Go's regexp, unanchored: the chart anchors both ends itself.
            assert path["path"].startswith("^")
            assert path["path"].endswith("$")
            pattern = re.compile(path["path"])
            assert pattern.search(want)
            for other in others:
                assert not pattern.search(other), other


def test_traefik_ingress_uses_its_own_annotations(render: Render) -> None:
    for ingress in by_kind(documents(render("ci/external-secrets-vault-values.yaml")), "Ingress").values():
        assert ingress["spec"]["ingressClassName"] == "traefik"
        annotations = ingress["metadata"]["annotations"]
        assert annotations["traefik.ingress.kubernetes.io/router.tls"] == "true"
        assert not any(key.startswith("nginx.") for key in annotations)


def test_istio_enforces_mtls_and_ejects_failing_api_replicas(render: Render) -> None:
    docs = documents(render("ci/external-secrets-vault-values.yaml"))
    assert one(docs, "PeerAuthentication", RELEASE)["spec"]["mtls"]["mode"] == "STRICT"
    rule = one(docs, "DestinationRule", name_of("api"))["spec"]["trafficPolicy"]
    assert rule["outlierDetection"]["consecutive5xxErrors"] > 0


@pytest.mark.parametrize(
    "sets",
    [(), ("istio.enabled=true",), ("istio.enabled=true", "worker.autoscaling.keda.enabled=true")],
    ids=["vault-external", "prod", "prod-keda"],
)
def test_strict_mtls_lets_in_every_client_from_outside_the_mesh(
    render: Render, sets: tuple[str, ...]
) -> None:
    """Every port a NetworkPolicy opens to another namespace (ingress controller, Prometheus, KEDA, the
    CloudNativePG operator: none of them has a mesh certificate) must be PERMISSIVE for those pods."""
    file_id = "ci/external-secrets-vault-values.yaml" if not sets else "env/prod.yaml"
    docs = documents(render(file_id, *sets))
    permissive = {
        (tuple(sorted(pa["spec"]["selector"]["matchLabels"].items())), int(port))
        for pa in by_kind(docs, "PeerAuthentication").values()
        for port, mode in pa["spec"].get("portLevelMtls", {}).items()
        if mode["mode"] == "PERMISSIVE"
    }

    def named_port(selector: tuple[tuple[str, str], ...], name: str) -> int:
        for doc in docs:
            if doc["kind"] in WORKLOAD_KINDS and set(selector) <= set(
                doc["spec"]["template"]["metadata"]["labels"].items()
            ):
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    for port in container.get("ports", []):
                        if port["name"] == name:
                            return int(port["containerPort"])
        raise AssertionError(f"no pod selected by {selector} has a port named {name}")

    needed = set()
    for policy in by_kind(docs, "NetworkPolicy").values():
        selector = tuple(sorted(policy["spec"]["podSelector"].get("matchLabels", {}).items()))
        for rule in policy["spec"].get("ingress", []):
            if any("namespaceSelector" in peer for peer in rule.get("from", [])):
                for port in rule.get("ports", []):
                    number = (
                        port["port"] if isinstance(port["port"], int) else named_port(selector, port["port"])
                    )
                    needed.add((selector, number))
    assert needed, "no NetworkPolicy admits a client from another namespace"
    assert sorted(needed - permissive) == []
    assert one(docs, "PeerAuthentication", RELEASE)["spec"]["mtls"]["mode"] == "STRICT"


@pytest.mark.parametrize("file_id", sorted(VALUE_FILES))
def test_service_accounts_have_no_token_and_no_roles(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    accounts = by_kind(docs, "ServiceAccount")
    assert all(account["automountServiceAccountToken"] is False for account in accounts.values())
    assert not [d for d in docs if d["kind"] in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}]
    for where, spec in pod_specs(docs):
        if not where.startswith("Pod/"):
            assert spec["serviceAccountName"] in accounts, where


# --- monitoring -----------------------------------------------------------------------------------


def test_prometheus_rule_carries_every_monitoring_rule_group(render: Render) -> None:
    rule_files = sorted((ROOT / "monitoring/prometheus/rules").glob("*.yml"))
    assert rule_files
    expected = [g["name"] for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]]
    rule = one(documents(render("env/prod.yaml")), "PrometheusRule", RELEASE)
    assert [g["name"] for g in rule["spec"]["groups"]] == expected


@pytest.mark.parametrize("file_id", ["env/prod.yaml", "ci/prod-like-values.yaml"])
def test_postgresql_pod_monitor_carries_the_label_prometheus_selects(render: Render, file_id: str) -> None:
    docs = documents(render(file_id))
    selected = one(docs, "ServiceMonitor", name_of("api"))["metadata"]["labels"]
    monitor = one(docs, "PodMonitor", name_of("pg"))
    wanted = yaml.safe_load((VALUE_FILES[file_id]).read_text())["metrics"]["serviceMonitor"].get("labels", {})
    assert wanted.items() <= monitor["metadata"]["labels"].items()
    assert {k: selected[k] for k in wanted} == wanted
    assert monitor["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": name_of("pg")}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    # The operator's own PodMonitor has no labels: it stays off so there is only one, selectable, monitor.
    assert one(docs, "Cluster", name_of("pg"))["spec"]["monitoring"]["enablePodMonitor"] is False


# Where each metric family comes from on Kubernetes: (kind, name) of the chart object that scrapes it, or
# None for kube-prometheus-stack's own exporters (kube-state-metrics, cAdvisor, node-exporter).
METRIC_SOURCES = {
    "aiwfe_": ("ServiceMonitor", "api|worker"),
    "cnpg_": ("PodMonitor", "pg"),
    "barman_cloud_": ("PodMonitor", "pg"),
    "redis_": ("PodMonitor", "redis"),
    "probe_": ("Probe", "blackbox"),
    "kube_": None,
    "container_": None,
    "node_": None,
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, ranges, groupings and calls removed)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return words - {"and", "or", "unless", "bool", "offset"}


def test_every_kubernetes_alert_reads_metrics_something_deployed_exports(render: Render) -> None:
    """Validators check shape: this checks that each alert of the PrometheusRule can ever have data."""
    docs = documents(render("env/prod.yaml"))
    rule = one(docs, "PrometheusRule", RELEASE)
    recorded = {r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r}
    monitors = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    missing = []
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            names = metric_names(r["expr"])
            for name in names:
                if name in recorded or name in {
                    "up",
                    "time",
                    "by",
                    "on",
                    "and",
                    "or",
                    "unless",
                    "le",
                    "namespace",
                }:
                    continue
                source = next(
                    (v for prefix, v in METRIC_SOURCES.items() if name.startswith(prefix)), "unknown"
                )
                if source is None:
                    continue
                if source == "unknown":
                    missing.append(f"{r.get('alert') or r.get('record')}: {name} has no known exporter")
                    continue
                kind, components = source
                if not any((kind, name_of(c)) in monitors for c in components.split("|")):
                    missing.append(f"{r.get('alert') or r.get('record')}: {name} needs a {kind} {components}")
    assert missing == []


def test_every_kubernetes_dashboard_reads_metrics_something_deployed_exports(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    monitors = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    dashboards = [d for d in by_kind(docs, "ConfigMap").values() if "-dashboard-" in d["metadata"]["name"]]
    assert dashboards
    missing = []
    for config in dashboards:
        for panel in json.loads(next(iter(config["data"].values())))["panels"]:
            for target in panel.get("targets", []):
                for name in metric_names(re.sub(r"\$\{?\w+\}?", "x", target["expr"])):
                    if name in {"up", "x"} or name.startswith("aiwfe:"):
                        continue
                    source = next((v for p, v in METRIC_SOURCES.items() if name.startswith(p)), "unknown")
                    if source is None:
                        continue
                    ok = source != "unknown" and any(
                        (source[0], name_of(c)) in monitors for c in source[1].split("|")
                    )
                    if not ok:
                        missing.append(f"{config['metadata']['name']} / {panel['title']}: {name}")
    assert missing == []


def test_redis_exporter_and_certificate_probe_are_deployed_and_reachable(render: Render) -> None:
    docs = documents(render("env/prod.yaml"))
    for role in ("primary", "replica"):
        pod = one(docs, "StatefulSet", name_of(f"redis-{role}"))["spec"]["template"]["spec"]
        exporter = next(c for c in pod["containers"] if c["name"] == "exporter")
        assert {p["containerPort"] for p in exporter["ports"]} == {9121}
        env = {e["name"]: e for e in exporter["env"]}
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "REDIS_PASSWORD"
    monitor = one(docs, "PodMonitor", name_of("redis"))
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    redis_policy = one(docs, "NetworkPolicy", name_of("redis"))["spec"]["ingress"]
    assert any(p["port"] == 9121 for rule in redis_policy for p in rule["ports"])
    probe = one(docs, "Probe", name_of("blackbox"))["spec"]
    assert probe["jobName"] == "tls-certificates"
    assert probe["targets"]["staticConfig"]["static"] == ["aiwfe.example.com:443"]
    assert probe["prober"]["url"].startswith(f"{name_of('blackbox')}.{NAMESPACE}.svc:")
    config = one(docs, "ConfigMap", name_of("blackbox"))["data"]["blackbox.yml"]
    assert probe["module"] in yaml.safe_load(config)["modules"]


def test_kubernetes_rules_read_cloudnativepg_metrics_not_the_host_exporters(render: Render) -> None:
    """BackupTooOld and the PostgreSQL alerts on Kubernetes read what CloudNativePG and its Barman Cloud
    plugin export; the local stack's backup metric and postgres_exporter's pg_* never exist there."""
    rule = one(documents(render("env/prod.yaml")), "PrometheusRule", RELEASE)
    (postgres,) = [group for group in rule["spec"]["groups"] if group["name"] == "postgres"]
    exprs = {r["alert"]: r["expr"] for r in postgres["rules"] if "alert" in r}
    assert "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp" in exprs["BackupTooOld"]
    for alert, expr in exprs.items():
        assert "aiwfe_backup_last_success_timestamp_seconds" not in expr, alert
        assert not re.search(r"\bpg_(up|stat_\w+|settings_\w+)\b", expr), f"{alert}: {expr}"
        assert "namespace" in expr, f"{alert} does not keep namespaces apart: {expr}"


def test_service_monitors_keep_the_compose_job_labels(render: Render) -> None:
    monitors = by_kind(documents(render("env/prod.yaml")), "ServiceMonitor")
    for component, port in (("api", "http"), ("worker", "metrics")):
        (endpoint,) = monitors[name_of(component)]["spec"]["endpoints"]
        assert endpoint["port"] == port
        job = next(r for r in endpoint["relabelings"] if r["targetLabel"] == "job")
        assert job["replacement"] == f"aiwfe-{component}"


def test_grafana_dashboards_become_labelled_config_maps(render: Render) -> None:
    excluded = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["grafanaDashboards"]["exclude"]
    dashboards = [
        p for p in sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json")) if p.stem not in excluded
    ]
    configs = by_kind(documents(render("env/prod.yaml")), "ConfigMap")
    maps = [c for name, c in configs.items() if "-dashboard-" in name]
    assert sorted(name.rsplit("-dashboard-", 1)[1] for name in configs if "-dashboard-" in name) == [
        p.stem for p in dashboards
    ]
    # The Kubernetes PostgreSQL dashboard (CloudNativePG metrics) replaces the postgres_exporter one.
    postgres = json.loads(next(iter(configs[name_of("dashboard-postgres")]["data"].values())))
    assert postgres["uid"] == "aiwfe-postgres-k8s"
    for config in maps:
        assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
        (content,) = config["data"].values()
        json.loads(content)


# --- GitOps, namespaces, docs ----------------------------------------------------------------------


def argocd_apps() -> dict[str, dict[str, Any]]:
    apps = {}
    for path in sorted((K8S / "argocd").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Application":
                apps[doc["metadata"]["name"]] = doc
    return apps


def test_kubernetes_loki_keeps_the_briefed_retention() -> None:
    """30 days for application logs, 7 for debug lines: the same limits as the local stack and compose."""
    shared = yaml.safe_load((ROOT / "monitoring/loki/loki.yml").read_text())
    app = yaml.safe_load((K8S / "argocd/apps/loki.yaml").read_text())
    loki = app["spec"]["source"]["helm"]["valuesObject"]["loki"]
    for key in ("retention_period", "retention_stream", "max_query_lookback"):
        assert loki["limits_config"][key] == shared["limits_config"][key], key
    assert loki["limits_config"]["retention_period"] == "720h"
    assert loki["limits_config"]["retention_stream"] == [
        {"selector": '{level="debug"}', "priority": 1, "period": "168h"}
    ]
    for key in ("retention_enabled", "retention_delete_delay", "compaction_interval", "delete_request_store"):
        assert loki["compactor"][key] == shared["compactor"][key], key


def test_argocd_installs_the_platform_but_never_deploys_aiwfe() -> None:
    """One deployer per environment: .github/workflows/deploy.yml (helm, smoke test, rollback, digests).
    An Argo CD Application with self-heal on the same release would undo each deploy and vice versa."""
    for name, app in argocd_apps().items():
        source = app["spec"].get("source", {})
        assert "charts/aiwfe" not in source.get("path", ""), f"Argo CD app {name} deploys the aiwfe chart"
        assert app["spec"]["destination"].get("namespace") not in {"aiwfe-staging", "aiwfe-prod"}, name


def test_argocd_platform_charts_are_pinned_and_installed_before_aiwfe() -> None:
    apps = argocd_apps()
    platform = {name: app for name, app in apps.items() if "chart" in app["spec"]["source"]}
    assert {"cert-manager", "cloudnative-pg", "keda", "kube-prometheus-stack", "loki"} <= set(platform)
    # Before the namespaces and anything else (wave 0); aiwfe itself is deployed by deploy.yml afterwards.
    aiwfe_wave = 0
    for name, app in platform.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", app["spec"]["source"]["targetRevision"]), name
        assert int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < aiwfe_wave, name


def test_namespaces_enforce_pod_security() -> None:
    labels = {
        doc["metadata"]["name"]: doc["metadata"]["labels"]
        for path in (K8S / "namespaces").glob("*.yaml")
        for doc in [yaml.safe_load(path.read_text())]
    }
    assert set(labels) == {"aiwfe-prod", "aiwfe-staging", "aiwfe-monitoring"}
    for name in ("aiwfe-prod", "aiwfe-staging"):
        assert labels[name]["pod-security.kubernetes.io/enforce"] == "restricted", name
    assert labels["aiwfe-monitoring"]["pod-security.kubernetes.io/warn"] == "restricted"


# Maps documented as a whole (a Kubernetes object or free-form), not key by key.
WHOLE_VALUES = {"resources", "podSecurityContext", "containerSecurityContext", "parameters", "syncWaves"}


def leaf_keys(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict) and node and prefix.rsplit(".", 1)[-1] not in WHOLE_VALUES:
        for key, value in node.items():
            yield from leaf_keys(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = [key for key in leaf_keys(values) if f"`{key}`" not in readme]
    assert not undocumented, f"README.md parameter table lacks: {undocumented}"
