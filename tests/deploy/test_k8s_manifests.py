"""deploy/k8s/*.yaml: valid against the Kubernetes JSON schemas (kubernetes-validate ships them, so
this runs offline), strict (unknown fields are errors), and consistent with each other and the image."""

from __future__ import annotations

import base64
import re
import secrets
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from service.localserver import LOOPBACK, free_port, running_server
from service.server import GRACEFUL_TIMEOUT_S
from service.settings import PROJECT_ROOT, ServerSettings
from tests.conftest import LiveServer

K8S = PROJECT_ROOT / "deploy" / "k8s"
# The oldest release these manifests target (autoscaling/v2 and policy/v1 are GA since 1.23) and the
# newest one the installed schemas cover.
VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
# the Secret the Deployment reads the API key from (created by the operator, never committed)
SECRET_NAME, SECRET_KEY = "mobile-vision-api", "api-key"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.name}:{doc['kind']}", doc))
    return docs


DOCS = _documents()


def _by_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in DOCS if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {K8S}, found {len(found)}"
    return found[0]


def _cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    (api,) = _by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    return api


@pytest.fixture(scope="module")
def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_every_kind_is_there() -> None:
    kinds = sorted(doc["kind"] for _, doc in DOCS)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[name for name, _ in DOCS])
def test_manifest_is_valid_against_the_schema(name: str, doc: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name} is not a valid Kubernetes {version} object: {exc.message} at {list(exc.path)}")


def test_a_broken_manifest_is_caught() -> None:
    """The validator really checks: a misspelt field and a wrong type both fail."""
    deployment = _by_kind("Deployment")
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_cpu_matches_the_inference_threads(container: dict[str, Any], env: dict[str, str]) -> None:
    threads = int(env["MVA_THREADS"])
    assert int(env["MVA_INFERENCE_CORES"]) == threads
    resources = container["resources"]
    assert _cpus(resources["requests"]["cpu"]) == threads
    assert _cpus(resources["limits"]["cpu"]) == threads


def test_upload_limit_is_the_services(env: dict[str, str]) -> None:
    assert int(env["MVA_MAX_UPLOAD_BYTES"]) == ServerSettings().max_upload_bytes


def test_probes(container: dict[str, Any]) -> None:
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_shutdown_fits_the_grace_period(env: dict[str, str]) -> None:
    """Not ready at SIGTERM, serving for the delay, then draining: all before Kubernetes kills the pod."""
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    delay = float(env["MVA_SHUTDOWN_DELAY_S"])
    assert delay > 0
    assert delay + GRACEFUL_TIMEOUT_S < pod["terminationGracePeriodSeconds"]


def test_runs_as_the_images_non_root_user_on_a_read_only_root(container: dict[str, Any]) -> None:
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    image_user = re.search(r"^USER (\d+):(\d+)$", (PROJECT_ROOT / "Dockerfile").read_text(), re.M)
    assert image_user is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == image_user.group(1)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


def test_service_hpa_and_pdb_point_at_the_deployment(container: dict[str, Any]) -> None:
    deployment = _by_kind("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service, hpa, pdb = (
        _by_kind("Service"),
        _by_kind("HorizontalPodAutoscaler"),
        _by_kind("PodDisruptionBudget"),
    )
    assert service["spec"]["selector"] == pod_labels
    assert pdb["spec"]["selector"]["matchLabels"] == pod_labels
    assert deployment["spec"]["selector"]["matchLabels"] == pod_labels
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert {"type": "Resource"}.items() <= hpa["spec"]["metrics"][0].items()
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # a drain may never take the last ready replica the autoscaler keeps
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    ports = {p["name"] for p in container["ports"]}
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"])


def test_the_autoscaler_alone_sets_the_replica_count() -> None:
    """With an HPA, a Deployment that names spec.replicas is scaled back to that number by every
    `kubectl apply` (e.g. the one that rolls out a new image), whatever the HPA had scaled it to:
    Kubernetes' HPA documentation says to leave the field out. The HPA's minimum is the floor."""
    assert "replicas" not in _by_kind("Deployment")["spec"]
    assert _by_kind("HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2


def test_the_api_key_is_required_from_a_mounted_secret(
    container: dict[str, Any], env: dict[str, str]
) -> None:
    """MVA_API_KEY_FILE names a file in a read-only mount of the non-optional secret `mobile-vision-api`
    (key `api-key`): no pod starts without it, and the key never sits in the environment."""
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    assert "MVA_API_KEY" not in {e["name"] for e in container["env"]}
    key_file = PurePosixPath(env["MVA_API_KEY_FILE"])
    mount = next(m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == key_file.parent)
    assert mount["readOnly"] is True
    secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    assert (secret["secretName"], secret["optional"]) == (SECRET_NAME, False)
    assert {"key": SECRET_KEY, "path": key_file.name} in secret["items"]
    # the file is root-owned with the pod's fsGroup: the non-root user reads it through its group
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert secret["defaultMode"] & 0o040 and not secret["defaultMode"] & 0o007


def test_the_documented_secret_is_a_valid_object() -> None:
    """What `kubectl create secret generic mobile-vision-api --from-literal=api-key=...` (the command in
    deployment.yaml and the README) creates."""
    comment = (K8S / "deployment.yaml").read_text()
    assert f"kubectl create secret generic {SECRET_NAME} --from-literal={SECRET_KEY}=" in comment
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(secrets.token_bytes(32)).decode()},
    }
    for version in VERSIONS:
        kubernetes_validate.validate(secret, version, strict=True)


