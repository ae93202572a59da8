"""The Kubernetes REST semantics, independent of the HTTP server that carries them.

``KubeApi.handle`` takes an ``ApiRequest`` and returns an ``ApiResponse`` (a JSON or text body) or a
``StreamResponse`` (watch and ``log?follow=true``: an iterator of chunks). Every failure is an
``ApiError`` rendered as a ``kind: Status`` body. Routes:

* discovery: ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>[/<version>]``, ``/version``, ``/healthz``;
* resources: ``/api/v1[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]`` and the same under
  ``/apis/<group>/<version>``; sub-resources ``status``, ``scale`` and ``log``;
* administration: ``/sandbox/faults`` and ``/sandbox/config`` (never subject to faults).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import yaml

from airflow_delivery.sandbox import discovery
from airflow_delivery.sandbox.apply import server_side_apply
from airflow_delivery.sandbox.clock import rfc3339
from airflow_delivery.sandbox.config import SandboxConfig
from airflow_delivery.sandbox.errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
    error_for_code,
)
from airflow_delivery.sandbox.faults import FaultInjector, RequestInfo
from airflow_delivery.sandbox.logs import PodLogs
from airflow_delivery.sandbox.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
)
from airflow_delivery.sandbox.resources import Resource, ResourceRegistry, resource_from_crd
from airflow_delivery.sandbox.selectors import object_matcher, selector_to_string
from airflow_delivery.sandbox.store import ObjectStore, StoreEvent
from airflow_delivery.sandbox.tables import to_table

log = logging.getLogger(__name__)

Obj = dict[str, Any]
JSON = "application/json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
# Groups Kubernetes itself serves: an unknown plural there is a 404, never a new generic resource.
BUILTIN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "events.k8s.io",
                            "apiextensions.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
                            "coordination.k8s.io", "discovery.k8s.io", "admissionregistration.k8s.io"})
# Resources whose DELETE answers with the deleted object rather than a Success Status.
RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "services"), ("", "namespaces")})


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def from_target(cls, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> ApiRequest:
        path, _, query = target.partition("?")
        return cls(method.upper(), path, parse_qs(query, keep_blank_values=True), headers, body)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("true", "1")

    def header(self, name: str) -> str:
        return str(self.headers.get(name) or "")


@dataclass
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> ApiResponse:
        return cls(status, json.dumps(body, separators=(",", ":")).encode(), JSON, headers or {})

    @classmethod
    def error(cls, error: ApiError) -> ApiResponse:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
        return cls.json(error.code, error.to_status(), headers)


@dataclass
class StreamResponse:
    """A chunked response: ``chunks`` yields bytes; ``drop_after_chunks``/``drop_after_seconds`` cut the
    connection without the terminating chunk (fault injection)."""

    chunks: Iterator[bytes]
    content_type: str = JSON
    drop_after_chunks: int | None = None
    drop_after_seconds: float | None = None
    close: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Route:
    group: str
    version: str
    namespace: str | None
    plural: str
    name: str | None
    subresource: str | None

    @property
    def verb_target(self) -> str:
        return f"/{self.plural}" + (f"/{self.name}" if self.name else "")


def parse_route(path: str) -> Route | None:
    """Split a resource path; ``None`` when it is not one (discovery and other paths)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    return Route(group, version, namespace, rest[0], rest[1] if len(rest) > 1 else None,
                 rest[2] if len(rest) > 2 else None)


def default_field_manager(user_agent: str) -> str:
    """Kubernetes names an unnamed manager after the client's User-Agent product (``kubectl``)."""
    return (user_agent.split("/", 1)[0] or "unknown")[:128]


