"""Kubernetes API errors as exceptions that render to real ``kind: Status`` bodies.

Clients (the ``kubernetes`` client, ``kubectl``, our hooks) decide what to do from the HTTP code and the
Status ``reason``, so every failure the sandbox reports goes through one of these classes and the body is
the same shape a real API server sends.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client as a ``Status`` object with ``code`` and ``reason``."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes or []
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` body, as a real API server would send it."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        return body


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"


class Conflict(ApiError):
    code, reason = 409, "Conflict"


class Gone(ApiError):
    code, reason = 410, "Expired"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


ERRORS_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    500: InternalError,
    503: ServiceUnavailable,
}


def error_for_code(code: int, message: str) -> ApiError:
    """An error of the class a real server uses for ``code`` (fault injection picks codes, not classes)."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        err = ApiError(message)
        err.code = code
        err.reason = "Unknown"
        return err
    return cls(message)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> Invalid:
    """A 422 listing each invalid field, worded like the API server: ``Kind.group "name" is invalid: ...``.

    ``causes`` are ``(field, reason, message)``; reason is e.g. ``FieldValueRequired``.
    """
    qualified = f"{kind}.{group}" if group else kind
    detail = "; ".join(f"{field}: {message}" for field, _, message in causes)
    return Invalid(
        f'{qualified} "{name}" is invalid: {detail}',
        name=name,
        group=group,
        kind=kind,
        causes=[{"field": f, "reason": r, "message": m} for f, r, m in causes],
    )
