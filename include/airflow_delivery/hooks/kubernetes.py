"""Kubernetes access for delivery stages: discovery, get/list, server-side apply, patch, delete, logs, events.

Built on the cncf-kubernetes provider's ``KubernetesHook`` / ``AsyncKubernetesHook`` (same ``kubernetes``
connection type; a connection id is a Spinnaker "account"), which load the kubeconfig and hand us the
official clients. The provider lacks what deploys need: server-side apply, generic kinds found through
discovery (it guesses CRD plurals as ``kind.lower() + "s"``), a dry run of a whole batch, retries that
know which requests are safe to repeat, and errors that say what failed.

How it is organised:

* Every operation is written once, as a generator that yields ``_Request``s and receives the decoded
  answers (``_Operations``). A sync driver (workers) and an async driver (triggerer) run the same
  generators, so discovery, paths and error mapping cannot drift apart. A failed request is thrown
  back into the generator, so an operation can handle, say, a 404 where it expects one.
* Discovery maps ``(apiVersion, kind)`` to a REST resource (plural, namespaced) from the server's own
  ``APIResourceList``; a miss re-reads discovery once, since a CRD may have been installed meanwhile.
* One retry helper (``_Operations._retry_delay``) decides for both drivers: 429 always (honouring
  ``Retry-After``), 5xx, timeouts and connection errors only for requests that are safe to repeat
  (reads, server-side apply, merge/strategic patches, deletes), 409 only for server-side apply, whose
  re-send is idempotent (never for a field-manager conflict). Attempts are bounded and each retry is
  logged before sleeping. Every call carries a timeout (``request_timeout``).
* Failures become ``airflow_delivery.kubernetes.errors`` exceptions naming the action, the object and
  the connection id, chained to the client exception.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook

from airflow_delivery.kubernetes.errors import (
    ApplyConflictError,
    ConflictError,
    DocumentError,
    DocumentFailure,
    DryRunRejectedError,
    KubernetesApiError,
    KubernetesError,
    KubernetesUnavailableError,
    NotFoundError,
    Target,
    TooManyRequestsError,
    UnknownKindError,
    error_from_status,
)

T = TypeVar("T")
Obj = dict[str, Any]
Objects = list[dict[str, Any]]

DEFAULT_FIELD_MANAGER = "airflow-delivery"
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_NAMESPACE = "default"

PatchType = Literal["strategic", "merge", "json"]
Propagation = Literal["Foreground", "Background", "Orphan"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")

# How a request may be retried (see the module docstring).
RetryMode = Literal["safe", "apply", "unsafe"]


@dataclass(frozen=True)
class ApiResource:
    """A REST resource found by discovery. The plural comes from the server, never from the kind."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()
    subresources: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path: ``/apis/apps/v1/namespaces/ns/deployments/web`` (namespace ignored if cluster-scoped)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter; a server's ``Retry-After`` wins when given.

    A ``Retry-After`` longer than ``max_retry_after`` ends the retries at once: waiting minutes inside
    a task is worse than failing with the reason.
    """

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if min(self.backoff, self.max_backoff, self.max_retry_after) < 0:
            raise ValueError("RetryPolicy backoff, max_backoff and max_retry_after must not be negative")

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based), or ``None`` to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * (0.8 + 0.4 * random.random())


@dataclass(frozen=True)
class _Request:
    """One API call an operation needs. ``text`` asks for the raw body (logs) instead of JSON."""

    method: str
    path: str
    target: Target
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str | None = None
    text: bool = False
    retry: RetryMode = "safe"
    field_manager: str | None = None


Flow = Generator[_Request, Any, T]


# --- discovery (pure) ----------------------------------------------------------------------------------


def discovery_path(api_version: str) -> str:
    """Where the ``APIResourceList`` of ``api_version`` is served (``v1`` is the core group)."""
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def parse_resource_list(api_version: str, document: Mapping[str, Any]) -> dict[str, ApiResource]:
    """``kind -> ApiResource`` from an ``APIResourceList``; sub-resources attach to their parent."""
    group, version = split_api_version(api_version)
    entries = [e for e in document.get("resources") or [] if isinstance(e, Mapping)]
    subresources: dict[str, set[str]] = {}
    for entry in entries:
        name = str(entry.get("name") or "")
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, set()).add(sub)
    result: dict[str, ApiResource] = {}
    for entry in entries:
        name = str(entry.get("name") or "")
        kind = str(entry.get("kind") or "")
        if not name or "/" in name or not kind:
            continue
        result.setdefault(kind, ApiResource(
            group=group, version=version, plural=name, kind=kind, namespaced=bool(entry.get("namespaced")),
            verbs=frozenset(str(v) for v in entry.get("verbs") or []),
            subresources=frozenset(subresources.get(name, set())),
        ))
    return result


def preferred_group_versions(group_list: Mapping[str, Any]) -> list[str]:
    """The preferred ``group/version`` of every group in an ``APIGroupList``."""
    result = []
    for group in group_list.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if not preferred and group.get("versions"):
            preferred = group["versions"][0].get("groupVersion")
        if preferred:
            result.append(str(preferred))
    return result


def describe_document(manifest: Any, index: int | None = None) -> str:
    """``document 2 (Deployment default/web)`` for messages; tolerant of malformed documents."""
    prefix = f"document {index}" if index is not None else "manifest"
    if not isinstance(manifest, Mapping):
        return prefix
    raw_metadata = manifest.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    kind = manifest.get("kind") or "?"
    name = metadata.get("name") or "?"
    namespace = metadata.get("namespace")
    return f"{prefix} ({kind} {namespace + '/' if namespace else ''}{name})"


def check_document(manifest: Any, index: int | None = None) -> tuple[str, str, str]:
    """``(apiVersion, kind, name)`` of a manifest; ``DocumentError`` naming the document and the field."""
    where = describe_document(manifest, index)
    if not isinstance(manifest, Mapping):
        raise DocumentError(f"{where} is a {type(manifest).__name__}, not a mapping: each manifest must be a "
                            "YAML/JSON object with apiVersion, kind and metadata.name", index=index)
    problems = []
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest.get(key):
            problems.append(f"{key} is missing or not a string")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        problems.append("metadata is missing or not a mapping")
    elif not isinstance(metadata.get("name"), str) or not metadata.get("name"):
        problems.append("metadata.name is missing (generateName cannot be used with server-side apply)")
    if problems:
        raise DocumentError(f"{where}: " + "; ".join(problems), index=index)
    return str(manifest["apiVersion"]), str(manifest["kind"]), str(metadata["name"])  # type: ignore[index]


# --- operations, written once for both drivers -------------------------------------------------------


class _Operations:
    """The operations as request generators, plus the retry decision both drivers share."""

    conn_id: str | None
    log: Any
    request_timeout: float
    retry_policy: RetryPolicy
    _discovery: dict[str, dict[str, ApiResource]]
    _all_kinds: dict[str, list[ApiResource]] | None

    def _init_operations(self, request_timeout: float, retry_policy: RetryPolicy | None) -> None:
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0 seconds, got {request_timeout!r}")
        self.request_timeout = float(request_timeout)
        self.retry_policy = retry_policy or RetryPolicy()
        self._discovery = {}
        self._all_kinds = None

    def _target(self, action: str, kind: str | None = None, namespace: str | None = None,
                name: str | None = None) -> Target:
        return Target(action, kind, namespace, name, self.conn_id)

    # -- discovery --

    def _resource_flow(self, kind: str, api_version: str | None) -> Flow[ApiResource]:
        if api_version:
            return (yield from self._resource_in_flow(kind, api_version))
        return (yield from self._resource_anywhere_flow(kind))

    def _resource_in_flow(self, kind: str, api_version: str) -> Flow[ApiResource]:
        for refresh in (False, True):
            if refresh or api_version not in self._discovery:
                try:
                    document = yield _Request("GET", discovery_path(api_version),
                                              self._target("discover", kind, name=api_version))
                except NotFoundError:
                    document = None
                self._discovery[api_version] = parse_resource_list(api_version, document) if document else {}
            found = self._discovery[api_version].get(kind)
            if found is not None:
                return found
        served = sorted(self._discovery.get(api_version) or {})
        if served:
            detail = f"it serves {', '.join(served)} there"
        else:
            detail = f"apiVersion {api_version} is not served at all (is its CRD installed?)"
        raise UnknownKindError(
            f"connection '{self.conn_id}': the cluster has no resource for kind {kind} in apiVersion "
            f"{api_version}: {detail}; check the manifest's apiVersion and kind",
            target=self._target("discover", kind),
        )

    def _resource_anywhere_flow(self, kind: str) -> Flow[ApiResource]:
        """Find ``kind`` in the preferred version of every group, as kubectl does for a bare kind."""
        for refresh in (False, True):
            if refresh or self._all_kinds is None:
                versions = ["v1"]
                groups = yield _Request("GET", "/apis", self._target("discover", kind))
                versions += preferred_group_versions(groups or {})
                index: dict[str, list[ApiResource]] = {}
                for api_version in versions:
                    try:
                        document = yield _Request("GET", discovery_path(api_version),
                                                  self._target("discover", kind, name=api_version))
                    except NotFoundError:
                        continue  # a group going away between the two reads
                    resources = parse_resource_list(api_version, document or {})
                    self._discovery[api_version] = resources
                    for found_kind, resource in resources.items():
                        index.setdefault(found_kind, []).append(resource)
                self._all_kinds = index
            candidates = self._all_kinds.get(kind) or []
            if len(candidates) == 1:
                return candidates[0]
            core = [c for c in candidates if not c.group]
            if core:
                return core[0]  # the core group wins for kinds served twice (Event), as in kubectl
            if candidates:
                names = ", ".join(sorted(c.api_version for c in candidates))
                raise UnknownKindError(
                    f"connection '{self.conn_id}': kind {kind} is served in several API groups ({names}); "
                    "pass api_version to choose one", target=self._target("discover", kind))
        raise UnknownKindError(
            f"connection '{self.conn_id}': the cluster serves no kind named {kind!r} (kinds are case-sensitive, "
            "e.g. Deployment); is its CRD installed?", target=self._target("discover", kind))

    # -- reads --

    def _get_flow(self, kind: str, name: str, namespace: str, api_version: str | None) -> Flow[Obj]:
        resource = yield from self._resource_flow(kind, api_version)
        ns = namespace if resource.namespaced else None
        obj = yield _Request("GET", resource.path(ns, name), self._target("get", kind, ns, name))
        return dict(obj)

    def _list_flow(self, kind: str, namespace: str | None, api_version: str | None, label_selector: str | None,
                   field_selector: str | None, page_size: int | None) -> Flow[Objects]:
        resource = yield from self._resource_flow(kind, api_version)
        ns = namespace if resource.namespaced else None
        items: Objects = []
        token: str | None = None
        while True:
            query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector),
                                         ("limit", str(page_size) if page_size else None), ("continue", token)) if v]
            page = yield _Request("GET", resource.path(ns), self._target("list", kind, ns), tuple(query))
            for item in page.get("items") or []:
                # Lists leave apiVersion/kind off their items; put them back so items are manifests.
                items.append({"apiVersion": resource.api_version, "kind": resource.kind, **item})
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def _events_flow(self, kind: str, name: str, namespace: str, uid: str | None) -> Flow[Objects]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        page = yield _Request("GET", f"/api/v1/namespaces/{namespace}/events",
                              self._target("list events of", kind, namespace, name),
                              (("fieldSelector", selector),))
        events = list(page.get("items") or [])
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""))
        return events

    def _logs_flow(self, name: str, namespace: str, container: str | None, tail_lines: int | None,
                   previous: bool) -> Flow[str]:
        query = [(k, v) for k, v in (("container", container), ("tailLines", None if tail_lines is None else
                                                                  str(tail_lines)),
                                     ("previous", "true" if previous else None)) if v is not None]
        text = yield _Request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log",
                              self._target("read logs of", "Pod", namespace, name), tuple(query), text=True)
        return str(text)

    # -- writes --

    def _apply_flow(self, manifest: Mapping[str, Any], namespace: str, field_manager: str, force: bool,
                    dry_run: bool, index: int | None = None) -> Flow[Obj]:
        api_version, kind, name = check_document(manifest, index)
        if not field_manager:
            raise ValueError("field_manager must be a non-empty string: the API server records it as the owner "
                             "of every applied field")
        resource = yield from self._resource_flow(kind, api_version)
        body = copy.deepcopy(dict(manifest))
        ns: str | None = None
        if resource.namespaced:
            ns = body.setdefault("metadata", {}).get("namespace") or namespace
            body["metadata"]["namespace"] = ns
        else:
            body.get("metadata", {}).pop("namespace", None)
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        action = "dry-run apply" if dry_run else "apply"
        obj = yield _Request("PATCH", resource.path(ns, name), self._target(action, kind, ns, name), tuple(query),
                             body, APPLY_CONTENT_TYPE, retry="apply", field_manager=field_manager)
        return dict(obj)

    def _patch_flow(self, kind: str, name: str, namespace: str, patch: Any, patch_type: str,
                    api_version: str | None, field_manager: str | None, dry_run: bool) -> Flow[Obj]:
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"patch_type {patch_type!r} is not one of {sorted(PATCH_CONTENT_TYPES)}")
        if patch_type == "json" and not isinstance(patch, list):
            raise ValueError(f"a JSON patch must be a list of operations, got {type(patch).__name__}")
        if patch_type != "json" and not isinstance(patch, Mapping):
            raise ValueError(f"a {patch_type} patch must be a mapping, got {type(patch).__name__}")
        resource = yield from self._resource_flow(kind, api_version)
        ns = namespace if resource.namespaced else None
        query = [("fieldManager", field_manager)] if field_manager else []
        if dry_run:
            query.append(("dryRun", "All"))
        # A JSON patch may add to lists, so repeating it after an unknown outcome could apply it twice.
        retry: RetryMode = "unsafe" if patch_type == "json" else "safe"
        obj = yield _Request("PATCH", resource.path(ns, name), self._target(f"{patch_type}-patch", kind, ns, name),
                             tuple(query), patch, content_type, retry=retry)
        return dict(obj)

    def _delete_flow(self, kind: str, name: str, namespace: str, api_version: str | None, propagation: str,
                     missing_ok: bool, dry_run: bool) -> Flow[Obj | None]:
        _check_propagation(propagation)
        resource = yield from self._resource_flow(kind, api_version)
        ns = namespace if resource.namespaced else None
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if dry_run:
            body["dryRun"] = ["All"]
        try:
            answer = yield _Request("DELETE", resource.path(ns, name), self._target("delete", kind, ns, name),
                                    body=body)
        except NotFoundError:
            if missing_ok:
                return None
            raise
        return dict(answer) if isinstance(answer, Mapping) else None

    def _delete_collection_flow(self, kind: str, namespace: str, label_selector: str, api_version: str | None,
                                propagation: str) -> Flow[Objects]:
        _check_propagation(propagation)
        if not label_selector or not label_selector.strip():
            raise ValueError("delete_collection needs a non-empty label_selector: an empty one would delete every "
                             f"{kind} in the namespace")
        resource = yield from self._resource_flow(kind, api_version)
        ns = namespace if resource.namespaced else None
        answer = yield _Request("DELETE", resource.path(ns), self._target(f"delete ({label_selector})", kind, ns),
                                (("labelSelector", label_selector),),
                                {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation})
        return list((answer or {}).get("items") or [])

    # -- the one retry helper --

    def _retry_delay(self, failure: KubernetesError, request: _Request, attempt: int) -> float:
        """Seconds to wait before repeating ``request``; raises ``failure`` when it is final."""
        if not self._retryable(failure, request):
            raise failure
        retry_after = getattr(failure, "retry_after", None)
        delay = self.retry_policy.delay(attempt, retry_after)
        if delay is None:
            if retry_after is not None and retry_after > self.retry_policy.max_retry_after:
                note = (f"the API server asked to wait {retry_after:.0f}s, longer than the "
                        f"{self.retry_policy.max_retry_after:.0f}s this hook waits")
            else:
                note = f"gave up after {attempt} attempts"
            failure.args = (f"{failure.args[0]} ({note})",)
            raise failure
        self.log.warning("%s; retrying in %.2fs (attempt %d of %d)", failure.args[0].splitlines()[0], delay,
                         attempt + 1, self.retry_policy.attempts)
        return delay

    @staticmethod
    def _retryable(failure: KubernetesError, request: _Request) -> bool:
        if isinstance(failure, TooManyRequestsError):
            return True  # the server refused before doing anything
        if isinstance(failure, KubernetesUnavailableError):
            return failure.connect_failed or request.retry != "unsafe"
        if isinstance(failure, ApplyConflictError):
            return False  # a field-manager conflict does not go away by itself
        if isinstance(failure, ConflictError):
            return request.retry == "apply" and failure.reason != "AlreadyExists"
        if isinstance(failure, KubernetesApiError) and failure.transient:
            return request.retry != "unsafe"
        return False

    # -- failure mapping shared by the drivers --

    def _api_failure(self, status: int, body: Any, headers: Mapping[str, str] | None,
                     request: _Request) -> KubernetesApiError:
        return error_from_status(status, body, target=request.target, headers=headers,
                                 field_manager=request.field_manager)

    def _network_failure(self, exc: BaseException, request: _Request, connect_failed: bool) -> KubernetesError:
        what = "could not connect to" if connect_failed else "got no complete answer from"
        detail = str(exc) or type(exc).__name__
        return KubernetesUnavailableError(
            f"{request.target.describe()}: {what} the API server ({type(exc).__name__}: {detail}; timeout "
            f"{self.request_timeout:g}s)", target=request.target, connect_failed=connect_failed)


def _check_propagation(propagation: str) -> None:
    if propagation not in PROPAGATION_POLICIES:
        raise ValueError(f"propagation {propagation!r} is not one of {list(PROPAGATION_POLICIES)}")


def _connect_failed_sync(exc: BaseException) -> bool | None:
    """For a urllib3/socket error: did the request fail before reaching the server? ``None``: not a network error."""
    import urllib3.exceptions as u3

    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        return _connect_failed_sync(exc.reason)
    if isinstance(exc, (u3.NewConnectionError, u3.ConnectTimeoutError, ConnectionRefusedError)):
        return True
    if isinstance(exc, (u3.HTTPError, OSError)):
        return False
    return None


# --- the sync hook -----------------------------------------------------------------------------------


class DeliveryKubernetesHook(_Operations, KubernetesHook):
    """``KubernetesHook`` plus what delivery stages need; every answer is a plain ``dict`` (the API's JSON).

    :param conn_id: a ``kubernetes`` connection (the Spinnaker "account"); see ``KubernetesHook``.
    :param request_timeout: seconds allowed for each API call.
    :param retry_policy: how transient failures are retried.
    Other arguments are ``KubernetesHook``'s. Namespaces default to the connection's ``namespace``
    extra, then ``default``.
    """

    hook_name = "Kubernetes (delivery)"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("client_configuration") is None:
            from kubernetes import client

            # Our own configuration: the provider would otherwise load every connection into the
            # process-wide default one (two accounts in one process would overwrite each other), and
            # urllib3's silent retries are turned off so the one retry helper sees every failure.
            configuration = client.Configuration()
            configuration.retries = False
            kwargs["client_configuration"] = configuration
        super().__init__(conn_id=conn_id, **kwargs)
        self._init_operations(request_timeout, retry_policy)

    # -- public API --

    def default_namespace(self) -> str:
        return self.get_namespace() or DEFAULT_NAMESPACE

    def resource_for(self, kind: str, api_version: str | None = None) -> ApiResource:
        """The REST resource serving ``kind`` (in ``api_version``, or wherever the cluster serves it)."""
        return self._run(self._resource_flow(kind, api_version))

    def get(self, kind: str, name: str, namespace: str | None = None, *, api_version: str | None = None) -> Obj:
        """One object; ``NotFoundError`` when it does not exist."""
        return self._run(self._get_flow(kind, name, namespace or self.default_namespace(), api_version))

    def list(self, kind: str, namespace: str | None = None, *, api_version: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None,
             all_namespaces: bool = False, page_size: int | None = 500) -> Objects:
        """Every matching object (pages followed); items carry ``apiVersion`` and ``kind``."""
        ns = None if all_namespaces else namespace or self.default_namespace()
        return self._run(self._list_flow(kind, ns, api_version, label_selector, field_selector, page_size))

    def server_side_apply(self, manifest: Mapping[str, Any], *, field_manager: str = DEFAULT_FIELD_MANAGER,
                          force: bool = False, dry_run: bool = False, namespace: str | None = None) -> Obj:
        """Server-side apply one manifest; ``ApplyConflictError`` names the conflicting fields unless ``force``.

        ``namespace`` is used when the manifest has none (namespaced kinds only).
        """
        return self._run(self._apply_flow(manifest, namespace or self.default_namespace(), field_manager, force,
                                          dry_run))

    def dry_run_apply_all(self, manifests: Sequence[Mapping[str, Any]], *,
                          field_manager: str = DEFAULT_FIELD_MANAGER, force: bool = False,
                          namespace: str | None = None) -> Objects:
        """Server-side dry run of every document; ``DryRunRejectedError`` lists every rejected one.

        Documents that depend on an earlier document of the same batch (a namespace or a CRD it
        creates) cannot be checked by the server before that document exists; they are skipped here
        and checked by the real apply. Transient failures (after retries) are raised as they are.
        """
        ns = namespace or self.default_namespace()
        documents = [check_document(m, i) for i, m in enumerate(manifests, start=1)]
        created_namespaces = {name for _, kind, name in documents if kind == "Namespace"}
        created_kinds = _kinds_defined_by_crds(manifests)
        results: Objects = []
        failures: list[DocumentFailure] = []
        for index, manifest in enumerate(manifests, start=1):
            api_version, kind, _ = documents[index - 1]
            doc_ns = (manifest.get("metadata") or {}).get("namespace") or ns
            if (api_version, kind) in created_kinds or (doc_ns in created_namespaces
                                                        and not self._namespace_exists(doc_ns)):
                self.log.info("%s depends on an earlier document of this batch; the real apply will check it",
                              describe_document(manifest, index))
                continue
            try:
                results.append(self._run(self._apply_flow(manifest, ns, field_manager, force, True, index)))
            except (KubernetesUnavailableError, TooManyRequestsError):
                raise
            except KubernetesError as err:
                if isinstance(err, KubernetesApiError) and err.transient:
                    raise
                failures.append(DocumentFailure(index, describe_document(manifest, index), err))
        if failures:
            lines = "\n".join(f"- {f.description}: {f.error}" for f in failures)
            error = DryRunRejectedError(
                f"the server-side dry run on connection '{self.conn_id}' rejected {len(failures)} of "
                f"{len(manifests)} documents, so nothing was applied:\n{lines}",
                failures=failures, target=self._target("dry-run apply"))
            raise error from failures[0].error
        return results

    def apply_all(self, manifests: Sequence[Mapping[str, Any]], *, field_manager: str = DEFAULT_FIELD_MANAGER,
                  force: bool = False, namespace: str | None = None) -> Objects:
        """Dry-run every document, then apply them in order; a rejected document applies nothing."""
        self.dry_run_apply_all(manifests, field_manager=field_manager, force=force, namespace=namespace)
        ns = namespace or self.default_namespace()
        applied: Objects = []
        for index, manifest in enumerate(manifests, start=1):
            try:
                applied.append(self._run(self._apply_flow(manifest, ns, field_manager, force, False, index)))
            except KubernetesError as err:
                done = ", ".join(describe_document(m, i) for i, m in enumerate(manifests[: index - 1], start=1))
                err.args = (f"{describe_document(manifest, index)}: {err.args[0]}\nalready applied: {done or 'nothing'}",)
                raise
        return applied

    def patch(self, kind: str, name: str, namespace: str | None, patch: Any, patch_type: PatchType = "strategic",
              *, api_version: str | None = None, field_manager: str | None = DEFAULT_FIELD_MANAGER,
              dry_run: bool = False) -> Obj:
        """Patch an object: ``strategic`` (lists merge by key), ``merge`` (RFC 7386) or ``json`` (RFC 6902).

        Strategic merge patches are for built-in kinds only; the API answers 415 for custom resources.
        """
        return self._run(self._patch_flow(kind, name, namespace or self.default_namespace(), patch, patch_type,
                                          api_version, field_manager, dry_run))

    def delete(self, kind: str, name: str, namespace: str | None = None, *, api_version: str | None = None,
               propagation: Propagation = "Background", missing_ok: bool = False, dry_run: bool = False) -> Obj | None:
        """Delete one object; with ``missing_ok`` an absent object is not an error (returns ``None``)."""
        return self._run(self._delete_flow(kind, name, namespace or self.default_namespace(), api_version,
                                           propagation, missing_ok, dry_run))

    def delete_collection(self, kind: str, namespace: str | None = None, *, label_selector: str,
                          api_version: str | None = None, propagation: Propagation = "Background") -> Objects:
        """Delete every object matching ``label_selector``; returns what the server deleted."""
        return self._run(self._delete_collection_flow(kind, namespace or self.default_namespace(), label_selector,
                                                      api_version, propagation))

    def read_pod_logs(self, name: str, namespace: str | None = None, *, container: str | None = None,
                      tail_lines: int | None = None, previous: bool = False) -> str:
        """A pod's container log as text (``container`` is required when the pod has several)."""
        return self._run(self._logs_flow(name, namespace or self.default_namespace(), container, tail_lines,
                                         previous))

    def list_events(self, kind: str, name: str, namespace: str | None = None, *, uid: str | None = None) -> Objects:
        """Events about one object, oldest first (``uid`` excludes events of a deleted namesake)."""
        return self._run(self._events_flow(kind, name, namespace or self.default_namespace(), uid))

    # -- driver --

    def _namespace_exists(self, name: str) -> bool:
        try:
            self.get("Namespace", name, api_version="v1")
        except NotFoundError:
            return False
        return True

    def _run(self, flow: Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                try:
                    answer = self._send(request)
                except KubernetesError as failure:
                    request = flow.throw(failure)
                else:
                    request = flow.send(answer)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _send(self, request: _Request) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(request)
            except Exception as exc:
                failure = self._failure(exc, request)
                if failure is None:
                    raise
                failure.__cause__ = exc
            time.sleep(self._retry_delay(failure, request, attempt))

    def _call(self, request: _Request) -> Any:
        headers = {"Accept": "text/plain" if request.text else "application/json"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        response = self.api_client.call_api(
            request.path, request.method, query_params=list(request.query), header_params=headers,
            body=request.body, auth_settings=["BearerToken"], _preload_content=False,
            _return_http_data_only=True, _request_timeout=self.request_timeout,
        )
        try:
            data = response.data
        finally:
            response.release_conn()
        if request.text:
            return data.decode("utf-8", errors="replace")
        return json.loads(data) if data else {}

    def _failure(self, exc: BaseException, request: _Request) -> KubernetesError | None:
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException):
            if not exc.status:
                return KubernetesError(f"{request.target.describe()}: the Kubernetes client could not send the "
                                       f"request: {exc.reason}", target=request.target)
            return self._api_failure(exc.status, exc.body, exc.headers, request)
        connect_failed = _connect_failed_sync(exc)
        if connect_failed is None:
            return None
        return self._network_failure(exc, request, connect_failed)


def _kinds_defined_by_crds(manifests: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """``(apiVersion, kind)`` of every kind a CustomResourceDefinition in the batch defines."""
    defined = set()
    for manifest in manifests:
        if not isinstance(manifest, Mapping) or manifest.get("kind") != "CustomResourceDefinition":
            continue
        spec = manifest.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if kind and isinstance(version, Mapping) and version.get("name"):
                defined.add((f"{spec.get('group')}/{version['name']}", str(kind)))
    return defined


# --- the async hook (triggers) -----------------------------------------------------------------------


class AsyncDeliveryKubernetesHook(_Operations, AsyncKubernetesHook):
    """The read side of ``DeliveryKubernetesHook`` for triggers, on ``kubernetes_asyncio``.

    Same discovery, errors and retry rules; one ``ApiClient`` per operation, closed afterwards.
    """

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("client_configuration") is None:
            from kubernetes_asyncio import client as async_client

            kwargs["client_configuration"] = async_client.Configuration()
        super().__init__(conn_id=conn_id, **kwargs)
        self._init_operations(request_timeout, retry_policy)

    async def default_namespace(self) -> str:  # type: ignore[override]
        return str(await self._get_field("namespace") or DEFAULT_NAMESPACE)

    async def resource_for(self, kind: str, api_version: str | None = None) -> ApiResource:
        return await self._arun(self._resource_flow(kind, api_version))

    async def get(self, kind: str, name: str, namespace: str | None = None, *,  # type: ignore[override]
                  api_version: str | None = None) -> Obj:
        ns = namespace or await self.default_namespace()
        return await self._arun(self._get_flow(kind, name, ns, api_version))

    async def list(self, kind: str, namespace: str | None = None, *, api_version: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   all_namespaces: bool = False, page_size: int | None = 500) -> Objects:
        ns = None if all_namespaces else namespace or await self.default_namespace()
        return await self._arun(self._list_flow(kind, ns, api_version, label_selector, field_selector, page_size))

    async def list_events(self, kind: str, name: str, namespace: str | None = None, *,
                          uid: str | None = None) -> Objects:
        ns = namespace or await self.default_namespace()
        return await self._arun(self._events_flow(kind, name, ns, uid))

    async def read_pod_logs(self, name: str, namespace: str | None = None, *, container: str | None = None,
                            tail_lines: int | None = None, previous: bool = False) -> str:
        ns = namespace or await self.default_namespace()
        return await self._arun(self._logs_flow(name, ns, container, tail_lines, previous))

    async def _arun(self, flow: Flow[T]) -> T:
        async with self.get_conn() as api:
            try:
                request = next(flow)
                while True:
                    try:
                        answer = await self._asend(api, request)
                    except KubernetesError as failure:
                        request = flow.throw(failure)
                    else:
                        request = flow.send(answer)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    async def _asend(self, api: Any, request: _Request) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._acall(api, request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = self._afailure(exc, request)
                if failure is None:
                    raise
                failure.__cause__ = exc
            await asyncio.sleep(self._retry_delay(failure, request, attempt))

    async def _acall(self, api: Any, request: _Request) -> Any:
        headers = {"Accept": "text/plain" if request.text else "application/json"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        kind = "str" if request.text else "object"
        return await api.call_api(
            request.path, request.method, query_params=list(request.query), header_params=headers,
            body=request.body, auth_settings=["BearerToken"], response_types_map={200: kind, 201: kind, 202: kind},
            _return_http_data_only=True, _request_timeout=self.request_timeout,
        )

    def _afailure(self, exc: BaseException, request: _Request) -> KubernetesError | None:
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException

        if isinstance(exc, ApiException):
            if not exc.status:
                return KubernetesError(f"{request.target.describe()}: the Kubernetes client could not send the "
                                       f"request: {exc.reason}", target=request.target)
            return self._api_failure(exc.status, exc.body, exc.headers, request)
        if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
            return self._network_failure(exc, request, connect_failed=True)
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
            return self._network_failure(exc, request, connect_failed=False)
        return None


__all__ = [
    "APPLY_CONTENT_TYPE",
    "DEFAULT_FIELD_MANAGER",
    "DEFAULT_REQUEST_TIMEOUT",
    "PATCH_CONTENT_TYPES",
    "ApiResource",
    "AsyncDeliveryKubernetesHook",
    "DeliveryKubernetesHook",
    "PatchType",
    "Propagation",
    "RetryPolicy",
    "check_document",
    "describe_document",
    "parse_resource_list",
]
