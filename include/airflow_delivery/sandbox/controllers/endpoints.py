"""The Endpoints controller: each Service with a selector gets an ``Endpoints`` object listing the IPs of
its ready pods (``notReadyAddresses`` for the others), so callers can see which pods a Service selects."""

from __future__ import annotations

from airflow_delivery.sandbox.controllers.common import Obj, Resources, safe_write
from airflow_delivery.sandbox.controllers.replicaset import pod_ready
from airflow_delivery.sandbox.errors import ApiError
from airflow_delivery.sandbox.selectors import LabelSelector, Requirement
from airflow_delivery.sandbox.store import ObjectStore

COMPONENT = "endpoint-controller"


class EndpointsController:
    def __init__(self, store: ObjectStore, resources: Resources) -> None:
        self.store = store
        self.resources = resources
        self._last_rv = -1

    def reconcile(self) -> None:
        rv = self.store.resource_version
        if rv == self._last_rv:
            return
        self._last_rv = rv
        services, _ = self.store.list(self.resources.services)
        pods, _ = self.store.list(self.resources.pods)
        wanted: set[tuple[str, str]] = set()
        for service in services:
            selector = (service.get("spec") or {}).get("selector")
            if not selector:
                continue
            md = service["metadata"]
            wanted.add((md["namespace"], md["name"]))
            match = LabelSelector(tuple(Requirement(k, "=", frozenset({str(v)})) for k, v in selector.items()))
            members = [p for p in pods if p["metadata"]["namespace"] == md["namespace"]
                       and match.matches(p["metadata"].get("labels")) and (p.get("status") or {}).get("podIP")
                       and not p["metadata"].get("deletionTimestamp")]
            self._write(service, members)
        endpoints, _ = self.store.list(self.resources.endpoints)
        for ep in endpoints:
            key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
            managed = (ep["metadata"].get("labels") or {}).get("endpoints.sandbox/managed") == "true"
            if managed and key not in wanted:
                try:
                    self.store.delete(self.resources.endpoints, key[0], key[1])
                except ApiError:
                    pass

    def _write(self, service: Obj, pods: list[Obj]) -> None:
        md = service["metadata"]
        ready = [self._address(p) for p in pods if pod_ready(p)]
        not_ready = [self._address(p) for p in pods if not pod_ready(p)]
        ports = []
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            entry: Obj = {"port": self._resolve_port(target, pods), "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
        subsets = []
        if ready or not_ready:
            subset: Obj = {"ports": ports}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            subsets.append(subset)
        body: Obj = {"metadata": {"name": md["name"], "namespace": md["namespace"],
                                  "labels": {**(md.get("labels") or {}), "endpoints.sandbox/managed": "true"}}}
        if subsets:
            body["subsets"] = subsets
        existing = self.store.try_get(self.resources.endpoints, md["namespace"], md["name"])
        if existing is None:
            try:
                self.store.create(self.resources.endpoints, body, manager=COMPONENT)
            except ApiError:
                pass
            return
        if existing.get("subsets") != body.get("subsets") or existing["metadata"].get("labels") != \
                body["metadata"]["labels"]:
            existing["metadata"]["labels"] = body["metadata"]["labels"]
            existing.pop("subsets", None)
            if subsets:
                existing["subsets"] = subsets
            safe_write(self.store, self.resources.endpoints, existing, manager=COMPONENT)

    @staticmethod
    def _address(pod: Obj) -> Obj:
        md = pod["metadata"]
        return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
                "targetRef": {"kind": "Pod", "name": md["name"], "namespace": md["namespace"], "uid": md["uid"]}}

    @staticmethod
    def _resolve_port(target: object, pods: list[Obj]) -> int:
        if isinstance(target, int):
            return target
        for pod in pods:
            for container in pod["spec"].get("containers") or []:
                for port in container.get("ports") or []:
                    if port.get("name") == target:
                        return int(port["containerPort"])
        return int(str(target)) if str(target).isdigit() else 0
