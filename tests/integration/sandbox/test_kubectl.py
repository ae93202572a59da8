"""Real kubectl against the sandbox (the issue's fidelity bar).

apply -f (client-side and --server-side), get (table, -o json/yaml), describe deployment, set image,
rollout status (success, and failure on ProgressDeadlineExceeded), rollout history, rollout undo,
scale and delete. kubectl is picked by the PATH dispatcher from the server's /version.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.fixtures.sandbox import SandboxHandle, start_sandbox
from tests.support import wait_until

pytestmark = pytest.mark.integration

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"""


def write_manifests(tmp_path: Path, text: str = MANIFESTS) -> Path:
    path = tmp_path / "manifests.yaml"
    path.write_text(text)
    return path


def image_of(sandbox: SandboxHandle) -> str:
    return sandbox.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout


def test_apply_get_describe_and_rollout(sandbox: SandboxHandle, tmp_path: Path) -> None:
    manifests = write_manifests(tmp_path)
    out = sandbox.kubectl("apply", "--validate=false", "-f", str(manifests)).stdout
    assert "deployment.apps/web created" in out and "service/web created" in out
    assert "unchanged" in sandbox.kubectl("apply", "--validate=false", "-f", str(manifests)).stdout
    assert "successfully rolled out" in sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s").stdout

    table = sandbox.kubectl("get", "deployments").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "3/3", "3", "3"]
    pods = json.loads(sandbox.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)
    assert len(pods["items"]) == 3 and {p["status"]["phase"] for p in pods["items"]} == {"Running"}
    service = yaml.safe_load(sandbox.kubectl("get", "service", "web", "-o", "yaml").stdout)
    assert service["spec"]["clusterIP"] and service["spec"]["ports"][0]["protocol"] == "TCP"

    described = sandbox.kubectl("describe", "deployment", "web").stdout
    assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable" in described
    assert "NewReplicaSetAvailable" in described and "ScalingReplicaSet" in described

    sandbox.kubectl("set", "image", "deployment/web", "app=nginx:1.26")
    assert "successfully rolled out" in sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s").stdout
    history = sandbox.kubectl("rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    sandbox.kubectl("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s").stdout
    assert image_of(sandbox) == "nginx:1.25"
    replicasets = json.loads(sandbox.kubectl("get", "rs", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(replicasets) == 2, "undo brings back the old ReplicaSet rather than creating a third"
    revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in replicasets)
    assert revisions == ["2", "3"]

    sandbox.kubectl("scale", "deployment/web", "--replicas=5")
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert sandbox.kubectl("get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}").stdout == "5"

    sandbox.kubectl("delete", "-f", str(manifests), "--timeout=30s")
    wait_until(lambda: not json.loads(sandbox.kubectl("get", "pods,rs", "-l", "app=web", "-o", "json").stdout)[
        "items"], timeout=15, message="dependents garbage-collected")


def test_rollout_status_fails_on_a_broken_image(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.kubectl("apply", "--validate=false", "-f", str(write_manifests(tmp_path)))
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    sandbox.kubectl("set", "image", "deployment/web", "app=nginx:broken")
    result = sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s", check=False)
    assert result.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in result.stderr
    pods = sandbox.kubectl("get", "pods", "-l", "app=web").stdout
    assert "ImagePullBackOff" in pods or "ErrImagePull" in pods
    described = sandbox.kubectl("describe", "deployment", "web").stdout
    assert "ProgressDeadlineExceeded" in described


def test_server_side_apply_conflicts_and_force(sandbox: SandboxHandle, tmp_path: Path) -> None:
    manifests = write_manifests(tmp_path)
    sandbox.kubectl("apply", "--server-side", "--validate=false", "-f", str(manifests))
    sandbox.kubectl("set", "image", "deployment/web", "app=nginx:hotfix")
    changed = write_manifests(tmp_path, MANIFESTS.replace("nginx:1.25", "nginx:2.0"))
    conflict = sandbox.kubectl("apply", "--server-side", "--validate=false", "-f", str(changed), check=False)
    assert conflict.returncode != 0
    assert 'conflict with "kubectl-set"' in conflict.stderr and "containers[name=\"app\"].image" in conflict.stderr
    sandbox.kubectl("apply", "--server-side", "--force-conflicts", "--validate=false", "-f", str(changed))
    assert image_of(sandbox) == "nginx:2.0"
    managed = json.loads(sandbox.kubectl("get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert {"kubectl", "deployment-controller"} <= {m["manager"] for m in managed["metadata"]["managedFields"]}


def test_errors_are_reported_like_a_real_server(sandbox: SandboxHandle) -> None:
    missing = sandbox.kubectl("get", "deployment", "nope", check=False)
    assert missing.returncode != 0
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in missing.stderr


@pytest.mark.parametrize("kube_version", ["1.27.0", "1.33.0"])
def test_oldest_and_newest_kubectl(tmp_path: Path, kube_version: str) -> None:
    """The PATH dispatcher picks kubectl from the server's /version: both ends of the range work."""
    instance, handle = start_sandbox(tmp_path, kube_version=kube_version)
    try:
        assert f"v{kube_version}" in handle.kubectl("version").stdout
        handle.kubectl("apply", "--validate=false", "-f", str(write_manifests(tmp_path)))
        assert "successfully rolled out" in handle.kubectl("rollout", "status", "deployment/web",
                                                           "--timeout=30s").stdout
        handle.kubectl("set", "image", "deployment/web", "app=nginx:1.26")
        handle.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        handle.kubectl("rollout", "undo", "deployment/web")
        handle.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert image_of(handle) == "nginx:1.25"
    finally:
        instance.stop()
