"""Deploy strategies as pure planning: what to version, which Services move traffic, what to wait for.

``DeployManifestOperator`` runs the plan (apply, wait, switch traffic, clean up); everything that can
be decided from manifests alone is decided here, so it is tested without a cluster and without Airflow.

* ``rolling``: Kubernetes' own rollout. ConfigMaps, Secrets, ReplicaSets and Pods are still versioned
  (Spinnaker's default), so ``kubectl rollout undo`` of a Deployment also brings back its configuration.
* ``redblack``: Deployments are versioned too (``web-v004`` beside ``web-v003``); once the new version
  is stable, each Service in front of it is switched to it (which disables the older versions), and
  the older versions stay, ready for a rollback.
* ``highlander``: like ``redblack``, then the older versions are deleted: one version survives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow_delivery.kubernetes.manifests import (
    RUN_ANNOTATION,
    Manifest,
    content_hash,
    is_namespaced,
    manifest_id,
    pod_template_metadata,
)
from airflow_delivery.kubernetes.stability import WORKLOAD_KINDS
from airflow_delivery.kubernetes.versioning import (
    CLUSTER_LABEL,
    DEFAULT_VERSIONED_KINDS,
    VERSION_LABEL,
    VersionAssignment,
)

Strategy = Literal["rolling", "redblack", "highlander"]
STRATEGIES: tuple[str, ...] = ("rolling", "redblack", "highlander")
VERSIONED_STRATEGIES = frozenset({"redblack", "highlander"})
# Labels a Service must not match on to front every version of a workload.
_VERSION_LABELS = frozenset({VERSION_LABEL, CLUSTER_LABEL})


def check_strategy(strategy: str) -> Strategy:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown deploy strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    return strategy  # type: ignore[return-value]


def versioned_kinds(strategy: str) -> frozenset[str]:
    """Kinds deployed as ``-vNNN`` copies: Spinnaker's defaults, plus Deployments for red/black and highlander."""
    kinds = set(DEFAULT_VERSIONED_KINDS)
    if check_strategy(strategy) in VERSIONED_STRATEGIES:
        kinds.add("Deployment")
    return frozenset(kinds)


def fill_namespace(manifests: Sequence[Manifest], namespace: str) -> list[Manifest]:
    """Give namespaced manifests without a namespace ``namespace`` (cluster-scoped ones are left alone).

    Versioning looks existing versions up by namespace, so every manifest needs a concrete one before.
    """
    result = []
    for manifest in manifests:
        manifest = copy.deepcopy(manifest)
        metadata = manifest.setdefault("metadata", {})
        if is_namespaced(str(manifest.get("kind"))) and not metadata.get("namespace"):
            metadata["namespace"] = namespace
        result.append(manifest)
    return result


