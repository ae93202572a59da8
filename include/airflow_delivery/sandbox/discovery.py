"""Discovery documents (``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``, ``/version``).

Clients find resources here: ``kubectl`` maps ``deploy`` to ``deployments.apps``, the dynamic client
maps ``kind`` to a URL. Only the unaggregated (legacy) discovery format is served; clients that ask
for aggregated discovery fall back to it because the response's Content-Type is plain JSON.
"""

from __future__ import annotations

from typing import Any

from airflow_delivery.sandbox.resources import Resource, ResourceRegistry

SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"], "log": ["get"]}
READ_ONLY_VERBS = ["get", "list", "watch"]
WRITE_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def version_info(kube_version: str) -> dict[str, Any]:
    major, minor, *_ = kube_version.lstrip("v").split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{kube_version.lstrip('v')}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": major,
        "emulationMinor": minor,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list(registry: ResourceRegistry) -> dict[str, Any]:
    groups = []
    for group, versions in sorted(registry.group_versions().items()):
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for resource in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
        resources.append(_entry(resource))
        for sub in sorted(resource.subresources):
            resources.append(_subresource_entry(resource, sub))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _entry(resource: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": WRITE_VERBS,
        "storageVersionHash": "",
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def _subresource_entry(resource: Resource, sub: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{resource.plural}/{sub}",
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": SUBRESOURCE_VERBS[sub],
    }
    if sub == "scale":
        entry.update({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    return entry
