"""Explicit artifact binding.

Covered: Docker Hub name normalisation (``nginx`` == ``docker.io/library/nginx``), registries with
ports, digests (in the manifest and as the bound value), tags plus digests, init containers and
every workload kind, required artifacts failing first with every missing one and where it was
expected, invalid bound values, unmatched artifacts (ignore/warn/error), duplicate declarations,
unparsable images left alone with a warning, and inputs never mutated.
"""

from __future__ import annotations

import copy

import pytest

from airflow_delivery.kubernetes.artifacts import (
    ArtifactBindingError,
    BoundReference,
    DeclaredArtifact,
    bind_artifacts,
    canonical_repository,
)
from airflow_delivery.kubernetes.manifests import images, parse_manifests

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

MANIFESTS = parse_manifests(
    f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      initContainers:
      - {{name: migrate, image: "registry.example.com:5000/team/api:v1"}}
      containers:
      - {{name: api, image: "registry.example.com:5000/team/api:v1@{DIGEST_A}"}}
      - {{name: proxy, image: "nginx:1.25"}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: report}}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {{name: report, image: "docker.io/library/nginx"}}
          restartPolicy: Never
---
apiVersion: v1
kind: Service
metadata: {{name: api}}
spec: {{selector: {{app: api}}}}
"""
)

API = DeclaredArtifact("registry.example.com:5000/team/api", name="api")
NGINX = DeclaredArtifact("docker.io/library/nginx", name="nginx")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("library/nginx:1.25", "docker.io/library/nginx"),
        ("docker.io/library/nginx", "docker.io/library/nginx"),
        ("index.docker.io/library/nginx@" + DIGEST_A, "docker.io/library/nginx"),
        ("bitnami/redis:7", "docker.io/bitnami/redis"),
        ("registry.example.com:5000/team/api:v1", "registry.example.com:5000/team/api"),
        ("Registry.Example.COM/team/api", "registry.example.com/team/api"),
        ("localhost/app", "localhost/app"),
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app"),
    ],
)
def test_canonical_repository(text: str, canonical: str) -> None:
    assert canonical_repository(text) == canonical


def test_binds_tags_everywhere_the_repository_is_used_and_records_it() -> None:
    before = copy.deepcopy(MANIFESTS)
    result = bind_artifacts(MANIFESTS, [API, NGINX], {"api": "v2", "nginx": "1.27"})
    assert MANIFESTS == before  # never mutated
    deployment, cronjob, service = result.manifests
    assert images(deployment) == ["registry.example.com:5000/team/api:v2", "nginx:1.27"]
    assert images(cronjob) == ["docker.io/library/nginx:1.27"]
    assert service == MANIFESTS[2]
    record = [(b.artifact, b.document, b.container, b.path) for b in result.bindings]
    assert record == [
        ("api", 1, "migrate", "spec.template.spec.initContainers[0]"),
        ("api", 1, "api", "spec.template.spec.containers[0]"),
        ("nginx", 1, "proxy", "spec.template.spec.containers[1]"),
        ("nginx", 2, "report", "spec.jobTemplate.spec.template.spec.containers[0]"),
    ]
    assert result.bindings[1].before.endswith(DIGEST_A) and result.bindings[1].after.endswith(":v2")
    assert result.to_dict()["bindings"][0]["after"] == "registry.example.com:5000/team/api:v2"
    assert result.warnings == [] and result.unmatched == []


def test_binds_digests_and_tag_at_digest() -> None:
    result = bind_artifacts(MANIFESTS, [API, NGINX], {"api": DIGEST_B, "nginx": f"1.27@{DIGEST_B}"})
    deployment = result.manifests[0]
    assert images(deployment) == [f"registry.example.com:5000/team/api@{DIGEST_B}", f"nginx:1.27@{DIGEST_B}"]


def test_bound_value_may_be_a_full_reference_of_the_same_repository() -> None:
    result = bind_artifacts(MANIFESTS, [NGINX], {"nginx": "nginx:1.27"})
    assert images(result.manifests[1]) == ["docker.io/library/nginx:1.27"]
    assert result.bound_artifacts == {"nginx": "docker.io/library/nginx:1.27"}


def test_bound_value_may_be_looked_up_by_repository() -> None:
    result = bind_artifacts(MANIFESTS, [DeclaredArtifact("nginx")], {"nginx": "1.26"})
    assert images(result.manifests[1]) == ["docker.io/library/nginx:1.26"]


def test_required_unbound_artifacts_fail_first_listing_each_and_where() -> None:
    missing_cache = DeclaredArtifact("registry.example.com/team/cache", name="cache")
    with pytest.raises(ArtifactBindingError) as info:
        # "nginx" is bound to garbage too, but missing artifacts are reported before anything else.
        bind_artifacts(MANIFESTS, [API, NGINX, missing_cache], {"nginx": "not a tag!"}, on_unmatched="error")
    error = info.value
    assert len(error.problems) == 2
    assert error.problems[0].startswith(
        "'api' (registry.example.com:5000/team/api) expected by: document 1 Deployment 'api'"
    )
    assert "container 'migrate' (spec.template.spec.initContainers[0])" in error.problems[0]
    assert "container 'api' (spec.template.spec.containers[0])" in error.problems[0]
    assert (
        error.problems[1]
        == "'cache' (registry.example.com/team/cache) expected by: no container image in the manifests uses it"
    )
    assert "2 required artifact(s) not bound" in str(error)


def test_empty_bound_value_counts_as_unbound() -> None:
    with pytest.raises(ArtifactBindingError, match="not bound"):
        bind_artifacts(MANIFESTS, [API], {"api": ""})


def test_optional_unbound_artifacts_leave_images_alone() -> None:
    optional = DeclaredArtifact("nginx", name="nginx", required=False)
    result = bind_artifacts(MANIFESTS, [API, optional], {"api": "v3"})
    assert result.unbound_optional == ["nginx"]
    assert images(result.manifests[0]) == ["registry.example.com:5000/team/api:v3", "nginx:1.25"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("not a tag!", "invalid tag"),
        ("sha256:1234", "invalid digest"),
        ("v2@notadigest", "not a digest"),
        ("registry.example.com:5000/team/other:v2", "declared as 'registry.example.com:5000/team/api'"),
        ("registry.example.com:5000/team/api", "names no tag or digest"),
    ],
)
def test_invalid_bound_values_are_errors_naming_the_artifact(value: str, fragment: str) -> None:
    with pytest.raises(ArtifactBindingError) as info:
        bind_artifacts(MANIFESTS, [API], {"api": value})
    assert "artifact 'api' is bound to" in str(info.value) and fragment in str(info.value)


def test_unmatched_artifacts_warn_error_or_are_ignored() -> None:
    unused = DeclaredArtifact("registry.example.com/team/unused", name="unused")
    warned = bind_artifacts(MANIFESTS, [API, unused], {"api": "v2", "unused": "v1"})
    assert warned.unmatched == ["unused"]
    assert warned.warnings == [
        "artifact 'unused' (registry.example.com/team/unused) is bound but no container image uses it"
    ]
    ignored = bind_artifacts(MANIFESTS, [API, unused], {"api": "v2", "unused": "v1"}, on_unmatched="ignore")
    assert ignored.unmatched == ["unused"] and ignored.warnings == []
    with pytest.raises(ArtifactBindingError, match=r"match no container image.*\n  - 'unused'"):
        bind_artifacts(MANIFESTS, [API, unused], {"api": "v2", "unused": "v1"}, on_unmatched="error")
    with pytest.raises(ValueError, match="on_unmatched='loud'"):
        bind_artifacts(MANIFESTS, [API], {"api": "v2"}, on_unmatched="loud")  # type: ignore[arg-type]


def test_repository_prefixes_do_not_match() -> None:
    # registry.example.com:5000/team/api must not bind team/api-migrate or a different port.
    manifests = parse_manifests(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: a, image: 'registry.example.com:5000/team/api-migrate:v1'}\n"
        "  - {name: b, image: 'registry.example.com:5001/team/api:v1'}\n"
        "  - {name: c, image: 'registry.example.com/team/api:v1'}\n"
    )
    result = bind_artifacts(manifests, [API], {"api": "v2"})
    assert result.bindings == [] and result.unmatched == ["api"]


def test_unparsable_images_are_left_alone_with_a_warning() -> None:
    manifests = parse_manifests(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: a, image: 'NOT VALID'}\n  - {name: b, image: nginx}\n"
    )
    result = bind_artifacts(manifests, [NGINX], {"nginx": "1.27"})
    assert images(result.manifests[0]) == ["NOT VALID", "nginx:1.27"]
    assert len(result.warnings) == 1 and "'NOT VALID' is not a valid reference" in result.warnings[0]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"repository": "nginx:1.25"}, "carries a tag or digest"),
        ({"repository": "Not Valid"}, "invalid image reference"),
    ],
)
def test_invalid_declarations(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        DeclaredArtifact(**kwargs)


def test_duplicate_declarations_are_rejected() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        bind_artifacts(MANIFESTS, [API, DeclaredArtifact("nginx", name="api")], {})
    with pytest.raises(ValueError, match="both declare repository 'docker.io/library/nginx'"):
        bind_artifacts(
            MANIFESTS, [DeclaredArtifact("nginx", name="a"), DeclaredArtifact("library/nginx", name="b")], {}
        )


def test_bound_reference_text() -> None:
    assert str(BoundReference.parse(f"v2@{DIGEST_A}", API)) == f"v2@{DIGEST_A}"
    assert str(BoundReference.parse("v2", API)) == "v2"
    assert BoundReference.parse(DIGEST_A, API).digest == DIGEST_A
