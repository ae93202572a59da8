"""Image reference parsing: registries vs. namespaces, tags vs. ports, digests, Docker Hub's library/."""

from __future__ import annotations

import pytest

from airflow_delivery.artifacts.references import (
    ImageReference,
    is_digest,
    is_docker_hub,
    normalize_repository,
    parse_reference,
    validate_reference,
    validate_repository,
    validate_tag,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageReference("nginx")),
        ("nginx:1.25", ImageReference("nginx", tag="1.25")),
        ("team/app:v1.2.3", ImageReference("team/app", tag="v1.2.3")),
        ("127.0.0.1:5000/team/app:v1", ImageReference("team/app", registry="127.0.0.1:5000", tag="v1")),
        ("localhost/app", ImageReference("app", registry="localhost")),
        ("ghcr.io/org/sub/app", ImageReference("org/sub/app", registry="ghcr.io")),
        (f"team/app@{DIGEST}", ImageReference("team/app", digest=DIGEST)),
        (
            f"registry.example.com:443/team/app:v2@{DIGEST}",
            ImageReference("team/app", registry="registry.example.com:443", tag="v2", digest=DIGEST),
        ),
    ],
)
def test_parse_reference(text: str, expected: ImageReference) -> None:
    parsed = parse_reference(text)
    assert parsed == expected
    assert str(parsed) == text


def test_first_component_without_dot_or_port_is_a_namespace() -> None:
    assert parse_reference("team/app").registry is None


def test_reference_prefers_digest_then_tag_then_latest() -> None:
    assert parse_reference(f"a:v1@{DIGEST}").reference == DIGEST
    assert parse_reference("a:v1").reference == "v1"
    assert parse_reference("a").reference == "latest"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (" app", "spaces"),
        ("Team/App", "invalid repository name 'Team/App'"),
        ("app:-bad", "invalid tag '-bad'"),
        ("app@sha256:short", "digest 'sha256:short'"),
        ("app//x", "invalid repository name"),
    ],
)
def test_parse_reference_rejects_bad_input_naming_the_part(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid image reference") as excinfo:
        parse_reference(text)
    assert fragment in str(excinfo.value)


def test_with_digest_pins_and_validates() -> None:
    ref = parse_reference("team/app:v1").with_digest(DIGEST)
    assert str(ref) == f"team/app:v1@{DIGEST}"
    with pytest.raises(ValueError, match="invalid digest"):
        ref.with_digest("v1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, True),
        ("", True),
        ("docker.io", True),
        ("https://registry-1.docker.io", True),
        ("index.docker.io/", True),
        ("http://127.0.0.1:5000", False),
        ("ghcr.io", False),
    ],
)
def test_is_docker_hub(host: str | None, expected: bool) -> None:
    assert is_docker_hub(host) is expected


def test_docker_hub_official_images_live_under_library() -> None:
    assert normalize_repository("nginx", docker_hub=True) == "library/nginx"
    assert normalize_repository("bitnami/nginx", docker_hub=True) == "bitnami/nginx"
    assert normalize_repository("nginx", docker_hub=False) == "nginx"


def test_validators() -> None:
    assert is_digest(DIGEST)
    assert not is_digest("v1")
    assert validate_reference(DIGEST) == DIGEST
    assert validate_reference("v1.0") == "v1.0"
    with pytest.raises(ValueError, match="invalid digest"):
        validate_reference("sha256:xyz")
    with pytest.raises(ValueError, match="1-128 characters"):
        validate_tag("x" * 129)
    with pytest.raises(ValueError, match="longer than 255"):
        validate_repository("a" * 256)
    with pytest.raises(ValueError, match="empty"):
        validate_repository("")
