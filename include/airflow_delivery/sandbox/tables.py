"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

``kubectl get`` sends ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` and prints the columns
the server chooses. Common kinds get the columns a real cluster shows; anything else gets
``NAME`` and ``AGE``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from airflow_delivery.sandbox.clock import parse_rfc3339
from airflow_delivery.sandbox.resources import Resource

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]


def _col(name: str, fn: Callable[[Obj], Any], type_: str = "string") -> Column:
    return (name, type_, fn)


def _spec(obj: Obj, *keys: str, default: Any = 0) -> Any:
    current: Any = obj.get("spec") or {}
    for key in keys:
        current = current.get(key) if isinstance(current, dict) else None
    return default if current is None else current


def _status(obj: Obj, key: str, default: Any = 0) -> Any:
    value = (obj.get("status") or {}).get(key)
    return default if value is None else value


def _pod_ready(obj: Obj) -> str:
    statuses = _status(obj, "containerStatuses", [])
    total = len(_spec(obj, "containers", default=[]))
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in _status(obj, "containerStatuses", []):
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
        terminated = (status.get("state") or {}).get("terminated")
        if terminated and terminated.get("reason"):
            return str(terminated["reason"])
    return str(_status(obj, "phase", "Pending"))


def _images(obj: Obj, template: bool = True) -> str:
    spec = _spec(obj, "template", "spec", default={}) if template else (obj.get("spec") or {})
    return ",".join(c.get("image", "") for c in spec.get("containers") or [])


def _containers(obj: Obj) -> str:
    return ",".join(c.get("name", "") for c in _spec(obj, "template", "spec", "containers", default=[]))


def _selector(obj: Obj) -> str:
    labels = (_spec(obj, "selector", default={}) or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _ports(obj: Obj) -> str:
    parts = []
    for port in _spec(obj, "ports", default=[]):
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _job_status(obj: Obj) -> str:
    for condition in _status(obj, "conditions", []):
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("apps", "Deployment"): [
        _col("Ready", lambda o: f"{_status(o, 'readyReplicas')}/{_spec(o, 'replicas')}"),
        _col("Up-to-date", lambda o: _status(o, "updatedReplicas"), "integer"),
        _col("Available", lambda o: _status(o, "availableReplicas"), "integer"),
    ],
    ("apps", "ReplicaSet"): [
        _col("Desired", lambda o: _spec(o, "replicas"), "integer"),
        _col("Current", lambda o: _status(o, "replicas"), "integer"),
        _col("Ready", lambda o: _status(o, "readyReplicas"), "integer"),
    ],
    ("", "Pod"): [
        _col("Ready", _pod_ready),
        _col("Status", _pod_status),
        _col("Restarts", lambda o: sum(s.get("restartCount", 0) for s in _status(o, "containerStatuses", [])),
             "integer"),
    ],
    ("", "Service"): [
        _col("Type", lambda o: _spec(o, "type", default="ClusterIP")),
        _col("Cluster-IP", lambda o: _spec(o, "clusterIP", default="<none>")),
        _col("External-IP", lambda o: "<none>"),
        _col("Port(s)", _ports),
    ],
    ("batch", "Job"): [
        _col("Status", _job_status),
        _col("Completions", lambda o: f"{_status(o, 'succeeded')}/{_spec(o, 'completions', default=1)}"),
    ],
    ("", "ConfigMap"): [_col("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), "integer")],
    ("", "Secret"): [
        _col("Type", lambda o: o.get("type", "Opaque")),
        _col("Data", lambda o: len(o.get("data") or {}), "integer"),
    ],
    ("", "Endpoints"): [_col("Endpoints", lambda o: ",".join(
        f"{a['ip']}:{p['port']}" for s in o.get("subsets") or [] for a in s.get("addresses") or []
        for p in s.get("ports") or []) or "<none>")],
    ("", "Namespace"): [_col("Status", lambda o: _status(o, "phase", "Active"))],
    ("", "Event"): [
        _col("Type", lambda o: o.get("type", "")),
        _col("Reason", lambda o: o.get("reason", "")),
        _col("Object", lambda o: f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                                 f"{(o.get('involvedObject') or {}).get('name', '')}"),
        _col("Message", lambda o: o.get("message", "")),
    ],
}

WIDE_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("apps", "Deployment"): [_col("Containers", _containers), _col("Images", _images), _col("Selector", _selector)],
    ("apps", "ReplicaSet"): [_col("Containers", _containers), _col("Images", _images), _col("Selector", _selector)],
    ("", "Pod"): [_col("IP", lambda o: _status(o, "podIP", "<none>")),
                  _col("Node", lambda o: _spec(o, "nodeName", default="<none>"))],
}


def age(created: str | None, now: datetime) -> str:
    """kubectl's short age format: ``45s``, ``3m12s``, ``5h``, ``2d``."""
    if not created:
        return "<unknown>"
    seconds = max(0, int((now - parse_rfc3339(created)).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def to_table(resource: Resource, items: list[Obj], resource_version: int, now: datetime,
             include_object: str = "Metadata") -> Obj:
    """Render objects as a ``Table``; ``include_object`` is ``None``, ``Metadata`` or ``Object``."""
    key = (resource.group, resource.kind)
    extra = COLUMNS.get(key, [])
    wide = WIDE_COLUMNS.get(key, [])
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": n, "type": t, "format": "", "description": n, "priority": 0} for n, t, _ in extra]
    definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    definitions += [{"name": n, "type": t, "format": "", "description": n, "priority": 1} for n, t, _ in wide]
    rows = []
    for item in items:
        cells = [item["metadata"]["name"]]
        cells += [fn(item) for _, _, fn in extra]
        cells.append(age(item["metadata"].get("creationTimestamp"), now))
        cells += [fn(item) for _, _, fn in wide]
        row: Obj = {"cells": cells}
        if include_object == "Object":
            row["object"] = item
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": definitions,
        "rows": rows,
    }
