"""The resource registry: which REST resources the sandbox serves, each a frozen ``Resource``.

Plurals are explicit (``ingresses``, ``endpoints``), never ``kind.lower() + "s"``. Storage is keyed by
``(group, plural)`` so one object is visible through every served version of its group, as in Kubernetes
(Istio's ``v1`` and ``v1beta1`` VirtualServices are the same objects). Custom resources are added at
runtime: from a CustomResourceDefinition, or on first create at an unknown path (stored generically).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_delivery.sandbox.errors import NotFound

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One served REST resource. Identity is ``(group, version, plural, namespaced)``."""

    group: str
    """API group; ``""`` for the core group (``/api/v1``)."""
    version: str
    plural: str
    """The URL path segment, e.g. ``deployments``."""
    namespaced: bool
    kind: str = field(compare=False)
    singular: str = field(default="", compare=False)
    short_names: tuple[str, ...] = field(default=(), compare=False)
    subresources: frozenset[str] = field(default=frozenset(), compare=False)
    """Served sub-resources: ``status``, ``scale``, ``log``."""
    categories: tuple[str, ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Where objects live in the store: shared by every version of the resource."""
        return (self.group, self.plural)

    @property
    def qualified_name(self) -> str:
        """``deployments.apps`` / ``pods``: how the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _r(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: Iterable[str] = ("status",),
    categories: tuple[str, ...] = (),
) -> Resource:
    return Resource(
        group=group,
        version=version,
        plural=plural,
        namespaced=namespaced,
        kind=kind,
        singular=kind.lower(),
        short_names=short,
        subresources=frozenset(sub),
        categories=categories,
    )


BUILTIN_RESOURCES: tuple[Resource, ...] = (
    _r("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",)),
    _r("", "v1", "pods", "Pod", short=("po",), sub=("status", "log"), categories=("all",)),
    _r("", "v1", "services", "Service", short=("svc",), categories=("all",)),
    _r("", "v1", "endpoints", "Endpoints", short=("ep",), sub=()),
    _r("", "v1", "configmaps", "ConfigMap", short=("cm",), sub=()),
    _r("", "v1", "secrets", "Secret", sub=()),
    _r("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",), sub=()),
    _r("", "v1", "events", "Event", short=("ev",), sub=()),
    _r("", "v1", "nodes", "Node", namespaced=False, short=("no",)),
    _r("apps", "v1", "deployments", "Deployment", short=("deploy",), sub=("status", "scale"), categories=("all",)),
    _r("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), sub=("status", "scale"), categories=("all",)),
    _r("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), sub=("status", "scale"), categories=("all",)),
    _r("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), categories=("all",)),
    _r("apps", "v1", "controllerrevisions", "ControllerRevision", sub=()),
    _r("batch", "v1", "jobs", "Job", categories=("all",)),
    _r("batch", "v1", "cronjobs", "CronJob", short=("cj",), categories=("all",)),
    _r("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",)),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",)),
    _r("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",)),
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",), sub=()),
    _r("events.k8s.io", "v1", "events", "Event", short=("ev",), sub=()),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
       namespaced=False, short=("crd", "crds")),
    _r("networking.istio.io", "v1", "virtualservices", "VirtualService", short=("vs",), sub=()),
    _r("networking.istio.io", "v1beta1", "virtualservices", "VirtualService", short=("vs",), sub=()),
    _r("networking.istio.io", "v1", "destinationrules", "DestinationRule", short=("dr",), sub=()),
    _r("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule", short=("dr",), sub=()),
    _r("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
    _r("gateway.networking.k8s.io", "v1", "gateways", "Gateway", short=("gtw",)),
)

class ResourceRegistry:
    """Thread-safe lookup of served resources; raises ``NotFound`` naming the valid choices."""

    def __init__(self, resources: Iterable[Resource] = BUILTIN_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        for resource in resources:
            self._by_path[(resource.group, resource.version, resource.plural)] = resource

    def all(self) -> list[Resource]:
        with self._lock:
            return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first: the highest stable version wins)."""
        result: dict[str, list[str]] = {}
        for resource in self.all():
            versions = result.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        for versions in result.values():
            versions.sort(key=_version_priority)
        return result

    def get(self, group: str, version: str, plural: str) -> Resource:
        with self._lock:
            resource = self._by_path.get((group, version, plural))
        if resource is None:
            raise NotFound("the server could not find the requested resource", name=plural, group=group)
        return resource

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        with self._lock:
            return self._by_path.get((group, version, plural))

    def has_group_version(self, group: str, version: str) -> bool:
        with self._lock:
            return any(g == group and v == version for g, v, _ in self._by_path)

    def by_kind(self, api_version: str, kind: str) -> Resource:
        """The resource serving ``kind`` in ``api_version`` (owner references name kinds, not plurals)."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for resource in self._by_path.values():
                if resource.group == group and resource.version == version and resource.kind == kind:
                    return resource
        raise NotFound(f"no resource of kind {kind!r} is served in {api_version!r}")

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        with self._lock:
            return [r for r in self._by_path.values() if r.group == group and r.version == version]

    def register(self, resource: Resource) -> Resource:
        """Add a custom resource; an existing one at the same path is kept (first registration wins)."""
        with self._lock:
            return self._by_path.setdefault((resource.group, resource.version, resource.plural), resource)

    def unregister_group_plural(self, group: str, plural: str) -> None:
        with self._lock:
            for key in [k for k in self._by_path if k[0] == group and k[2] == plural]:
                del self._by_path[key]


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version order: GA before beta before alpha, higher numbers first."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {"None": 0, "beta": 1, "alpha": 2}[str(match.group(2))]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)


def resource_from_crd(crd: dict) -> list[Resource]:
    """The resources a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    scope_namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        result.append(
            Resource(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                namespaced=scope_namespaced,
                kind=names.get("kind", ""),
                singular=names.get("singular") or names.get("kind", "").lower(),
                short_names=tuple(names.get("shortNames") or ()),
                subresources=frozenset(k for k in ("status", "scale") if k in subresources),
                categories=tuple(names.get("categories") or ()),
            )
        )
    return result
