"""Kubernetes API failures as a small exception hierarchy (pure: no Airflow, no Kubernetes client).

The API server answers every failure with a ``kind: Status`` body (HTTP code, ``reason``, ``message``,
``details.causes``). Callers decide what to do from the *kind* of failure, not from client exception
types, so the hook maps every response here once (``error_from_status``) and operators, routers and
triggers catch these classes. ``transient`` says whether the same request may succeed later.

Every message names what was being done (``apply Deployment default/web``), the connection id (the
Spinnaker "account") and, for rejected objects, each invalid field, because the reader is usually
looking at a failed task log. Status bodies are cut to a readable length; the original client
exception is chained (``raise ... from``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_MESSAGE_LIMIT = 1000
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]*)"')
# API validation messages quote the offending value; for Secrets that value may be secret.
_QUOTED_VALUE = re.compile(r'(Invalid value: )"(?:[^"\\]|\\.)*"')
SENSITIVE_KINDS = frozenset({"Secret"})


@dataclass(frozen=True)
class StatusCause:
    """One entry of ``Status.details.causes``: which field, why (``FieldValueRequired``...), and the text."""

    field: str
    reason: str
    message: str


@dataclass(frozen=True)
class FieldConflict:
    """A field another field manager owns, which a server-side apply would have changed."""

    manager: str
    field: str
    message: str


@dataclass(frozen=True)
class Target:
    """What a request was about, for messages: ``apply Deployment default/web on connection 'prod'``."""

    action: str
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    conn_id: str | None = None

    def describe(self) -> str:
        subject = self.kind or "object"
        if self.name and self.namespace:
            subject = f"{subject} {self.namespace}/{self.name}"
        elif self.name:
            subject = f"{subject} {self.name}"
        elif self.namespace:
            subject = f"{subject} in namespace {self.namespace}"
        where = f" on connection '{self.conn_id}'" if self.conn_id else ""
        return f"{self.action} {subject}{where}"


class KubernetesError(Exception):
    """Base class: something went wrong acting on a Kubernetes cluster."""

    transient: bool = False

    def __init__(self, message: str, *, target: Target | None = None) -> None:
        super().__init__(message)
        self.target = target

    @property
    def conn_id(self) -> str | None:
        return self.target.conn_id if self.target else None


class DocumentError(KubernetesError, ValueError):
    """A manifest handed to the hook cannot be sent (not an object, no kind/apiVersion/metadata.name)."""

    def __init__(self, message: str, *, index: int | None = None, target: Target | None = None) -> None:
        super().__init__(message, target=target)
        self.index = index


class UnknownKindError(KubernetesError):
    """Discovery found no REST resource for a kind: the CRD is not installed or the apiVersion is wrong."""


class KubernetesUnavailableError(KubernetesError):
    """The API server could not be reached or did not answer in time (network error, timeout).

    ``connect_failed`` means the request never reached the server, so any request may be retried.
    """

    transient = True

    def __init__(self, message: str, *, target: Target | None = None, connect_failed: bool = False) -> None:
        super().__init__(message, target=target)
        self.connect_failed = connect_failed


class KubernetesApiError(KubernetesError):
    """The API server answered with an error ``Status``."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        target: Target | None = None,
        status_code: int | None = None,
        reason: str = "",
        api_message: str = "",
        causes: Sequence[StatusCause] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, target=target)
        if status_code is not None:
            self.status_code = status_code
        self.reason = reason
        self.api_message = api_message
        self.causes = tuple(causes)
        self.retry_after = retry_after


class BadRequestError(KubernetesApiError):
    """HTTP 400: the request itself is malformed (wrong apiVersion for the path, bad patch...)."""

    status_code = 400


class UnauthorizedError(KubernetesApiError):
    """HTTP 401/403: the connection's credentials are refused or lack permission."""

    status_code = 401


class NotFoundError(KubernetesApiError):
    """HTTP 404: the object, its namespace or the resource type does not exist."""

    status_code = 404


class ConflictError(KubernetesApiError):
    """HTTP 409: the object changed since it was read (optimistic concurrency), or a similar conflict."""

    status_code = 409


class AlreadyExistsError(ConflictError):
    """HTTP 409 ``AlreadyExists``: a create found an object with that name."""