def workload_targets(manifests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a deploy waits for: every manifest of a kind that rolls out, as a wait target."""
    return [
        {"kind": str(m["kind"]), "name": str(m["metadata"]["name"]),
         "namespace": (m.get("metadata") or {}).get("namespace"), "api_version": m.get("apiVersion")}
        for m in manifests
        if m.get("kind") in WORKLOAD_KINDS
    ]


def service_fronts(service: Mapping[str, Any], workload: Mapping[str, Any]) -> bool:
    """True when the Service's selector, version labels aside, selects the workload's pods."""
    if (service.get("metadata") or {}).get("namespace") != (workload.get("metadata") or {}).get("namespace"):
        return False
    selector = {k: v for k, v in ((service.get("spec") or {}).get("selector") or {}).items()
                if k not in _VERSION_LABELS}
    if not selector:
        return False
    template = pod_template_metadata(workload) if workload.get("kind") != "Pod" else workload.get("metadata")
    labels = (template or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class TrafficMove:
    """After the new version is stable: point Service ``service`` at ``version`` (``v004``) of ``workload``."""

    service: str
    namespace: str
    workload_kind: str
    workload: str  # the new versioned name, e.g. web-v004
    base: str  # the unversioned name, e.g. web
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"service": self.service, "namespace": self.namespace, "workload_kind": self.workload_kind,
                "workload": self.workload, "base": self.base, "version": self.version}


def plan_traffic(
    manifests: Sequence[Manifest],
    assignments: Sequence[VersionAssignment],
    live_services: Sequence[Mapping[str, Any]] = (),
) -> tuple[list[TrafficMove], list[str]]:
    """The Service switches a versioned deploy makes, and warnings.

    Services come from the manifests and from ``live_services`` (named by the stage, already in the
    cluster). A Service fronts a versioned workload when its selector (version labels aside) selects
    the workload's pods; a Service fronting two workloads of the deploy is an error, since it can
    only send its traffic to one version.
    """
    by_name = {(a.kind, a.namespace, a.name): a for a in assignments}
    workloads = [
        (m, by_name[(str(m["kind"]), str(m["metadata"].get("namespace") or ""), str(m["metadata"]["name"]))])
        for m in manifests
        if m.get("kind") in WORKLOAD_KINDS and m.get("kind") != "Pod"
        and (str(m["kind"]), str(m["metadata"].get("namespace") or ""), str(m["metadata"]["name"])) in by_name
    ]
    services: dict[tuple[str, str], Mapping[str, Any]] = {}
    for service in [*live_services, *(m for m in manifests if m.get("kind") == "Service")]:
        metadata = service.get("metadata") or {}
        services[(str(metadata.get("namespace") or ""), str(metadata.get("name")))] = service
    moves: list[TrafficMove] = []
    warnings: list[str] = []
    for (namespace, name), service in sorted(services.items()):
        fronted = [(m, a) for m, a in workloads if service_fronts(service, m)]
        if len(fronted) > 1:
            names = ", ".join(manifest_id(m) for m, _ in fronted)
            raise ValueError(f"Service {namespace}/{name} selects the pods of several versioned workloads of this "
                             f"deploy ({names}); it can send its traffic to one version only: give each workload "
                             "its own Service (or distinct labels)")
        if not fronted:
            warnings.append(f"Service {namespace}/{name} selects no versioned workload of this deploy; its traffic "
                            "is left alone")
            continue
        _, assignment = fronted[0]
        moves.append(TrafficMove(name, namespace, assignment.kind, assignment.name, assignment.base,
                                 f"v{assignment.version:03d}"))
    if not moves and workloads:
        warnings.append("no Service fronts the new version: traffic is not managed by this deploy (add the Service "
                        "to the manifests or name it in traffic_services)")
    return moves, warnings


def applied_records(manifests: Sequence[Manifest], assignments: Sequence[VersionAssignment]) -> list[dict[str, Any]]:
    """What went to the cluster, for XCom: kind, apiVersion, namespace, name, and version details (never data)."""
    by_name = {(a.kind, a.namespace, a.name): a for a in assignments}
    records = []
    for manifest in manifests:
        metadata = manifest.get("metadata") or {}
        kind, name = str(manifest.get("kind")), str(metadata.get("name"))
        namespace = metadata.get("namespace") or None
        assignment = by_name.get((kind, str(namespace or ""), name))
        records.append({
            "kind": kind, "api_version": manifest.get("apiVersion"), "namespace": namespace, "name": name,
            "base": assignment.base if assignment else None,
            "version": assignment.version if assignment else None,
            "reused": assignment.reused if assignment else None,
        })
    return records


def without_secret_data(manifests: Sequence[Manifest]) -> list[Manifest]:
    """Secrets reduced to kind and metadata (names), for hashes and anything else that may be shown."""
    return [
        {"apiVersion": m.get("apiVersion"), "kind": "Secret", "metadata": copy.deepcopy(m.get("metadata") or {})}
        if m.get("kind") == "Secret" else m
        for m in manifests
    ]


def deployed_hash(manifests: Sequence[Manifest]) -> str:
    """Content hash of what a deploy applied, the same for every run deploying the same thing.

    The run id annotation is left out (a retry or a later run of identical content has the same hash)
    and Secrets count by name only (a hash of secret values must not be shown).
    """
    stripped = []
    for manifest in without_secret_data(manifests):
        manifest = copy.deepcopy(manifest)
        annotations = (manifest.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(RUN_ANNOTATION, None)
        stripped.append(manifest)
    return content_hash(stripped)