def test_prometheus_scrapes_each_pod_on_its_metrics_port(container: dict[str, Any]) -> None:
    annotations = _by_kind("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == next(
        p["containerPort"] for p in container["ports"] if p["name"] == "http"
    )


def test_the_api_keeps_idle_connections_longer_than_an_ingress(env: dict[str, str]) -> None:
    """ingress-nginx keeps idle upstream connections 60 s by default: the pod must keep them longer."""
    assert float(env["MVA_KEEP_ALIVE_S"]) > 60


def test_replicas_prefer_different_nodes() -> None:
    """Preferred (not required) anti-affinity on the node: a node lost or drained takes one replica
    where the cluster has several nodes, and a one-node cluster still schedules them all."""
    deployment = _by_kind("Deployment")
    pod = deployment["spec"]["template"]
    anti = pod["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == pod["metadata"]["labels"]


def test_the_api_trusts_the_scheme_and_client_the_ingress_forwards(env: dict[str, str]) -> None:
    """An ingress reaches the pod from its own address and names the client's scheme and address in
    X-Forwarded-Proto / X-Forwarded-For; uvicorn trusts them only from FORWARDED_ALLOW_IPS (default
    127.0.0.1). Without it a redirect (a trailing slash dropped) behind a TLS ingress sends the browser
    to http://, and the access log's `client` is the ingress. The server runs with the manifest's
    value, reached from 127.0.0.2: a peer other than the default."""
    server = LiveServer(
        {"MVA_WARM_MODELS": "[]"} | {k: v for k, v in env.items() if k == "FORWARDED_ALLOW_IPS"}
    )
    try:
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, base_url=server.url) as client:
            answer = client.get("/healthz/", headers={"Host": "api.example", "X-Forwarded-Proto": "https"})
    finally:
        server.stop()
    assert answer.status_code == 307
    assert answer.headers["location"] == "https://api.example/healthz"


def _service_links(pod: dict[str, Any], services: list[str]) -> dict[str, str]:
    """The variables the kubelet puts into every container for each Service of the namespace, unless
    the pod spec turns them off (enableServiceLinks, on by default): docker-link style names made of
    the Service's name, e.g. MVA_PORT=tcp://10.96.0.12:80 for a Service `mva`."""
    if pod.get("enableServiceLinks", True) is False:
        return {}
    links: dict[str, str] = {}
    for name in services:
        prefix, ip = name.upper().replace("-", "_"), "10.96.0.12"
        links |= {
            f"{prefix}_SERVICE_HOST": ip,
            f"{prefix}_SERVICE_PORT": "80",
            f"{prefix}_PORT": f"tcp://{ip}:80",
            f"{prefix}_PORT_80_TCP": f"tcp://{ip}:80",
            f"{prefix}_PORT_80_TCP_PROTO": "tcp",
            f"{prefix}_PORT_80_TCP_PORT": "80",
            f"{prefix}_PORT_80_TCP_ADDR": ip,
        }
    return links


def test_another_service_of_the_namespace_cannot_set_the_apis_settings(tmp_path: Path) -> None:
    """The service reads MVA_* variables, and a Service named `mva` (the project's short name) in the
    namespace made the kubelet set MVA_PORT=tcp://...:80 in every pod: `serve` refused it and every pod
    crash-looped. The server starts as the image starts it (`serve`, its port from MVA_PORT, here a free
    one in place of the image's 8000) with what the kubelet adds for the manifest's Service and a `mva`."""
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    links = _service_links(pod, [_by_kind("Service")["metadata"]["name"], "mva"])
    port = free_port()
    env = {"MVA_HOST": LOOPBACK, "MVA_PORT": str(port), "MVA_WARM_MODELS": "[]"} | links
    command = [sys.executable, "-m", "service", "serve"]
    url = f"http://{LOOPBACK}:{port}/healthz"
    with running_server(command, url, tmp_path / "serve.log", env, timeout_s=60.0, cwd=PROJECT_ROOT):
        pass
