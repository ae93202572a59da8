"""Defaulting and validation, the part of the API server that runs before an object is stored.

Only what clients observe is emulated: the defaults ``kubectl``/the Python client read back (replicas,
rolling-update strategy, progress deadline, container pull policy, service ClusterIP and port defaults,
Job selectors and pod labels) and the validation errors that catch real mistakes (names, labels, a
Deployment whose selector does not match its template, containers without image, immutable selectors).
Everything else is accepted as sent, which is more permissive than a real cluster (see README.md).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import threading
from typing import Any

from airflow_delivery.sandbox.errors import invalid
from airflow_delivery.sandbox.resources import Resource
from airflow_delivery.sandbox.selectors import selector_from_spec

Obj = dict[str, Any]
Cause = tuple[str, str, str]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL_KINDS = frozenset({"Service", "Namespace"})
TYPED_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "events.k8s.io"})


def _drop_nulls(value: object) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for child in value.values():
            _drop_nulls(child)
    elif isinstance(value, list):
        for child in value:
            _drop_nulls(child)


class Admission:
    """Defaults then validates; holds the ClusterIP allocator so Services get unique addresses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_ip = int(ipaddress.IPv4Address("10.96.0.10"))
        self._next_node_port = 30000

    def __call__(self, resource: Resource, new: Obj, old: Obj | None) -> None:
        if resource.group in TYPED_GROUPS:
            # Built-in kinds decode into Go structs, where ``null`` and absent are the same (kubectl sends
            # ``creationTimestamp: null`` in pod templates); dropping nulls keeps templates comparable.
            _drop_nulls(new)
        defaulter = getattr(self, f"_default_{resource.kind}", None)
        if defaulter is not None and resource.group in TYPED_GROUPS:
            defaulter(new, old)
        causes = _validate_metadata(resource, new)
        validator = _VALIDATORS.get((resource.group, resource.kind))
        if validator is not None:
            causes += validator(new, old)
        if causes:
            raise invalid(resource.kind, resource.group, new.get("metadata", {}).get("name", ""), causes)

    # --- defaults -------------------------------------------------------------------------------------

    def _default_Namespace(self, new: Obj, old: Obj | None) -> None:
        new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        new.setdefault("status", {}).setdefault("phase", "Active")
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"]["name"]

    def _default_Pod(self, new: Obj, old: Obj | None) -> None:
        default_pod_spec(new.setdefault("spec", {}))
        if old is None:
            new.setdefault("status", {}).setdefault("phase", "Pending")
            new["status"].setdefault("qosClass", "BestEffort")

    def _default_Deployment(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        _default_template(spec)

    def _default_ReplicaSet(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        _default_template(spec)

    def _default_StatefulSet(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        _default_template(spec)

    def _default_DaemonSet(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        )
        _default_template(spec)

    def _default_Job(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        template = spec.setdefault("template", {})
        default_pod_spec(template.setdefault("spec", {}), restart_policy=None)
        if old is None and not spec.get("manualSelector"):
            md = new["metadata"]
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            generated = {"batch.kubernetes.io/controller-uid": md["uid"], "controller-uid": md["uid"]}
            labels.update(generated)
            labels.update({"batch.kubernetes.io/job-name": md["name"], "job-name": md["name"]})
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": md["uid"]}}

    def _default_Service(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {p.get("port"): p for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or self._allocate_node_port()
        new.setdefault("status", {}).setdefault("loadBalancer", {})

    def _default_Secret(self, new: Obj, old: Obj | None) -> None:
        new.setdefault("type", "Opaque")
        string_data = new.pop("stringData", None) or {}
        if string_data:
            data = new.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()

    def _allocate_ip(self) -> str:
        with self._lock:
            ip = str(ipaddress.IPv4Address(self._next_ip))
            self._next_ip += 1
            return ip

    def _allocate_node_port(self) -> int:
        with self._lock:
            port = self._next_node_port
            self._next_node_port += 1
            return port


def default_pod_spec(spec: Obj, restart_policy: str | None = "Always") -> None:
    """The pod spec defaults the API server adds (a Job's template keeps its own restartPolicy)."""
    if restart_policy is not None:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _default_template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}))


# --- validation -----------------------------------------------------------------------------------------


def _validate_metadata(resource: Resource, obj: Obj) -> list[Cause]:
    md = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = str(md.get("name", ""))
    pattern, what = (_DNS_LABEL, "RFC 1035 label") if resource.kind in _DNS_LABEL_KINDS and not resource.group \
        else (_SUBDOMAIN, "RFC 1123 subdomain")
    limit = 63 if pattern is _DNS_LABEL else 253
    if not pattern.match(name) or len(name) > limit:
        causes.append((
            "metadata.name", "FieldValueInvalid",
            (f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric characters, '
            f"'-' or '.', and must start and end with an alphanumeric character (at most {limit} characters)"),
        ))
    for kind in ("labels", "annotations"):
        values = md.get(kind)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append((f"metadata.{kind}", "FieldValueInvalid", "Invalid value: must be a map of strings"))
            continue
        for key, value in values.items():
            if not _valid_qualified_name(key):
                causes.append((f"metadata.{kind}", "FieldValueInvalid", (f'Invalid value: "{key}": name part must '
                               "consist of alphanumeric characters, '-', '_' or '.'")))
            if not isinstance(value, str):
                causes.append((f"metadata.{kind}.{key}", "FieldValueInvalid", "Invalid value: must be a string"))
            elif kind == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                causes.append(("metadata.labels", "FieldValueInvalid", (f'Invalid value: "{value}": a valid label '
                               "must be an empty string or consist of alphanumeric characters, '-', '_' or '.'")))
    return causes


def _valid_qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return bool(name) and len(name) <= 63 and bool(_LABEL_KEY_NAME.match(name))


def _validate_containers(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [(f"{path}.containers", "FieldValueRequired", "Required value")]
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append((where, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not name:
            causes.append((f"{where}.name", "FieldValueRequired", "Required value"))
        elif name in seen:
            causes.append((f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        seen.add(str(name))
        if not container.get("image"):
            causes.append((f"{where}.image", "FieldValueRequired", "Required value"))
    return causes


def _validate_workload(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append(("spec.replicas", "FieldValueInvalid", f"Invalid value: {replicas!r}: must be >= 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    elif not selector_from_spec(selector).matches(labels):
        causes.append((
            "spec.template.metadata.labels", "FieldValueInvalid",
            f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`",
        ))
    if old is not None and selector and (old.get("spec") or {}).get("selector") != selector:
        causes.append(("spec.selector", "FieldValueInvalid", (f"Invalid value: {json.dumps(selector)}: "
                       "field is immutable")))
    causes += _validate_containers(template.get("spec") or {}, "spec.template.spec")
    return causes


def _validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_containers(obj.get("spec") or {}, "spec")


def _validate_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    causes = _validate_containers(template.get("spec") or {}, "spec.template.spec")
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("Never", "OnFailure"):
        causes.append(("spec.template.spec.restartPolicy", "FieldValueNotSupported",
                       f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'))
    if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
        causes.append(("spec.selector", "FieldValueInvalid", "Invalid value: field is immutable"))
    return causes


def _validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    for index, port in enumerate(spec.get("ports") or []):
        value = port.get("port") if isinstance(port, dict) else None
        if not isinstance(value, int) or not 0 < value < 65536:
            causes.append((f"spec.ports[{index}].port", "FieldValueInvalid",
                           f"Invalid value: {value!r}: must be between 1 and 65535, inclusive"))
    valid_types = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
    if spec.get("type") not in valid_types:
        causes.append(("spec.type", "FieldValueNotSupported",
                       f'Unsupported value: "{spec.get("type")}": supported values: {", ".join(valid_types)}'))
    return causes


def _validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append((f"data[{key}]", "FieldValueInvalid", "Invalid value: must be base64-encoded"))
    return causes


_VALIDATORS = {
    ("apps", "Deployment"): _validate_workload,
    ("apps", "ReplicaSet"): _validate_workload,
    ("apps", "StatefulSet"): _validate_workload,
    ("apps", "DaemonSet"): _validate_workload,
    ("", "Pod"): _validate_pod,
    ("batch", "Job"): _validate_job,
    ("", "Service"): _validate_service,
    ("", "Secret"): _validate_secret,
}
