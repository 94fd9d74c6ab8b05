"""deploy/k8s: every manifest validates against the Kubernetes OpenAPI schemas (strict).

kubernetes-validate ships the schemas, so this runs offline. The KEDA ScaledObject (a
custom resource) is checked for what matters: it targets the worker Deployment and scales
on the worker group's lag. ``kubectl kustomize`` builds the set when kubectl is present.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from pipeline.front import front_group
from tests.support.kafka import REPO

K8S = REPO / "deploy" / "k8s"
VERSION = "1.30.0"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((K8S / name).read_text()) if d)
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def test_every_file_is_listed_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert present == listed


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("keda.sh/"):
        pytest.skip("custom resource: checked in test_scaledobject_scales_the_workers_on_lag")
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_worker_probes_match_the_worker_endpoints() -> None:
    (deployment,) = by_kind("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "worker"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["MENTIONFLOW_WEB_PORT"]) == container["ports"][0]["containerPort"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == env["MENTIONFLOW_WEB_PORT"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["MENTIONFLOW_DATA_DIR"] in mounts


def test_pdb_selects_the_workers() -> None:
    (deployment,) = by_kind("Deployment")
    (pdb,) = by_kind("PodDisruptionBudget")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_scaledobject_scales_the_workers_on_lag() -> None:
    (deployment,) = by_kind("Deployment")
    (config,) = by_kind("ConfigMap")
    (scaled,) = by_kind("ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    faust, front = scaled["spec"]["triggers"]
    app_id = config["data"]["MENTIONFLOW_APP_ID"]
    assert faust["metadata"]["consumerGroup"] == app_id
    # The batch front stage (the default) reads mentions.raw in its own group.
    assert config["data"].get("MENTIONFLOW_FRONT", "batch") == "batch"
    assert front["metadata"]["consumerGroup"] == front_group(app_id)
    assert front["metadata"]["topic"] == "mentions.raw"
    for trigger in (faust, front):
        assert trigger["type"] == "kafka"
        assert (
            trigger["metadata"]["bootstrapServers"] == config["data"]["MENTIONFLOW_KAFKA_BOOTSTRAP"]
        )
        assert int(trigger["metadata"]["lagThreshold"]) > 0
    assert scaled["spec"]["maxReplicaCount"] <= int(config["data"]["MENTIONFLOW_PARTITIONS"])
    assert scaled["spec"]["minReplicaCount"] >= 2  # with a PDB of maxUnavailable 1


def test_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {d["metadata"].get("namespace") for d in built if d["kind"] != "Namespace"} == {
        "mentionflow"
    }
