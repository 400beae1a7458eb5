"""deploy/k8s: both overlays render with `kubectl kustomize`, the core kinds pass
`kubernetes-validate --strict`, the KEDA objects pass KEDA's schema, and the manifests agree
with the code: the queue KEDA watches is the one the workers consume, ports and probe paths
are the ones the processes serve, every variable named is a real setting, every secret file
named is in the Secret."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from fusionflow.cli.service import ui as ui_command
from fusionflow.cli.service import worker as worker_command
from fusionflow.config import Settings
from fusionflow.executors.celery import QUEUE
from tests.deploy.conftest import (
    NAMESPACES,
    OVERLAYS,
    kustomize,
    node_script,
    passes,
    real_names,
    tool,
)

CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Deployment",
    "StatefulSet",
    "Job",
    "Service",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
}
# The oldest Kubernetes the manifests are for (the preStop `sleep` action), and the newest.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize(request.param)


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = one(objects, kind, name)["spec"]["template"]["spec"][
        "containers"
    ]
    return containers[0]


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def fusionflow_workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] in ("Deployment", "Job")
        and o["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
            "ghcr.io/fusionflow/fusionflow"
        )
    ]


def test_both_overlays_render_the_whole_service(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    for kind, object_name in [
        ("Deployment", "fusionflow-api"),
        ("Deployment", "fusionflow-worker"),
        ("Deployment", "fusionflow-ui"),
        ("Job", "fusionflow-migrate"),
        ("Service", "fusionflow-api"),
        ("Service", "fusionflow-ui"),
        ("Ingress", "fusionflow"),
        ("ConfigMap", "fusionflow-config"),
        ("ScaledObject", "fusionflow-worker"),
        ("TriggerAuthentication", "fusionflow-redis"),
        ("NetworkPolicy", "fusionflow-default-deny"),
    ]:
        one(objects, kind, object_name)
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"} == {
        NAMESPACES[name]
    }
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == NAMESPACES[name]
    for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        targets = [
            o
            for o in objects
            if o["kind"] == "Deployment"
            and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, pdb["metadata"]["name"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_kinds_pass_strict_validation(
    overlay: tuple[str, list[dict[str, Any]]], version: str, tmp_path: Path
) -> None:
    _, objects = overlay
    core = [o for o in objects if o["kind"] in CORE_KINDS]
    assert {o["kind"] for o in objects} - CORE_KINDS <= {
        "ScaledObject",
        "TriggerAuthentication",
        "ExternalSecret",
    }
    rendered = tmp_path / "core.yaml"
    rendered.write_text(yaml.safe_dump_all(core))
    validate = tool("kubernetes-validate", "pip install kubernetes-validate (the dev extra)")
    passes(validate, "--strict", "--quiet", "-k", version, str(rendered))


def test_keda_objects_pass_kedas_schema(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = overlay
    keda = [o for o in objects if o["apiVersion"].startswith("keda.sh/")]
    assert {o["kind"] for o in keda} == {"ScaledObject", "TriggerAuthentication"}
    script = """
    import { readFileSync } from "node:fs";
    import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
    const results = JSON.parse(readFileSync(0, "utf8")).map((o) => {
      try { new keda[o.kind](o).validate(); return null; } catch (e) { return e.message; }
    });
    console.log(JSON.stringify(results));
    """
    assert node_script(script, keda) == [None] * len(keda)
    # The checker itself refuses what KEDA would: a number where KEDA wants a string.
    broken = json.loads(json.dumps(one(keda, "ScaledObject", "fusionflow-worker")))
    broken["spec"]["triggers"][0]["metadata"]["listLength"] = 4
    assert node_script(script, [broken]) != [None]


def test_keda_watches_the_list_the_workers_consume(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    scaled = one(objects, "ScaledObject", "fusionflow-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "fusionflow-worker"
    one(objects, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert metadata["listName"] == QUEUE
    worker_args = container(objects, "Deployment", "fusionflow-worker")["args"]
    assert worker_args[0] == "worker"
    # With one shard at a time per worker, the list length per replica is in shards.
    assert option(worker_args, "--concurrency") == "1"
    assert int(metadata["listLength"]) >= 1
    assert int(metadata["activationListLength"]) >= 0
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert scaled["spec"]["cooldownPeriod"] > 0

    # The address KEDA reads is REDIS_URL's.
    redis = urlsplit(one(objects, "ConfigMap", "fusionflow-config")["data"]["REDIS_URL"])
    assert metadata["address"] == f"{redis.hostname}:{redis.port}"
    assert metadata["databaseIndex"] == (redis.path.strip("/") or "0")
    assert (metadata.get("enableTLS") == "true") == (redis.scheme == "rediss")

    # Its password is the one the workers read.
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (password,) = auth["spec"]["secretTargetRef"]
    assert password["parameter"] == "password"
    assert password["key"] in secret_keys(objects, password["name"])
    files = one(objects, "ConfigMap", "fusionflow-config")["data"]
    assert files["REDIS_PASSWORD_FILE"].endswith("/" + password["key"])


def secret_keys(objects: list[dict[str, Any]], name: str) -> set[str]:
    """The keys of the Secret ``name``: generated (dev) or synced from the vault (prod)."""
    secrets = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == name]
    if secrets:
        return set(secrets[0].get("data", {})) | set(secrets[0].get("stringData", {}))
    external = [
        o for o in objects if o["kind"] == "ExternalSecret" and o["spec"]["target"]["name"] == name
    ]
    assert len(external) == 1, f"no Secret and no ExternalSecret makes {name}"
    return {item["secretKey"] for item in external[0]["spec"]["data"]}


@pytest.mark.parametrize("overlay_name", ["staging", "prod"])
def test_staging_and_prod_take_their_secrets_from_the_vault(overlay_name: str) -> None:
    objects = kustomize(overlay_name)
    assert not [o for o in objects if o["kind"] == "Secret"]  # no literal secret in prod
    external = one(objects, "ExternalSecret", "fusionflow-secrets")
    assert external["spec"]["secretStoreRef"]["kind"] in ("ClusterSecretStore", "SecretStore")
    tag = one(objects, "Deployment", "fusionflow-api")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ].rpartition(":")[2]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{overlay_name} names a release, not {tag}"
    paths = {item["remoteRef"]["key"] for item in external["spec"]["data"]}
    assert paths == {f"fusionflow/{overlay_name}"}  # each its own vault path


def test_every_variable_is_a_setting_and_every_secret_file_is_mounted(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    names = real_names()
    config = one(objects, "ConfigMap", "fusionflow-config")["data"]
    assert not set(config) - names, sorted(set(config) - names)
    keys = secret_keys(objects, "fusionflow-secrets")
    for workload in fusionflow_workloads(objects):
        spec = workload["spec"]["template"]["spec"]
        (main,) = spec["containers"]
        env = {e["name"] for e in main.get("env", [])}
        assert not env - names, (workload["metadata"]["name"], sorted(env - names))
        uses_config = any(
            s.get("configMapRef", {}).get("name") == "fusionflow-config"
            for s in main.get("envFrom", [])
        )
        if not uses_config:
            continue
        mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for variable, path in config.items():
            if not variable.endswith("_FILE"):
                continue
            folder, _, key = path.rpartition("/")
            (volume,) = [name for name, mounted in mounts.items() if mounted == folder]
            assert volumes[volume]["secret"]["secretName"] == "fusionflow-secrets"
            assert key in keys, f"{variable}: {key} is not in the Secret"


def test_ports_and_probes_are_the_ones_the_processes_serve(
    overlay: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from fusionflow.api import create_app

    _, objects = overlay
    app = create_app(Settings(data_dir=tmp_path))
    routes = {*app.openapi()["paths"], "/docs", "/openapi.json"}

    api = container(objects, "Deployment", "fusionflow-api")
    assert api["args"] == ["serve"]
    (port,) = api["ports"]
    assert port["containerPort"] == Settings().port  # serve's port when none is given
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    with TestClient(app) as client:  # the probes answer 200 from a running app
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert client.get(api[probe]["httpGet"]["path"]).status_code == 200, probe
            assert api[probe]["httpGet"]["port"] == port["name"]

    worker = container(objects, "Deployment", "fusionflow-worker")
    accepted = {o for p in worker_command.params for o in getattr(p, "opts", [])}
    assert {a for a in worker["args"][1:] if a.startswith("--")} <= accepted
    (metrics,) = worker["ports"]
    assert metrics["containerPort"] == int(option(worker["args"], "--metrics-port"))
    assert worker["livenessProbe"]["httpGet"]["port"] == metrics["name"]

    ui = container(objects, "Deployment", "fusionflow-ui")
    assert {a for a in ui["args"][1:] if a.startswith("--")} <= {
        o for p in ui_command.params for o in getattr(p, "opts", [])
    }
    assert ui["ports"][0]["containerPort"] == int(option(ui["args"], "--port"))
    assert ui["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"  # Streamlit's
    api_url = urlsplit(next(e["value"] for e in ui["env"] if e["name"] == "FUSIONFLOW_API_URL"))
    service = one(objects, "Service", api_url.hostname or "")
    assert api_url.port in {p["port"] for p in service["spec"]["ports"]}

    # Every Service sends traffic to a named container port of the pods it selects.
    for service in (o for o in objects if o["kind"] == "Service"):
        selector = service["spec"]["selector"]
        pods = [
            o["spec"]["template"]
            for o in objects
            if o["kind"] in ("Deployment", "StatefulSet")
            and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(pods) == 1, service["metadata"]["name"]
        names = {p["name"] for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= names

    # The Ingress routes the API's own paths to the API and TLS covers its host.
    ingress = one(objects, "Ingress", "fusionflow")
    (rule,) = ingress["spec"]["rules"]
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        one(objects, "Service", backend["name"])
        if backend["name"] == "fusionflow-api":
            assert any(r.startswith(path["path"]) for r in routes), path["path"]
    public = next(e["value"] for e in ui["env"] if e["name"] == "FUSIONFLOW_PUBLIC_API_URL")
    assert urlsplit(public).hostname == rule["host"]


def test_rollouts_never_serve_from_an_unready_api(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    api = one(objects, "Deployment", "fusionflow-api")
    assert api["spec"]["replicas"] >= 2
    rolling = api["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert rolling["maxSurge"] >= 1


def test_pods_run_unprivileged_with_bounded_resources(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    for workload in fusionflow_workloads(objects):
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for each in spec["containers"]:
            security = each["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(each["resources"]["requests"]), name
            assert "memory" in each["resources"]["limits"], name
            # A read-only root: every place the process writes is a volume.
            mounted = {m["mountPath"] for m in each["volumeMounts"]}
            assert {"/tmp", "/var/lib/fusionflow"} <= mounted, name


def test_workers_prefer_spot_nodes_and_outlast_their_hand_back(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    spec = one(objects, "Deployment", "fusionflow-worker")["spec"]["template"]["spec"]
    preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert any("spot" in json.dumps(term).lower() for term in preferred)
    assert any("spot" in json.dumps(t).lower() for t in spec["tolerations"])
    # tests/deploy/test_queue.py measures the hand-back against this.
    assert spec["terminationGracePeriodSeconds"] >= 60


def test_only_the_api_workers_and_migrations_reach_the_stores(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    deny = policies["fusionflow-default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert deny["policyTypes"] == ["Ingress"]
    stores = policies["fusionflow-stores"]["spec"]
    assert stores["podSelector"]["matchLabels"] == {"fusionflow.io/store": "true"}
    allowed = {
        source["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in stores["ingress"]
        for source in rule["from"]
    }
    assert allowed == {"api", "worker", "migrate"}
    # The UI may reach the API and DNS, nothing else: not a database wherever it is.
    ui = policies["fusionflow-ui"]["spec"]
    assert "Egress" in ui["policyTypes"]
    destinations = [
        (peer.get("podSelector", {}).get("matchLabels", {}), [p["port"] for p in rule["ports"]])
        for rule in ui["egress"]
        for peer in rule["to"]
    ]
    assert destinations == [
        ({"app.kubernetes.io/component": "api"}, [8000]),
        ({"k8s-app": "kube-dns"}, [53, 53]),
    ]
    if name == "dev":
        store_pods = [
            o
            for o in objects
            if o["kind"] in ("StatefulSet", "Deployment")
            and o["spec"]["template"]["metadata"]["labels"].get("fusionflow.io/store") == "true"
        ]
        assert {o["metadata"]["name"] for o in store_pods} == {"postgres", "redis", "minio"}


def test_the_worker_command_accepts_the_manifest_flags() -> None:
    # The flags the manifests pass parse as the worker's options (a typo would not).
    context = worker_command.make_context(
        "worker", ["--concurrency", "1", "--metrics-port", "9100"], resilient_parsing=True
    )
    assert context.params["metrics_port"] == 9100
    with pytest.raises(click.UsageError):
        worker_command.make_context("worker", ["--metrics-prot", "9100"])
