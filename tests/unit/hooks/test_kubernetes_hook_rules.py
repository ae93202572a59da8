"""The pure parts of ``DeliveryKubernetesHook``: discovery parsing, paths, documents, retry rules.

The retry table is the contract "retry only what is safe to repeat": 429 always, 5xx/timeouts only
for idempotent requests, connection failures always, 409 only for server-side apply and never for a
field-manager conflict.
"""

from __future__ import annotations

import pytest

from airflow_delivery.hooks.kubernetes import (
    ApiResource,
    RetryPolicy,
    _Operations,
    _Request,
    check_document,
    discovery_path,
    parse_resource_list,
    preferred_group_versions,
)
from airflow_delivery.kubernetes.errors import (
    ApplyConflictError,
    ConflictError,
    DocumentError,
    InvalidError,
    KubernetesUnavailableError,
    ServerError,
    Target,
    TooManyRequestsError,
)

TARGET = Target("x")
RESOURCE_LIST = {
    "kind": "APIResourceList", "groupVersion": "apps/v1",
    "resources": [
        {"name": "deployments", "kind": "Deployment", "namespaced": True, "verbs": ["get", "patch"]},
        {"name": "deployments/scale", "kind": "Scale", "namespaced": True, "verbs": ["get"]},
        {"name": "deployments/status", "kind": "Deployment", "namespaced": True, "verbs": ["get"]},
    ],
}


def test_resource_list_parsing_and_paths() -> None:
    resources = parse_resource_list("apps/v1", RESOURCE_LIST)
    assert list(resources) == ["Deployment"]
    deploy = resources["Deployment"]
    assert deploy.subresources == frozenset({"scale", "status"}) and deploy.verbs == frozenset({"get", "patch"})
    assert deploy.path("ns", "web", "scale") == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    assert deploy.path() == "/apis/apps/v1/deployments"
    node = ApiResource("", "v1", "nodes", "Node", namespaced=False)
    assert node.path("ignored", "n1") == "/api/v1/nodes/n1" and node.api_version == "v1"
    assert discovery_path("v1") == "/api/v1" and discovery_path("apps/v1") == "/apis/apps/v1"
    groups = {"groups": [{"preferredVersion": {"groupVersion": "apps/v1"}},
                         {"versions": [{"groupVersion": "x.io/v2"}]}]}
    assert preferred_group_versions(groups) == ["apps/v1", "x.io/v2"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("text", "document 3 is a str, not a mapping"),
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "apiVersion is missing"),
        ({"apiVersion": "v1", "metadata": {"name": "a"}}, "kind is missing"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata is missing"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "a-"}}, "metadata.name is missing"),
    ],
)
def test_documents_are_checked_naming_the_field(document: object, message: str) -> None:
    with pytest.raises(DocumentError, match=message) as caught:
        check_document(document, 3)
    assert caught.value.index == 3


def test_retry_policy() -> None:
    policy = RetryPolicy(attempts=3, backoff=1.0, max_backoff=1.5, max_retry_after=10)
    assert 0.8 <= policy.delay(1, None) <= 1.2 and policy.delay(2, None) <= 1.5 * 1.2
    assert policy.delay(1, 4) == 4 and policy.delay(1, 11) is None and policy.delay(3, None) is None
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


def request(retry: str) -> _Request:
    return _Request("PATCH", "/x", TARGET, retry=retry)  # type: ignore[arg-type]


def api_error(cls: type, code: int, reason: str = "") -> object:
    return cls("m", target=TARGET, status_code=code, reason=reason)


@pytest.mark.parametrize(
    ("failure", "safe", "apply", "unsafe"),
    [
        (api_error(TooManyRequestsError, 429), True, True, True),
        (api_error(ServerError, 500), True, True, False),
        (KubernetesUnavailableError("m", connect_failed=True), True, True, True),
        (KubernetesUnavailableError("m", connect_failed=False), True, True, False),
        (api_error(ConflictError, 409, "Conflict"), False, True, False),
        (api_error(ConflictError, 409, "AlreadyExists"), False, False, False),
        (api_error(ApplyConflictError, 409, "Conflict"), False, False, False),
        (api_error(InvalidError, 422), False, False, False),
    ],
)
def test_what_is_retried(failure: object, safe: bool, apply: bool, unsafe: bool) -> None:
    decide = _Operations._retryable
    assert [decide(failure, request(mode)) for mode in ("safe", "apply", "unsafe")] == [safe, apply, unsafe]