class KubeApi:
    """Answers Kubernetes API requests from an ``ObjectStore``."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        registry: ResourceRegistry,
        config: SandboxConfig,
        faults: FaultInjector,
        pod_logs: PodLogs,
        kube_version: str,
        server_address: Callable[[], str],
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.registry = registry
        self.config = config
        self.faults = faults
        self.pod_logs = pod_logs
        self.kube_version = kube_version
        self.server_address = server_address
        self.stopping = stopping

    # --- entry point ----------------------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiResponse | StreamResponse:
        try:
            if request.path.startswith("/sandbox/"):
                return self._admin(request)
            route = parse_route(request.path)
            info = self._request_info(request, route)
            drop_chunks, drop_seconds = self._inject_faults(info)
            if route is None:
                return self._non_resource(request)
            response = self._resource(request, route)
            if isinstance(response, StreamResponse):
                response.drop_after_chunks, response.drop_after_seconds = drop_chunks, drop_seconds
            return response
        except ApiError as err:
            return ApiResponse.error(err)
        except Exception as exc:
            log.exception("sandbox: unexpected error serving %s %s", request.method, request.path)
            return ApiResponse.error(InternalError(f"sandbox internal error: {type(exc).__name__}: {exc}"))

    def _request_info(self, request: ApiRequest, route: Route | None) -> RequestInfo:
        if route is None:
            return RequestInfo(request.method, request.path, "get")
        verb = {
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if route.name else "deletecollection",
        }.get(request.method, "get" if route.name else ("watch" if request.flag("watch") else "list"))
        return RequestInfo(request.method, request.path, verb, route.plural, route.namespace or "",
                           route.name or "", route.subresource or "")

    def _inject_faults(self, info: RequestInfo) -> tuple[int | None, float | None]:
        drop_chunks: int | None = None
        drop_seconds: float | None = None
        for rule in self.faults.take(info):
            if rule.action == "latency":
                self.stopping.wait(rule.delay)
            elif rule.action == "error":
                err = error_for_code(int(rule.status), rule.message or f"sandbox fault {rule.id}: injected "
                                     f"{rule.status} for {info.verb} {info.path}")
                err.retry_after = rule.retry_after
                raise err
            elif rule.action == "drop_watch":
                drop_chunks = rule.after_events if rule.delay <= 0 else None
                drop_seconds = rule.delay if rule.delay > 0 else None
        return drop_chunks, drop_seconds

    # --- non-resource paths ---------------------------------------------------------------------------

    def _non_resource(self, request: ApiRequest) -> ApiResponse:
        if request.method != "GET":
            raise MethodNotAllowed(f"the server does not allow this method on the requested resource: "
                                   f"{request.method} {request.path}")
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz"):
            return ApiResponse(200, b"ok", "text/plain")
        if path == "/version":
            return ApiResponse.json(200, discovery.version_info(self.kube_version))
        if path == "/api":
            return ApiResponse.json(200, discovery.api_versions(self.server_address()))
        if path == "/apis":
            return ApiResponse.json(200, discovery.api_group_list(self.registry))
        if len(parts) == 2 and parts[0] == "api" and parts[1] == "v1":
            return ApiResponse.json(200, discovery.api_resource_list(self.registry, "", "v1"))
        if len(parts) == 2 and parts[0] == "apis":
            group_doc = discovery.api_group(self.registry, parts[1])
            if group_doc is not None:
                return ApiResponse.json(200, group_doc)
        if len(parts) == 3 and parts[0] == "apis" and self.registry.has_group_version(parts[1], parts[2]):
            return ApiResponse.json(200, discovery.api_resource_list(self.registry, parts[1], parts[2]))
        if path == "/":
            return ApiResponse.json(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/version"]})
        raise NotFound("the server could not find the requested resource")

    # --- administration -------------------------------------------------------------------------------

    def _admin(self, request: ApiRequest) -> ApiResponse:
        parts = [p for p in request.path.split("/") if p][1:]
        try:
            if parts == ["healthz"]:
                return ApiResponse.json(200, {"ok": True, "resourceVersion": self.store.resource_version})
            if parts == ["faults"]:
                if request.method == "GET":
                    return ApiResponse.json(200, {"faults": [r.to_dict() for r in self.faults.rules()]})
                if request.method == "POST":
                    return ApiResponse.json(201, self.faults.add(_json_body(request)).to_dict())
                if request.method == "DELETE":
                    self.faults.clear()
                    return ApiResponse.json(200, {"faults": []})
            if len(parts) == 2 and parts[0] == "faults" and request.method == "DELETE":
                if not self.faults.remove(parts[1]):
                    raise NotFound(f"no fault rule {parts[1]!r}; GET /sandbox/faults lists the active ones")
                return ApiResponse.json(200, {"removed": parts[1]})
            if parts == ["config"]:
                if request.method == "GET":
                    return ApiResponse.json(200, self.config.to_dict())
                if request.method in ("PUT", "PATCH", "POST"):
                    self.config.update(_json_body(request))
                    self.store.changed.set()
                    return ApiResponse.json(200, self.config.to_dict())
        except (ValueError, TypeError) as exc:
            raise BadRequest(str(exc)) from exc
        raise NotFound(f"no sandbox admin endpoint {request.method} {request.path}; see "
                       "/sandbox/faults, /sandbox/config, /sandbox/healthz")

    # --- resources ------------------------------------------------------------------------------------

    def _resolve(self, route: Route, request: ApiRequest) -> Resource:
        resource = self.registry.find(route.group, route.version, route.plural)
        if resource is None and request.method in ("POST", "PATCH") and route.group not in BUILTIN_GROUPS:
            resource = self._register_generic(route, request)
        if resource is None:
            raise NotFound("the server could not find the requested resource", name=route.plural,
                           group=route.group)
        if route.namespace is not None and not resource.namespaced:
            raise NotFound("the server could not find the requested resource")
        if route.subresource and route.subresource not in resource.subresources:
            raise NotFound(f"the server could not find the requested resource ({route.plural}/"
                           f"{route.subresource} is not served)")
        return resource

    def _register_generic(self, route: Route, request: ApiRequest) -> Resource | None:
        """Custom resources without a CRD: the first create at a new path defines the kind."""
        try:
            body = _decode(request)
        except ApiError:
            return None
        kind = body.get("kind") if isinstance(body, dict) else None
        if not kind:
            return None
        return self.registry.register(Resource(route.group, route.version, route.plural,
                                               route.namespace is not None, kind=kind, singular=kind.lower(),
                                               subresources=frozenset()))

    def _resource(self, request: ApiRequest, route: Route) -> ApiResponse | StreamResponse:
        resource = self._resolve(route, request)
        method = request.method
        if route.subresource == "log":
            if method != "GET":
                raise MethodNotAllowed("pods/log only supports GET")
            return self._log(request, route)
        if route.subresource == "scale":
            return self._scale(request, route, resource)
        if route.name is None:
            if method == "GET":
                return self._watch(request, route, resource) if request.flag("watch") else \
                    self._list(request, route, resource)
            if method == "POST":
                return self._create(request, route, resource)
            if method == "DELETE":
                return self._delete_collection(request, route, resource)
        else:
            if method == "GET":
                obj = self.store.get(resource, route.namespace or "", route.name)
                return self._object_response(request, resource, obj, 200)
            if method == "PUT":
                return self._replace(request, route, resource)
            if method == "PATCH":
                return self._patch(request, route, resource)
            if method == "DELETE":
                return self._delete(request, route, resource)
        raise MethodNotAllowed(f"the server does not allow this method on the requested resource: {method} "
                               f"{request.path}")

    def _object_response(self, request: ApiRequest, resource: Resource, obj: Obj, status: int) -> ApiResponse:
        if "as=Table" in request.header("Accept"):
            table = to_table(resource, [obj], int(obj["metadata"].get("resourceVersion") or 0),
                             self.store.clock.now(), request.param("includeObject") or "Metadata")
            return ApiResponse.json(status, table)
        return ApiResponse.json(status, obj)

    def _list(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        matcher = object_matcher(request.param("labelSelector"), request.param("fieldSelector"))
        items, rv = self.store.list(resource, route.namespace, matcher)
        offset = _decode_continue(request.param("continue"))
        limit = int(request.param("limit") or 0)
        metadata: Obj = {"resourceVersion": str(rv)}
        if offset or limit:
            end = offset + limit if limit > 0 else len(items)
            if end < len(items):
                metadata["continue"] = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
                metadata["remainingItemCount"] = len(items) - end
            items = items[offset:end]
        if "as=Table" in request.header("Accept"):
            return ApiResponse.json(200, {**to_table(resource, items, rv, self.store.clock.now(),
                                                     request.param("includeObject") or "Metadata"),
                                          "metadata": metadata})
        return ApiResponse.json(200, {"kind": resource.list_kind, "apiVersion": resource.api_version,
                                      "metadata": metadata, "items": items})

    def _watch(self, request: ApiRequest, route: Route, resource: Resource) -> StreamResponse:
        matcher = object_matcher(request.param("labelSelector"), request.param("fieldSelector"))
        since = request.param("resourceVersion")
        send_initial = request.flag("sendInitialEvents")
        if send_initial:
            since = None
        watcher, initial = self.store.watch(resource, route.namespace, since)
        timeout = float(request.param("timeoutSeconds") or 1800)
        bookmarks = request.flag("allowWatchBookmarks")
        store, stopping = self.store, self.stopping

        def bookmark(initial_end: bool = False) -> bytes:
            md: Obj = {"resourceVersion": str(store.resource_version)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            return _line({"type": "BOOKMARK", "object": {"kind": resource.kind, "apiVersion": resource.api_version,
                                                         "metadata": md}})

        def chunks() -> Iterator[bytes]:
            try:
                for event in initial:
                    line = _translate(event, resource, matcher)
                    if line:
                        yield line
                if send_initial:
                    yield bookmark(initial_end=True)
                deadline = time.monotonic() + timeout
                last_bookmark = time.monotonic()
                while not stopping.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    try:
                        event = watcher.events.get(timeout=min(0.25, remaining))
                    except queue.Empty:
                        if bookmarks and time.monotonic() - last_bookmark > 5:
                            last_bookmark = time.monotonic()
                            yield bookmark()
                        continue
                    if event is None:
                        return
                    line = _translate(event, resource, matcher)
                    if line:
                        yield line
            finally:
                store.stop_watch(watcher)

        return StreamResponse(chunks(), close=lambda: store.stop_watch(watcher))

    def _create(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        body = self._body_object(request, resource)
        md = body.setdefault("metadata", {})
        if route.namespace is not None:
            if md.get("namespace") and md["namespace"] != route.namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the "
                                 f"request ({md['namespace']!r} vs {route.namespace!r})")
            md["namespace"] = route.namespace
        if resource.storage_key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            _establish_crd(body)
        created = self.store.create(resource, body, manager=self._manager(request), dry_run=self._dry_run(request))
        if resource.storage_key == ("apiextensions.k8s.io", "customresourcedefinitions") and not self._dry_run(request):
            for served in resource_from_crd(created):
                self.registry.register(served)
        return self._object_response(request, resource, created, 201)

    def _replace(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        body = self._body_object(request, resource)
        md = body.setdefault("metadata", {})
        if md.get("name") and md["name"] != route.name:
            raise BadRequest(f"the name of the object ({md['name']}) does not match the name on the URL "
                             f"({route.name})")
        md["name"] = route.name
        if route.namespace is not None:
            md["namespace"] = route.namespace
        updated = self.store.update(resource, body, manager=self._manager(request),
                                    subresource=route.subresource or "", dry_run=self._dry_run(request))
        return self._object_response(request, resource, updated, 200)

    def _patch(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        content_type = request.header("Content-Type").split(";")[0].strip().lower()
        if content_type not in PATCH_TYPES:
            raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                       f"include: {', '.join(PATCH_TYPES)} (got {content_type or 'none'!r})")
        namespace, name, sub = route.namespace or "", route.name or "", route.subresource or ""
        manager, dry_run = self._manager(request), self._dry_run(request)
        if content_type == APPLY_PATCH:
            return self._apply(request, route, resource, manager, dry_run)
        body = _decode(request)
        with self.store.lock:
            live = self.store.get(resource, namespace, name)
            patched = apply_patch(content_type, live, body)
            patched.setdefault("metadata", {})
            if patched["metadata"].get("name", name) != name:
                raise BadRequest(f"a patch cannot change metadata.name ({name!r} to {patched['metadata']['name']!r})")
            patched["metadata"]["name"] = name
            updated = self.store.update(resource, patched, manager=manager, subresource=sub, dry_run=dry_run)
        return self._object_response(request, resource, updated, 200)

    def _apply(self, request: ApiRequest, route: Route, resource: Resource, manager: str, dry_run: bool) -> ApiResponse:
        if not request.param("fieldManager"):
            raise error_for_code(422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                                 "required for apply patch")
        body = _decode(request)
        if not isinstance(body, dict):
            raise BadRequest("an apply patch must be an object (a YAML or JSON manifest)")
        for key in ("apiVersion", "kind"):
            if not body.get(key):
                raise BadRequest(f"invalid object type: {key} must be set in an apply patch")
        if body["apiVersion"] != resource.api_version or body["kind"] != resource.kind:
            raise BadRequest(f"the API version/kind in the data ({body['apiVersion']}/{body['kind']}) does not match "
                             f"the expected {resource.api_version}/{resource.kind}")
        md = body.setdefault("metadata", {})
        name = route.name or ""
        if md.get("name") and md["name"] != name:
            raise BadRequest(f"the name of the object ({md['name']}) does not match the name on the URL ({name})")
        namespace = route.namespace or ""
        now = rfc3339(self.store.clock.now())
        with self.store.lock:
            live = self.store.try_get(resource, namespace, name)
            result = server_side_apply(live, body, manager=manager, api_version=resource.api_version, now=now,
                                       force=request.flag("force"), subresource=route.subresource or "")
            merged = result.object
            merged["apiVersion"], merged["kind"] = resource.api_version, resource.kind
            merged.setdefault("metadata", {})["name"] = name
            if resource.namespaced:
                merged["metadata"]["namespace"] = namespace
            if live is None:
                if route.subresource:
                    raise NotFound(f'{resource.qualified_name} "{name}" not found', name=name,
                                   group=resource.group, kind=resource.plural)
                if resource.storage_key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                    _establish_crd(merged)
                obj = self.store.create(resource, merged, manager=manager, dry_run=dry_run,
                                        managed_fields=result.managed_fields)
                if not dry_run and resource.storage_key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                    for served in resource_from_crd(obj):
                        self.registry.register(served)
                status = 201
            else:
                merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                obj = self.store.update(resource, merged, manager=manager, subresource=route.subresource or "",
                                        dry_run=dry_run, managed_fields=result.managed_fields)
                status = 200
        return self._object_response(request, resource, obj, status)

    def _delete(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        options = self._delete_options(request)
        obj, gone = self.store.delete(resource, route.namespace or "", route.name or "",
                                      propagation=options.get("propagationPolicy"),
                                      preconditions=options.get("preconditions"), dry_run=self._dry_run(request, options))
        if not gone:
            return ApiResponse.json(200 if self._dry_run(request, options) else 202, obj)
        if resource.storage_key in RETURNS_DELETED_OBJECT:
            return ApiResponse.json(200, obj)
        return ApiResponse.json(200, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": route.name, "group": resource.group, "kind": resource.plural,
                        "uid": obj["metadata"].get("uid")},
        })

    def _delete_collection(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        options = self._delete_options(request)
        matcher = object_matcher(request.param("labelSelector"), request.param("fieldSelector"))
        items, _ = self.store.list(resource, route.namespace, matcher)
        deleted = []
        for item in items:
            try:
                obj, _ = self.store.delete(resource, item["metadata"].get("namespace", ""), item["metadata"]["name"],
                                           propagation=options.get("propagationPolicy"),
                                           dry_run=self._dry_run(request, options))
                deleted.append(obj)
            except NotFound:
                continue
        return ApiResponse.json(200, {"kind": resource.list_kind, "apiVersion": resource.api_version,
                                      "metadata": {"resourceVersion": str(self.store.resource_version)},
                                      "items": deleted})

    def _scale(self, request: ApiRequest, route: Route, resource: Resource) -> ApiResponse:
        namespace, name = route.namespace or "", route.name or ""
        if request.method == "GET":
            return ApiResponse.json(200, _scale_view(self.store.get(resource, namespace, name)))
        if request.method not in ("PUT", "PATCH"):
            raise MethodNotAllowed(f"{resource.plural}/scale supports GET, PUT and PATCH")
        with self.store.lock:
            live = self.store.get(resource, namespace, name)
            current = _scale_view(live)
            if request.method == "PUT":
                wanted = _decode(request)
            else:
                content_type = request.header("Content-Type").split(";")[0].strip().lower()
                if content_type == APPLY_PATCH:
                    content_type = MERGE_PATCH
                wanted = apply_patch(content_type, current, _decode(request))
            if not isinstance(wanted, dict):
                raise BadRequest("a Scale body must be an object")
            sent_rv = (wanted.get("metadata") or {}).get("resourceVersion")
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise error_for_code(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                     f"{replicas!r}: must be a non-negative integer")
            live["spec"]["replicas"] = replicas
            if sent_rv and request.method == "PUT":
                live["metadata"]["resourceVersion"] = sent_rv
            updated = self.store.update(resource, live, manager=self._manager(request),
                                        dry_run=self._dry_run(request))
        return ApiResponse.json(200, _scale_view(updated))

    def _log(self, request: ApiRequest, route: Route) -> ApiResponse | StreamResponse:
        pod_resource = self.registry.get("", "v1", "pods")
        namespace, name = route.namespace or "default", route.name or ""
        pod = self.store.get(pod_resource, namespace, name)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = request.param("container")
        if not container:
            if len(names) != 1:
                raise BadRequest(f"a container name must be specified for pod {name}, choose one of: {names}")
            container = names[0]
        elif container not in names + [c["name"] for c in pod["spec"].get("initContainers") or []]:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        lines = self.pod_logs.read(namespace, name, container)
        tail = request.param("tailLines")
        if tail is not None:
            lines = lines[-int(tail):] if int(tail) > 0 else []
        if not request.flag("follow"):
            return ApiResponse(200, "".join(f"{line}\n" for line in lines).encode(), "text/plain")
        store, logs, stopping = self.store, self.pod_logs, self.stopping

        def chunks() -> Iterator[bytes]:
            sent = len(self.pod_logs.read(namespace, name, container))
            if lines:
                yield "".join(f"{line}\n" for line in lines).encode()
            while not stopping.is_set():
                with logs.changed:
                    logs.changed.wait(0.25)
                new = logs.read(namespace, name, container, sent)
                if new:
                    sent += len(new)
                    yield "".join(f"{line}\n" for line in new).encode()
                current = store.try_get(pod_resource, namespace, name)
                if current is None or (current.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    return

        return StreamResponse(chunks(), "text/plain")

    # --- helpers --------------------------------------------------------------------------------------

    def _body_object(self, request: ApiRequest, resource: Resource) -> Obj:
        body = _decode(request)
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON or YAML object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != resource.api_version:
            raise BadRequest(f"the API version in the data ({api_version}) does not match the expected API "
                             f"version ({resource.api_version})")
        if kind and kind != resource.kind:
            raise BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({resource.kind}) "
                             f"for {resource.qualified_name}")
        return body

    def _manager(self, request: ApiRequest) -> str:
        return request.param("fieldManager") or default_field_manager(request.header("User-Agent"))

    def _dry_run(self, request: ApiRequest, options: Obj | None = None) -> bool:
        values = request.query.get("dryRun") or (options or {}).get("dryRun") or []
        for value in values:
            if value != "All":
                raise BadRequest(f"invalid dryRun value {value!r}: the only valid value is \"All\"")
        return bool(values)

    def _delete_options(self, request: ApiRequest) -> Obj:
        options: Obj = {}
        if request.body.strip():
            decoded = _decode(request)
            if isinstance(decoded, dict):
                options = decoded
        if request.param("propagationPolicy"):
            options["propagationPolicy"] = request.param("propagationPolicy")
        if options.get("orphanDependents") is True or request.flag("orphanDependents"):
            options.setdefault("propagationPolicy", "Orphan")
        return options


def _scale_view(obj: Obj) -> Obj:
    md = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_to_string((obj.get("spec") or {}).get("selector")),
        },
    }


def _establish_crd(crd: Obj) -> None:
    names = (crd.get("spec") or {}).get("names") or {}
    crd["status"] = {
        "acceptedNames": names,
        "storedVersions": [v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("storage")],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"},
        ],
    }


def _translate(event: StoreEvent, resource: Resource, matcher: Callable[[Obj], bool]) -> bytes | None:
    """A store event as a watch line for this watcher, honouring selector transitions."""
    new_matches = matcher(event.object)
    old_matches = event.old is not None and matcher(event.old)
    kind: str | None = event.type
    if event.type == "MODIFIED":
        kind = "MODIFIED" if new_matches and old_matches else "ADDED" if new_matches else \
            "DELETED" if old_matches else None
    elif event.type == "ADDED":
        kind = "ADDED" if new_matches else None
    elif event.type == "DELETED":
        kind = "DELETED" if new_matches else None
    if kind is None:
        return None
    obj = copy.deepcopy(event.object)
    obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
    return _line({"type": kind, "object": obj})


def _line(event: Obj) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _decode(request: ApiRequest) -> Any:
    content_type = request.header("Content-Type").split(";")[0].strip().lower()
    if "protobuf" in content_type or "cbor" in content_type:
        raise UnsupportedMediaType(f"the sandbox only speaks JSON and YAML, not {content_type}; configure the "
                                   "client for application/json")
    if not request.body.strip():
        raise BadRequest("the request needs a body")
    text = request.body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if "json" in content_type and "yaml" not in content_type:
            raise BadRequest(f"the request body is not valid JSON (Content-Type {content_type})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadRequest(f"the request body is neither valid JSON nor YAML: {exc}") from exc


def _json_body(request: ApiRequest) -> Any:
    try:
        return json.loads(request.body or b"{}")
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request body must be JSON: {exc}") from exc


def _decode_continue(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise error_for_code(410, "the provided continue parameter is too old or malformed; restart the list "
                             "without it") from exc
