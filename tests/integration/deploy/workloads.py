"""Manifests the deploy tests apply to the sandbox (images ``*:broken`` never pull, ``*:unready`` never get ready)."""

from __future__ import annotations

from typing import Any


def deployment(name: str = "web", image: str = "nginx:1.25", *, replicas: int = 2,
               progress_deadline: int | None = None, namespace: str | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    pod_labels = {"app": name, **(labels or {})}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": pod_labels},
                     "spec": {"containers": [{"name": "main", "image": image}]}},
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def service(name: str = "web", app: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}


def config_map(name: str = "web-config", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


def job(name: str = "migrate", image: str = "busybox:1") -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": image, "command": ["echo", "migrated"]}]}}}}