class ApplyConflictError(ConflictError):
    """HTTP 409 on server-side apply: fields this field manager would change belong to other managers."""

    def __init__(self, message: str, *, conflicts: Sequence[FieldConflict] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.conflicts = tuple(conflicts)

    @property
    def managers(self) -> list[str]:
        return sorted({c.manager for c in self.conflicts})


class GoneError(KubernetesApiError):
    """HTTP 410: a resourceVersion or continue token expired; start the list or watch again."""

    status_code = 410


class InvalidError(KubernetesApiError):
    """HTTP 422: the object failed validation; ``causes`` names each invalid field."""

    status_code = 422


UnprocessableError = InvalidError


class TooManyRequestsError(KubernetesApiError):
    """HTTP 429: the API server is throttling; ``retry_after`` is its requested wait in seconds."""

    status_code = 429
    transient = True


class ServerError(KubernetesApiError):
    """HTTP 5xx: the API server (or a proxy in front of it) failed."""

    status_code = 500
    transient = True


class DryRunRejectedError(KubernetesError):
    """The server-side dry run of a batch rejected one or more documents, so nothing was applied."""

    def __init__(self, message: str, *, failures: Sequence[DocumentFailure], target: Target | None = None) -> None:
        super().__init__(message, target=target)
        self.failures = tuple(failures)


@dataclass(frozen=True)
class DocumentFailure:
    """One rejected document of a batch: its position (1-based), what it is, and the API's answer."""

    index: int
    description: str
    error: KubernetesError


_BY_CODE: dict[int, type[KubernetesApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
    429: TooManyRequestsError,
}

_ADVICE: dict[type[KubernetesApiError], str] = {
    UnauthorizedError: "check the connection's kubeconfig credentials and the account's RBAC permissions",
    TooManyRequestsError: "the API server is throttling requests; retry later or lower the request rate",
    ServerError: "the API server failed; check its health and retry",
    GoneError: "the resourceVersion expired; read the object or list again",
}


def parse_status(body: Any) -> dict[str, Any] | None:
    """The ``Status`` object in a response body (text, bytes or dict), or ``None`` when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, Mapping) and body.get("kind") == "Status":
        return dict(body)
    return None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (Kubernetes sends whole seconds); ``None`` when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _truncate(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _causes(status: Mapping[str, Any] | None) -> list[StatusCause]:
    details = (status or {}).get("details") or {}
    result = []
    for raw in details.get("causes") or []:
        if isinstance(raw, Mapping):
            result.append(StatusCause(str(raw.get("field") or ""), str(raw.get("reason") or ""),
                                      str(raw.get("message") or "")))
    return result


def field_conflicts(causes: Sequence[StatusCause]) -> list[FieldConflict]:
    """The field-manager conflicts among ``causes`` (reason ``FieldManagerConflict``)."""
    conflicts = []
    for cause in causes:
        if cause.reason != "FieldManagerConflict":
            continue
        match = _CONFLICT_MANAGER.search(cause.message)
        conflicts.append(FieldConflict(match.group(1) if match else "unknown", cause.field, cause.message))
    return conflicts


def error_from_status(
    status_code: int,
    body: Any,
    *,
    target: Target,
    headers: Mapping[str, str] | None = None,
    field_manager: str | None = None,
) -> KubernetesApiError:
    """The exception for an API error response: class by HTTP code, message naming the target and causes."""
    status = parse_status(body)
    raw = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    api_message = str((status or {}).get("message") or (raw if isinstance(raw, str) else "") or "").strip()
    reason = str((status or {}).get("reason") or "")
    causes = _causes(status)
    if target.kind in SENSITIVE_KINDS:
        api_message = redact_values(api_message)
        causes = [StatusCause(c.field, c.reason, redact_values(c.message)) for c in causes]
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if retry_after is None:
        seconds = ((status or {}).get("details") or {}).get("retryAfterSeconds")
        retry_after = float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None
    conflicts = field_conflicts(causes) if status_code == 409 else []
    kwargs: dict[str, Any] = {
        "target": target, "status_code": status_code, "reason": reason, "api_message": api_message,
        "causes": causes, "retry_after": retry_after,
    }
    if conflicts:
        return ApplyConflictError(_apply_conflict_message(target, conflicts, field_manager), conflicts=conflicts,
                                  **kwargs)
    cls = _BY_CODE.get(status_code) or (ServerError if status_code >= 500 else KubernetesApiError)
    if cls is ConflictError and reason == "AlreadyExists":
        cls = AlreadyExistsError
    label = f"HTTP {status_code}" + (f" {reason}" if reason else "")
    message = f"{target.describe()} failed ({label}): {_truncate(api_message) or 'no message from the server'}"
    invalid_fields = [c for c in causes if c.field]
    if invalid_fields and cls is InvalidError:
        message += "\ninvalid fields:\n" + "\n".join(f"  {c.field}: {c.message or c.reason}" for c in invalid_fields)
    advice = _ADVICE.get(cls)
    if advice:
        message += f" ({advice})"
    return cls(message, **kwargs)


def redact_values(text: str) -> str:
    """``Invalid value: "s3cret"`` becomes ``Invalid value: "<redacted>"`` (messages about Secrets)."""
    return _QUOTED_VALUE.sub(r'\1"<redacted>"', text)


def _apply_conflict_message(target: Target, conflicts: Sequence[FieldConflict], field_manager: str | None) -> str:
    manager = f" as field manager '{field_manager}'" if field_manager else ""
    lines = "\n".join(f"  {c.field or '(unknown field)'} owned by '{c.manager}'" for c in conflicts)
    managers = ", ".join(sorted({f"'{c.manager}'" for c in conflicts}))
    return (
        f"{target.describe()}{manager} conflicts with fields owned by {managers}:\n{lines}\n"
        "Nothing was changed. Set force=True to take ownership of these fields, or remove them from the "
        "manifest so the other manager keeps them."
    )


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None
