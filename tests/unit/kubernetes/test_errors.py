"""Kubernetes ``Status`` responses mapped to the exception hierarchy (pure, no cluster).

Aspects: class by HTTP code (parametrized table), AlreadyExists vs Conflict, field-manager conflicts
become ``ApplyConflictError`` naming managers and fields, Retry-After from the header or the body,
messages naming action/object/connection with each invalid field, non-Status bodies, truncation,
and Secret values redacted.
"""

from __future__ import annotations

import json

import pytest

from airflow_delivery.kubernetes.errors import (
    AlreadyExistsError,
    ApplyConflictError,
    BadRequestError,
    ConflictError,
    GoneError,
    InvalidError,
    KubernetesApiError,
    NotFoundError,
    ServerError,
    Target,
    TooManyRequestsError,
    UnauthorizedError,
    error_from_status,
    parse_retry_after,
)

TARGET = Target("apply", "Deployment", "shop", "web", "prod-eu")


def status(code: int, reason: str, message: str = "boom", **details: object) -> str:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    if details:
        body["details"] = details
    return json.dumps(body)


@pytest.mark.parametrize(
    ("code", "reason", "expected", "transient"),
    [
        (400, "BadRequest", BadRequestError, False),
        (401, "Unauthorized", UnauthorizedError, False),
        (403, "Forbidden", UnauthorizedError, False),
        (404, "NotFound", NotFoundError, False),
        (409, "Conflict", ConflictError, False),
        (409, "AlreadyExists", AlreadyExistsError, False),
        (410, "Expired", GoneError, False),
        (422, "Invalid", InvalidError, False),
        (429, "TooManyRequests", TooManyRequestsError, True),
        (500, "InternalError", ServerError, True),
        (502, "", ServerError, True),
        (504, "Timeout", ServerError, True),
        (418, "Teapot", KubernetesApiError, False),
    ],
)
def test_status_code_table(code: int, reason: str, expected: type, transient: bool) -> None:
    error = error_from_status(code, status(code, reason), target=TARGET)
    assert type(error) is expected
    assert error.status_code == code and error.reason == reason and error.transient is transient
    assert str(error).startswith(f"apply Deployment shop/web on connection 'prod-eu' failed (HTTP {code}")


def test_invalid_lists_each_field() -> None:
    body = status(
        422,
        "Invalid",
        'Deployment.apps "web" is invalid: ...',
        causes=[
            {"field": "spec.replicas", "reason": "FieldValueInvalid", "message": "must be >= 0"},
            {"field": "spec.selector", "reason": "FieldValueRequired", "message": "Required value"},
        ],
    )
    error = error_from_status(422, body, target=TARGET)
    assert [c.field for c in error.causes] == ["spec.replicas", "spec.selector"]
    assert "invalid fields:\n  spec.replicas: must be >= 0\n  spec.selector: Required value" in str(error)


def test_field_manager_conflicts_name_managers_and_fields() -> None:
    body = status(
        409,
        "Conflict",
        "Apply failed with 2 conflicts",
        causes=[
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl-edit" using apps/v1',
                "field": ".spec.replicas",
            },
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "helm" using apps/v1',
                "field": '.spec.template.spec.containers[name="app"].image',
            },
        ],
    )
    error = error_from_status(409, body, target=TARGET, field_manager="airflow-delivery")
    assert isinstance(error, ApplyConflictError) and isinstance(error, ConflictError)
    assert error.managers == ["helm", "kubectl-edit"]
    text = str(error)
    assert "as field manager 'airflow-delivery' conflicts with fields owned by 'helm', 'kubectl-edit'" in text
    assert ".spec.replicas owned by 'kubectl-edit'" in text and "force=True" in text


def test_retry_after_from_header_or_body() -> None:
    assert (
        error_from_status(
            429, status(429, "TooManyRequests"), target=TARGET, headers={"retry-after": "7"}
        ).retry_after
        == 7
    )
    assert (
        error_from_status(429, status(429, "TooManyRequests", retryAfterSeconds=3), target=TARGET).retry_after
        == 3
    )
    assert (
        parse_retry_after("soon") is None
        and parse_retry_after(None) is None
        and parse_retry_after("-1") is None
    )


def test_non_status_bodies_and_truncation() -> None:
    error = error_from_status(502, "<html>bad gateway</html>", target=TARGET)
    assert isinstance(error, ServerError) and "<html>bad gateway</html>" in str(error)
    assert "no message from the server" in str(error_from_status(503, b"", target=TARGET))
    long = error_from_status(500, status(500, "InternalError", "x" * 5000), target=TARGET)
    assert len(str(long)) < 1300 and str(long).count("x") < 1000


def test_secret_values_are_redacted() -> None:
    body = status(
        422,
        "Invalid",
        'Secret "db" is invalid: data[password]: Invalid value: "hunter2": too long',
        causes=[
            {
                "field": "data[password]",
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "hunter2": too long',
            }
        ],
    )
    error = error_from_status(422, body, target=Target("apply", "Secret", "shop", "db", "prod-eu"))
    assert "hunter2" not in str(error) and "hunter2" not in repr(error.causes)
    assert 'Invalid value: "<redacted>"' in str(error)
