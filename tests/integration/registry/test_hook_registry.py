"""ContainerRegistryHook against a real docker-registry (distribution 2.8) with real pushed images.

Covered: pushing images (Docker and OCI manifests, blobs reused), stable digests, tag listing,
digests by HEAD, manifests and creation times, multi-platform indexes, catalog pagination, not-found
errors for repositories and tags, deletes (by digest, and the tag fallback), test_connection true and
false, htpasswd basic auth (good and bad password, anonymous refused), connection problems (missing
connection, bad extras), and the async variants.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.sdk import BaseHook

from airflow_delivery.artifacts.errors import (
    RegistryConfigError,
    RegistryNotFoundError,
    RegistryUnauthorizedError,
    RegistryUnsupportedError,
)
from airflow_delivery.artifacts.oci import (
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    canonical_json,
    sha256_digest,
)
from airflow_delivery.hooks.registry import ContainerRegistryHook, RegistryConnectionNotFoundError
from tests.fixtures.registry import RegistryServer, push_sample_image, run_registry
from tests.integration.registry.conftest import REGISTRY_PASSWORD, REGISTRY_USER

pytestmark = pytest.mark.integration

JAN = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)
FEB = datetime(2025, 2, 10, 8, 0, tzinfo=UTC)


def test_push_list_and_resolve_digests(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    d1 = push_sample_image(hook, "shop/api", "v1.0.0", content="one", created=JAN)
    d2 = push_sample_image(hook, "shop/api", "v1.1.0", content="two", created=FEB)
    # The same image under another tag: same digest, and the blobs are not uploaded twice.
    d1_again = push_sample_image(hook, "shop/api", "stable", content="one", created=JAN)
    assert d1 == d1_again != d2
    assert sorted(hook.list_tags("shop/api")) == ["stable", "v1.0.0", "v1.1.0"]
    assert hook.get_digest("shop/api", "v1.0.0") == d1
    assert hook.get_digest("shop/api", "stable") == d1
    assert hook.get_digest("shop/api", d2) == d2
    # Pushing again gives the same digest: digests are a function of the content only.
    assert push_sample_image(hook, "shop/api", "v1.1.0", content="two", created=FEB) == d2


def test_manifest_and_creation_time(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    digest = push_sample_image(hook, "shop/web", "v2", created=FEB)
    manifest = hook.get_manifest("shop/web", "v2")
    assert manifest.digest == digest
    assert manifest.media_type == DOCKER_MANIFEST_V2
    assert len(manifest.layer_digests) == 1
    info = hook.get_tag_info("shop/web", "v2")
    assert (info.repository, info.tag, info.digest, info.created) == ("shop/web", "v2", digest, FEB)
    undated = push_sample_image(hook, "shop/web", "undated", content="x")
    assert hook.get_tag_info("shop/web", "undated").created is None
    assert hook.get_digest("shop/web", "undated") == undated


def test_oci_manifest_and_multi_platform_index(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    amd = push_sample_image(hook, "shop/multi", "amd64-only", content="amd", created=JAN, oci=True)
    arm = push_sample_image(hook, "shop/multi", "arm64-only", content="arm", created=FEB, oci=True)
    assert hook.get_manifest("shop/multi", "amd64-only").media_type == OCI_MANIFEST
    sizes = {d: len(hook.get_manifest("shop/multi", d).raw) for d in (amd, arm)}
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": arm,
                    "size": sizes[arm],
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": amd,
                    "size": sizes[amd],
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
            ],
        }
    )
    index_digest = hook.put_manifest("shop/multi", "v3", index, OCI_INDEX)
    assert index_digest == sha256_digest(index)
    assert hook.get_digest("shop/multi", "v3") == index_digest
    assert hook.get_manifest("shop/multi", "v3").is_index
    # The tag pins the index digest; the creation time comes from the requested platform's image.
    assert hook.get_tag_info("shop/multi", "v3").created == JAN
    arm_hook = ContainerRegistryHook(registry_conn_id, platform="linux/arm64")
    info = arm_hook.get_tag_info("shop/multi", "v3")
    assert (info.digest, info.created) == (index_digest, FEB)


def test_catalog_is_paginated(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id, page_size=2)
    for name in ("cat/a", "cat/b", "cat/c", "cat/d", "cat/e"):
        push_sample_image(hook, name, "v1", content="same")
    repositories = hook.list_repositories()
    assert {"cat/a", "cat/b", "cat/c", "cat/d", "cat/e"} <= set(repositories)
    assert repositories == sorted(repositories)  # distribution pages in lexical order
    assert len(repositories) == len(set(repositories))


def test_not_found_errors_name_repository_tag_and_connection(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    push_sample_image(hook, "shop/known", "v1")
    with pytest.raises(RegistryNotFoundError, match="repository 'shop/unknown' not found") as excinfo:
        hook.list_tags("shop/unknown")
    assert excinfo.value.conn_id == registry_conn_id and registry_conn_id in str(excinfo.value)
    with pytest.raises(RegistryNotFoundError, match="tag 'v404' not found in repository 'shop/known'"):
        hook.get_digest("shop/known", "v404")
    # distribution reports an unknown repository's manifest as MANIFEST_UNKNOWN, not NAME_UNKNOWN.
    with pytest.raises(RegistryNotFoundError, match="tag 'v1' not found in repository 'shop/unknown'"):
        hook.get_digest("shop/unknown", "v1")
    with pytest.raises(RegistryNotFoundError, match="tag 'v404'"):
        hook.get_tag_info("shop/known", "v404")
    with pytest.raises(ValueError, match="invalid repository name 'Shop/Known'.*registry_test"):
        hook.list_tags("Shop/Known")
    with pytest.raises(ValueError, match="invalid tag"):
        hook.get_digest("shop/known", "-bad")


def test_delete_by_digest_and_tag_fallback(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    keep = push_sample_image(hook, "shop/del", "keep", content="keep")
    gone = push_sample_image(hook, "shop/del", "gone", content="gone")
    with pytest.raises(
        RegistryUnsupportedError, match="cannot delete tag 'gone'.*delete_manifest_if_unsupported"
    ):
        hook.delete_tag("shop/del", "gone")
    assert hook.delete_tag("shop/del", "gone", delete_manifest_if_unsupported=True) == gone
    assert hook.list_tags("shop/del") == ["keep"]
    hook.delete_manifest("shop/del", keep)
    assert hook.list_tags("shop/del") == []  # distribution answers "tags": null
    with pytest.raises(RegistryNotFoundError):
        hook.delete_manifest("shop/del", keep)
    with pytest.raises(ValueError, match="needs a digest"):
        hook.delete_manifest("shop/del", "keep")


def test_test_connection_up_and_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with run_registry(tmp_path / "reg") as server:
        monkeypatch.setenv("AIRFLOW_CONN_SHORT_LIVED", server.connection_json())
        # Airflow finds the hook class from the connection type (what the UI's Test button does).
        hook = BaseHook.get_hook("short_lived")
        assert isinstance(hook, ContainerRegistryHook)
        ok, message = hook.test_connection()
        assert ok, message
        assert server.url in message
    ok, message = ContainerRegistryHook("short_lived").test_connection()
    assert not ok
    assert "could not be reached" in message and "short_lived" in message


def test_basic_auth(auth_registry_server: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_REG_GOOD", auth_registry_server.connection_json(username=REGISTRY_USER))
    monkeypatch.setenv(
        "AIRFLOW_CONN_REG_BAD",
        auth_registry_server.connection_json(username=REGISTRY_USER, password="wrong-pw"),
    )
    monkeypatch.setenv("AIRFLOW_CONN_REG_ANON", auth_registry_server.connection_json())
    good = ContainerRegistryHook("reg_good")
    assert good.test_connection()[0]
    digest = push_sample_image(good, "private/app", "v1")
    assert good.list_tags("private/app") == ["v1"]
    assert good.get_digest("private/app", "v1") == digest

    for conn_id, advice in [
        ("reg_bad", "check the connection's username"),
        ("reg_anon", "has no credentials"),
    ]:
        hook = ContainerRegistryHook(conn_id)
        with pytest.raises(RegistryUnauthorizedError, match=advice) as excinfo:
            hook.list_tags("private/app")
        assert conn_id in str(excinfo.value)
        assert "wrong-pw" not in str(excinfo.value) and REGISTRY_PASSWORD not in str(excinfo.value)
        ok, message = hook.test_connection()
        assert not ok and "HTTP 401" in message


def test_async_reads(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    digest = push_sample_image(hook, "shop/async", "v1.0.0", created=JAN)

    async def read() -> tuple[list[str], str, object, list[str], tuple[bool, str]]:
        async_hook = ContainerRegistryHook(registry_conn_id)
        return (
            await async_hook.alist_tags("shop/async"),
            await async_hook.aget_digest("shop/async", "v1.0.0"),
            await async_hook.aget_tag_info("shop/async", "v1.0.0"),
            await async_hook.alist_repositories(),
            await async_hook.atest_connection(),
        )

    tags, got_digest, info, repositories, (ok, _) = asyncio.run(read())
    assert tags == ["v1.0.0"] and got_digest == digest and ok
    assert info.created == JAN  # type: ignore[attr-defined]
    assert "shop/async" in repositories
    manifest = asyncio.run(ContainerRegistryHook(registry_conn_id).aget_manifest("shop/async", digest))
    assert manifest.digest == digest


def test_missing_connection_names_the_id() -> None:
    with pytest.raises(
        RegistryConnectionNotFoundError,
        match="'no_such_registry' is not defined.*AIRFLOW_CONN_NO_SUCH_REGISTRY",
    ):
        ContainerRegistryHook("no_such_registry").list_tags("a/b")
    with pytest.raises(RegistryConnectionNotFoundError):
        asyncio.run(ContainerRegistryHook("no_such_registry").alist_tags("a/b"))
    ok, message = ContainerRegistryHook("no_such_registry").test_connection()
    assert not ok and "no_such_registry" in message


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"host": "ftp://registry.example"}, "must be an http:// or https:// URL"),
        ({"host": "ftp://bot:hidden-pw@registry.example"}, "host 'ftp://\\*\\*\\*@registry.example' must be"),
        (
            {"host": "http://127.0.0.1:5000", "extra": {"verify_tls": "maybe"}},
            "'verify_tls' must be true or false",
        ),
        (
            {"host": "https://r.example", "extra": {"ca_bundle": "/nonexistent/ca.pem"}},
            "'ca_bundle' points at",
        ),
    ],
)
def test_bad_connection_fields_are_named(
    connection: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_FIELDS", json.dumps({"conn_type": "container_registry", **connection})
    )
    with pytest.raises(RegistryConfigError, match=message) as excinfo:
        ContainerRegistryHook("bad_fields").list_tags("a/b")
    assert "bad_fields" in str(excinfo.value) and "hidden-pw" not in str(excinfo.value)


def test_connection_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    def settings(connection: dict[str, object]) -> object:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SETTINGS_T", json.dumps({"conn_type": "container_registry", **connection})
        )
        return ContainerRegistryHook("settings_t").settings

    hub = settings({"host": "docker.io", "login": "me", "password": "pat"})
    assert (hub.base_url, hub.docker_hub, hub.registry) == ("https://registry-1.docker.io", True, "docker.io")  # type: ignore[attr-defined]
    assert "pat" not in repr(hub)
    assert settings({}).docker_hub  # type: ignore[attr-defined]
    local = settings({"host": "localhost:5000", "extra": {"extra__container_registry__verify_tls": "false"}})
    assert (local.base_url, local.verify, local.registry) == (
        "http://localhost:5000",
        False,
        "localhost:5000",
    )  # type: ignore[attr-defined]
    embedded = settings({"host": "https://bot:url-secret@registry.example.com/"})
    assert (embedded.base_url, embedded.username, embedded.password) == (  # type: ignore[attr-defined]
        "https://registry.example.com",
        "bot",
        "url-secret",
    )
    remote = settings({"host": "registry.example.com", "port": 8443})
    assert remote.base_url == "https://registry.example.com:8443"  # type: ignore[attr-defined]
