"""Container registry hook: the Docker Registry HTTP API v2 (Docker Hub, distribution, GHCR, Harbor, ...).

Pipelines need four things from a registry: the tags of a repository (to notice new images), the
digest a tag points at (to deploy exactly that image), when an image was built (to order tags by push
time) and, for demos and tests, a way to push real images. This hook offers those, sync for operators
and sensors on workers and async (``a*`` methods) for triggers in the triggerer.

Each operation is written once, as a generator that yields the HTTP calls it needs and receives the
responses (``_Call`` in, ``httpx.Response`` out). A sync and an async driver run the same generator,
so pagination, digest checks and error mapping cannot drift apart between the two. The drivers own the
transport concerns: retries with backoff for 429 (honouring ``Retry-After``), 5xx and network errors,
and the mapping of failures to ``airflow_delivery.artifacts.errors`` exceptions whose messages name
the registry, the connection id and the repository/tag. Authentication (anonymous, basic, Docker token
auth) is ``airflow_delivery.artifacts.auth.RegistryAuth``.

Credentials never appear in messages or logs.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_delivery import __version__
from airflow_delivery.artifacts.auth import RegistryAuth
from airflow_delivery.artifacts.errors import (
    RegistryConfigError,
    RegistryError,
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryRateLimitedError,
    RegistryRequestError,
    RegistryServerError,
    RegistryUnauthorizedError,
    RegistryUnavailableError,
    RegistryUnsupportedError,
)
from airflow_delivery.artifacts.oci import (
    MANIFEST_ACCEPT,
    Manifest,
    Platform,
    build_image_manifest,
    canonical_json,
    parse_created,
    sha256_digest,
)
from airflow_delivery.artifacts.protocol import (
    RETRYABLE_STATUS,
    RetryPolicy,
    parse_error_body,
    parse_link_next,
    parse_retry_after,
)
from airflow_delivery.artifacts.references import (
    DOCKER_HUB_DOMAIN,
    DOCKER_HUB_REGISTRY_URL,
    is_digest,
    is_docker_hub,
    normalize_repository,
    validate_reference,
    validate_tag,
)
from airflow_delivery.artifacts.tags import TagInfo
from airflow_delivery.utils.extras import flag
from airflow_delivery.utils.tls import ssl_verify

T = TypeVar("T")

CONN_TYPE = "container_registry"
_MAX_PAGES = 10_000  # a registry whose Link headers never end must not hang a trigger forever


class RegistryConnectionNotFoundError(RegistryConfigError, AirflowNotFoundException):
    """The connection id is not defined in any secrets backend."""


@dataclass(frozen=True)
class _Call:
    """One HTTP call an operation needs; ``what`` describes it for error messages."""

    method: str
    url: str
    what: str
    repository: str | None = None
    reference: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | int] | None = None
    content: bytes | None = None
    # Non-2xx statuses handed back to the operation instead of raising (e.g. 404 from "does it exist?").
    allow: frozenset[int] = frozenset()
    retry: bool = True
    hint: str = ""  # appended to a 405 message: how to enable what the registry refused


Flow = Generator[_Call, httpx.Response, T]


@dataclass(frozen=True)
class RegistrySettings:
    """The usable parts of a ``container_registry`` connection; the password is kept out of ``repr``."""

    conn_id: str
    base_url: str
    docker_hub: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True  # True/False, or the path of a CA bundle

    @property
    def registry(self) -> str:
        """The registry as it appears in image references: ``docker.io`` or ``host[:port]``."""
        if self.docker_hub:
            return DOCKER_HUB_DOMAIN
        return httpx.URL(self.base_url).netloc.decode()

    @classmethod
    def from_connection(cls, conn: Any) -> RegistrySettings:
        conn_id = str(conn.conn_id)
        host = (conn.host or "").strip()
        docker_hub = is_docker_hub(host)
        embedded_login: str | None = None
        embedded_password: str | None = None
        if docker_hub:
            base_url = DOCKER_HUB_REGISTRY_URL
        else:
            if "://" not in host:
                # Like the docker CLI: plain HTTP only for a registry on this machine.
                loopback = host.split(":")[0] in ("localhost", "127.0.0.1") or host.startswith("[::1]")
                host = ("http://" if loopback else "https://") + host
            try:
                url = httpx.URL(host)
            except (httpx.InvalidURL, TypeError) as exc:
                raise RegistryConfigError(
                    f"registry connection '{conn_id}' has an invalid host {_without_userinfo(host)!r}: {exc}; "
                    "expected a URL such as https://registry.example.com or http://127.0.0.1:5000",
                    conn_id=conn_id,
                ) from None
            if url.scheme not in ("http", "https") or not url.host:
                raise RegistryConfigError(
                    f"registry connection '{conn_id}': host {_without_userinfo(host)!r} must be an http:// or "
                    "https:// URL with a host name",
                    conn_id=conn_id,
                )
            if url.username and not conn.login:  # credentials written into the URL: use them, never show them
                embedded_login, embedded_password = url.username, url.password or None
            url = url.copy_with(username=None, password=None)
            if conn.port and url.port is None:
                url = url.copy_with(port=int(conn.port))
            base_url = str(url.copy_with(query=None, fragment=None)).rstrip("/")
        extras = conn.extra_dejson or {}

        def extra(name: str) -> Any:
            # The React UI stores conn-fields unprefixed; older forms used extra__<conn_type>__<name>.
            value = extras.get(name)
            return extras.get(f"extra__{CONN_TYPE}__{name}") if value in (None, "") else value

        verify: bool | str = _parse_bool(extra("verify_tls"), conn_id=conn_id, name="verify_tls")
        ca_bundle = extra("ca_bundle")
        if ca_bundle and verify:
            if not Path(str(ca_bundle)).is_file():
                raise RegistryConfigError(
                    f"registry connection '{conn_id}': extra 'ca_bundle' points at {ca_bundle!r}, which is "
                    "not a readable file; give the path of a PEM file with the registry's CA",
                    conn_id=conn_id,
                )
            verify = str(ca_bundle)
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            docker_hub=docker_hub,
            username=conn.login or embedded_login,
            password=conn.password or embedded_password,
            verify=verify,
        )


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, for error messages."""
    return re.sub(r"://[^/@]*@", "://***@", url)


def _parse_bool(value: Any, *, conn_id: str, name: str) -> bool:
    parsed = flag(value, default=True)
    if parsed is not None:
        return parsed
    raise RegistryConfigError(
        f"registry connection '{conn_id}': extra '{name}' must be true or false, got {value!r}",
        conn_id=conn_id,
    )


class ContainerRegistryHook(BaseHook):
    """Talk to a registry speaking the Docker Registry HTTP API v2 through a ``container_registry`` connection.

    :param registry_conn_id: connection id. Host is the registry URL (empty or ``docker.io`` means Docker
        Hub), login/password the credentials (a password or an access token; empty for anonymous),
        extras ``verify_tls`` (default true) and ``ca_bundle`` (path of a PEM CA file).
    :param timeout: seconds for one HTTP request.
    :param retry_policy: retries of 429/5xx/network failures (bounded; honours ``Retry-After``).
    :param page_size: ``n`` sent with tag and catalog listings; ``None`` lets the registry choose.
    :param platform: which image of a multi-platform index to read the creation time from.
    """

    conn_name_attr = "registry_conn_id"
    default_conn_name = "registry_default"
    conn_type = CONN_TYPE
    hook_name = "Container Registry (Docker Registry HTTP API v2)"

    def __init__(
        self,
        registry_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        page_size: int | None = None,
        platform: str = "linux/amd64",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be a positive number of entries, got {page_size}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        self.registry_conn_id = registry_conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self.page_size = page_size
        self.platform = Platform.parse(platform)
        self._settings: RegistrySettings | None = None
        self._auth: RegistryAuth | None = None

    # -- connection -----------------------------------------------------------------------------

    def _not_found(self) -> RegistryConnectionNotFoundError:
        env = "AIRFLOW_CONN_" + self.registry_conn_id.upper()
        return RegistryConnectionNotFoundError(
            f"registry connection '{self.registry_conn_id}' is not defined: create it (type "
            f"'{CONN_TYPE}') in Admin > Connections or set the environment variable {env}",
            conn_id=self.registry_conn_id,
        )

    def _use(self, conn: Any) -> RegistrySettings:
        self._settings = RegistrySettings.from_connection(conn)
        self._auth = RegistryAuth(
            username=self._settings.username,
            password=self._settings.password,
            conn_id=self._settings.conn_id,
        )
        return self._settings

    @property
    def settings(self) -> RegistrySettings:
        """The connection's settings, read once per hook (sync lookup; use ``aget_settings`` in async code)."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.registry_conn_id)
            except AirflowNotFoundException:
                raise self._not_found() from None
            return self._use(conn)
        return self._settings

    async def aget_settings(self) -> RegistrySettings:
        """Async ``settings``: reads the connection with ``aget_connection`` so the event loop never blocks."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.registry_conn_id)
            except AirflowNotFoundException:
                raise self._not_found() from None
            return self._use(conn)
        return self._settings

    def _client_kwargs(self, settings: RegistrySettings) -> dict[str, Any]:
        verify: bool | ssl.SSLContext = ssl_verify(settings.verify)
        return {
            "base_url": settings.base_url,
            "auth": self._auth,
            "verify": verify,
            "timeout": httpx.Timeout(self.timeout),
            "follow_redirects": True,  # blobs are often served from a CDN through a redirect
            "headers": {"User-Agent": f"airflow-delivery/{__version__}"},
        }

    def get_conn(self) -> httpx.Client:
        """A configured ``httpx.Client`` (base URL, auth, TLS); the caller closes it."""
        return httpx.Client(**self._client_kwargs(self.settings))

    # -- public API: reading --------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Call ``GET /v2/`` once (authenticating if asked) so the UI's Test button shows the real state."""
        try:
            settings = self.settings
            version = self._run(self._ping_flow)
        except Exception as exc:  # noqa: BLE001 - the UI shows the reason instead of a stack trace
            return False, str(exc)
        return True, f"Connected to {settings.base_url} (Docker Registry HTTP API v2, {version})"

    async def atest_connection(self) -> tuple[bool, str]:
        """Async :meth:`test_connection`."""
        try:
            settings = await self.aget_settings()
            version = await self._arun(self._ping_flow)
        except Exception as exc:  # noqa: BLE001
            return False, str(exc)
        return True, f"Connected to {settings.base_url} (Docker Registry HTTP API v2, {version})"

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (following ``Link`` pagination), in the registry's order."""
        return self._run(lambda s: self._tags_flow(s, repository))

    async def alist_tags(self, repository: str) -> list[str]:
        """Async :meth:`list_tags`."""
        return await self._arun(lambda s: self._tags_flow(s, repository))

    def get_digest(self, repository: str, reference: str) -> str:
        """The digest (``sha256:...``) of the manifest ``reference`` (a tag or digest) names."""
        return self._run(lambda s: self._digest_flow(s, repository, reference))

    async def aget_digest(self, repository: str, reference: str) -> str:
        """Async :meth:`get_digest`."""
        return await self._arun(lambda s: self._digest_flow(s, repository, reference))

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest (image manifest or multi-platform index) ``reference`` names, digest-checked."""
        return self._run(lambda s: self._manifest_flow(s, repository, reference))

    async def aget_manifest(self, repository: str, reference: str) -> Manifest:
        """Async :meth:`get_manifest`."""
        return await self._arun(lambda s: self._manifest_flow(s, repository, reference))

    def get_tag_info(self, repository: str, tag: str) -> TagInfo:
        """Digest and creation time of ``tag`` (from the image config; the API has no push time)."""
        return self._run(lambda s: self._tag_info_flow(s, repository, tag))

    async def aget_tag_info(self, repository: str, tag: str) -> TagInfo:
        """Async :meth:`get_tag_info`."""
        return await self._arun(lambda s: self._tag_info_flow(s, repository, tag))

    def list_repositories(self) -> list[str]:
        """Every repository in the registry's catalog (``/v2/_catalog``, paginated)."""
        return self._run(self._catalog_flow)

    async def alist_repositories(self) -> list[str]:
        """Async :meth:`list_repositories`."""
        return await self._arun(self._catalog_flow)

    # -- public API: writing (demos, tests, promotion) -----------------------------------------

    def push_image(
        self,
        repository: str,
        tag: str,
        *,
        config: Mapping[str, Any],
        layers: Sequence[bytes],
        oci: bool = False,
    ) -> str:
        """Push a real single-platform image and return its manifest digest.

        ``config`` is the image config document (see ``airflow_delivery.artifacts.oci.image_config``),
        ``layers`` the compressed layer blobs in order. Blobs already in the repository are not uploaded
        again. The manifest is a Docker v2 manifest, or an OCI manifest with ``oci=True``.
        """
        config_blob = canonical_json(dict(config))
        layers = [bytes(layer) for layer in layers]
        media_type, manifest = build_image_manifest(config_blob, layers, oci=oci)

        def flow(s: RegistrySettings) -> Flow[str]:
            name = self._name(s, repository)
            validate_tag(tag)
            for blob in (config_blob, *layers):
                yield from self._upload_blob_flow(s, name, blob)
            return (yield from self._put_manifest_flow(s, name, tag, manifest, media_type))

        return self._run(flow)

    def put_manifest(self, repository: str, reference: str, manifest: bytes, media_type: str) -> str:
        """Store ``manifest`` under ``reference`` (tag or its digest); every blob it names must exist."""
        return self._run(
            lambda s: self._put_manifest_flow(s, self._name(s, repository), reference, manifest, media_type)
        )

    def upload_blob(self, repository: str, blob: bytes) -> str:
        """Upload one blob (monolithic POST + PUT) unless present; return its digest."""
        return self._run(lambda s: self._upload_blob_flow(s, self._name(s, repository), blob))

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest, and with it every tag pointing at it.

        Registries must allow deletes (distribution: ``storage.delete.enabled: true``); otherwise this
        raises ``RegistryUnsupportedError`` saying so.
        """
        self._run(lambda s: self._delete_manifest_flow(s, repository, digest))

    def delete_tag(
        self, repository: str, tag: str, *, delete_manifest_if_unsupported: bool = False
    ) -> str | None:
        """Delete one tag.

        Registries following OCI distribution 1.1 delete the tag alone. Docker Registry 2.x can only
        delete manifests by digest, which also removes every other tag on that digest; that happens only
        with ``delete_manifest_if_unsupported=True`` (returns the deleted digest), otherwise
        ``RegistryUnsupportedError`` explains the choice.
        """
        return self._run(lambda s: self._delete_tag_flow(s, repository, tag, delete_manifest_if_unsupported))

    # -- flows: one definition per operation, run by the sync and async drivers ----------------

    def _name(self, settings: RegistrySettings, repository: str) -> str:
        try:
            return normalize_repository(repository, docker_hub=settings.docker_hub)
        except ValueError as exc:
            raise ValueError(f"{exc} (registry connection '{settings.conn_id}')") from None

    def _ping_flow(self, s: RegistrySettings) -> Flow[str]:
        response = yield _Call("GET", "/v2/", "the API root /v2/", allow=frozenset({404}), retry=False)
        if response.status_code == 404:
            raise RegistryUnsupportedError(
                f"{s.base_url} (connection '{s.conn_id}') has no /v2/ endpoint: it does not speak the "
                "Docker Registry HTTP API v2; check the connection's host",
                conn_id=s.conn_id,
                http_status=404,
            )
        return response.headers.get("docker-distribution-api-version") or "API version not announced"

    def _paginated_flow(self, s: RegistrySettings, call: _Call, key: str) -> Flow[list[str]]:
        """Follow ``Link: <...>; rel="next"`` and collect the ``key`` list of every page, deduplicated."""
        items: list[str] = []
        seen: set[str] = set()
        visited: set[str] = set()
        for _ in range(_MAX_PAGES):
            response = yield call
            document = _json_object(response, call, s)
            page = document.get(key) or []  # distribution sends "tags": null for a repo with none
            if not isinstance(page, list) or not all(isinstance(item, str) for item in page):
                raise self._protocol_error(s, call, f"'{key}' is not a list of strings")
            for item in page:
                if item not in seen:
                    seen.add(item)
                    items.append(item)
            next_link = parse_link_next(response.headers.get_list("link"))
            if next_link is None:
                return items
            next_url = str(response.url.join(next_link))
            if next_url in visited:
                raise self._protocol_error(s, call, f"pagination loops back to {next_link}")
            visited.add(next_url)
            call = _Call(call.method, next_url, call.what, repository=call.repository, headers=call.headers)
        raise self._protocol_error(s, call, f"more than {_MAX_PAGES} pages")

    def _tags_flow(self, s: RegistrySettings, repository: str) -> Flow[list[str]]:
        name = self._name(s, repository)
        params = {"n": self.page_size} if self.page_size else None
        call = _Call("GET", f"/v2/{name}/tags/list", f"the tags of repository '{name}'", name, params=params)
        return (yield from self._paginated_flow(s, call, "tags"))

    def _catalog_flow(self, s: RegistrySettings) -> Flow[list[str]]:
        params = {"n": self.page_size} if self.page_size else None
        hint = " (Docker Hub offers no catalog; list tags of known repositories)" if s.docker_hub else ""
        call = _Call("GET", "/v2/_catalog", f"the repository catalog{hint}", params=params)
        return (yield from self._paginated_flow(s, call, "repositories"))

    def _manifest_call(self, name: str, reference: str, method: str = "GET", **kwargs: Any) -> _Call:
        return _Call(
            method,
            f"/v2/{name}/manifests/{reference}",
            f"manifest '{reference}' of repository '{name}'",
            name,
            reference,
            headers={"Accept": MANIFEST_ACCEPT},
            **kwargs,
        )

    def _digest_flow(self, s: RegistrySettings, repository: str, reference: str) -> Flow[str]:
        name = self._name(s, repository)
        validate_reference(reference)
        response = yield self._manifest_call(name, reference, "HEAD", allow=frozenset({404}))
        digest = response.headers.get("docker-content-digest") if response.status_code == 200 else None
        if digest is None:
            # A HEAD 404 has no body to tell "no such repository" from "no such tag", and some registries
            # omit the digest header on HEAD: a GET answers both.
            response = yield self._manifest_call(name, reference)
            digest = sha256_digest(response.content)
        if is_digest(reference) and digest != reference:
            raise self._protocol_error(s, self._manifest_call(name, reference), f"served digest {digest}")
        return digest

    def _manifest_flow(self, s: RegistrySettings, repository: str, reference: str) -> Flow[Manifest]:
        name = self._name(s, repository)
        validate_reference(reference)
        call = self._manifest_call(name, reference)
        response = yield call
        try:
            manifest = Manifest.parse(response.content, content_type=response.headers.get("content-type"))
        except ValueError as exc:
            raise self._protocol_error(s, call, str(exc)) from None
        if is_digest(reference) and manifest.digest != reference:
            raise self._protocol_error(s, call, f"content has digest {manifest.digest}")
        return manifest

    def _tag_info_flow(self, s: RegistrySettings, repository: str, tag: str) -> Flow[TagInfo]:
        name = self._name(s, repository)
        manifest = yield from self._manifest_flow(s, name, tag)
        image = manifest
        if manifest.is_index:
            child = manifest.child_for(self.platform)
            if child is None:
                return TagInfo(name, tag, manifest.digest, manifest.media_type, created=None)
            image = yield from self._manifest_flow(s, name, child)
        created = None
        if image.config_digest:
            config_digest = image.config_digest
            call = _Call(
                "GET", f"/v2/{name}/blobs/{config_digest}", f"image config of '{name}:{tag}'", name, tag
            )
            response = yield call
            if sha256_digest(response.content) != config_digest and config_digest.startswith("sha256:"):
                raise self._protocol_error(s, call, "config blob does not match its digest")
            created = parse_created(response.content)
        return TagInfo(name, tag, manifest.digest, manifest.media_type, created=created)

    def _upload_blob_flow(self, s: RegistrySettings, name: str, blob: bytes) -> Flow[str]:
        digest = sha256_digest(blob)
        what = f"blob {digest[:19]}... of repository '{name}'"
        response = yield _Call("HEAD", f"/v2/{name}/blobs/{digest}", what, name, allow=frozenset({404}))
        if response.status_code == 200:
            return digest
        start = _Call("POST", f"/v2/{name}/blobs/uploads/", f"upload of {what}", name, content=b"")
        response = yield start
        location = response.headers.get("location")
        if not location:
            raise self._protocol_error(s, start, "202 without a Location header")
        # The upload URL carries its own state in the query string: add the digest, do not replace it.
        url = response.url.join(location).copy_merge_params({"digest": digest})
        yield _Call(
            "PUT",
            str(url),
            f"upload of {what}",
            name,
            headers={"Content-Type": "application/octet-stream"},
            content=blob,
        )
        return digest

    def _put_manifest_flow(
        self, s: RegistrySettings, name: str, reference: str, manifest: bytes, media_type: str
    ) -> Flow[str]:
        validate_reference(reference)
        digest = sha256_digest(manifest)
        if is_digest(reference) and reference != digest:
            raise ValueError(f"manifest has digest {digest}, not {reference}")
        call = _Call(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            f"manifest '{reference}' of repository '{name}'",
            name,
            reference,
            headers={"Content-Type": media_type},
            content=manifest,
        )
        response = yield call
        served = response.headers.get("docker-content-digest")
        if served and served != digest:
            raise self._protocol_error(s, call, f"registry stored it as {served}, expected {digest}")
        return digest

    def _delete_manifest_flow(self, s: RegistrySettings, repository: str, digest: str) -> Flow[None]:
        name = self._name(s, repository)
        if not is_digest(digest):
            raise ValueError(f"delete_manifest needs a digest (sha256:...), got {digest!r}; use delete_tag")
        hint = "; enable deletes on the registry (distribution: storage.delete.enabled: true)"
        yield self._manifest_call(name, digest, "DELETE", hint=hint)
        return None

    def _delete_tag_flow(
        self, s: RegistrySettings, repository: str, tag: str, fallback: bool
    ) -> Flow[str | None]:
        name = self._name(s, repository)
        validate_tag(tag)
        response = yield self._manifest_call(name, tag, "DELETE", allow=frozenset({400, 405}))
        if response.status_code < 300:
            return None
        if not fallback:
            raise RegistryUnsupportedError(
                f"registry {s.base_url} (connection '{s.conn_id}') cannot delete tag '{tag}' of repository "
                f"'{name}' on its own (HTTP {response.status_code}): it deletes manifests by digest only, "
                "which removes every tag on that digest; pass delete_manifest_if_unsupported=True to do that",
                conn_id=s.conn_id,
                repository=name,
                reference=tag,
                http_status=response.status_code,
            )
        digest = yield from self._digest_flow(s, name, tag)
        yield from self._delete_manifest_flow(s, name, digest)
        return digest

    # -- drivers ---------------------------------------------------------------------------------

    def _run(self, make_flow: Callable[[RegistrySettings], Flow[T]]) -> T:
        settings = self.settings
        flow = make_flow(settings)
        with httpx.Client(**self._client_kwargs(settings)) as client:
            try:
                call = next(flow)
                while True:
                    call = flow.send(self._send(client, call, settings))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    async def _arun(self, make_flow: Callable[[RegistrySettings], Flow[T]]) -> T:
        settings = await self.aget_settings()
        flow = make_flow(settings)
        async with httpx.AsyncClient(**self._client_kwargs(settings)) as client:
            try:
                call = next(flow)
                while True:
                    call = flow.send(await self._asend(client, call, settings))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def _send(self, client: httpx.Client, call: _Call, s: RegistrySettings) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = client.request(
                    call.method,
                    call.url,
                    headers=dict(call.headers),
                    params=call.params,
                    content=call.content,
                )
            except (httpx.TransportError, RegistryError) as exc:
                failure = self._failure_from_exception(exc, call, s)
            else:
                refused = self._failure_from_response(response, call, s)
                if refused is None:
                    return response
                failure = refused
            time.sleep(self._delay_or_raise(failure, attempt, call, s))

    async def _asend(self, client: httpx.AsyncClient, call: _Call, s: RegistrySettings) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.request(
                    call.method,
                    call.url,
                    headers=dict(call.headers),
                    params=call.params,
                    content=call.content,
                )
            except (httpx.TransportError, RegistryError) as exc:
                failure = self._failure_from_exception(exc, call, s)
            else:
                refused = self._failure_from_response(response, call, s)
                if refused is None:
                    return response
                failure = refused
            await asyncio.sleep(self._delay_or_raise(failure, attempt, call, s))

    def _delay_or_raise(
        self, failure: RegistryError, attempt: int, call: _Call, s: RegistrySettings
    ) -> float:
        """Seconds to wait before retrying ``call``; raise ``failure`` when it is final."""
        if not (failure.transient and call.retry):
            raise failure
        retry_after = getattr(failure, "retry_after", None)
        delay = self.retry_policy.next_delay(attempt, retry_after)
        if delay is None:
            if retry_after is not None and retry_after > self.retry_policy.max_retry_after:
                failure.args = (
                    (
                        f"{failure}; the registry asked to wait {retry_after:.0f}s, longer than the "
                        f"{self.retry_policy.max_retry_after:.0f}s this hook waits"
                    ),
                )
            elif attempt > 1:
                failure.args = (f"{failure} (gave up after {attempt} attempts)",)
            raise failure
        self.log.warning(
            "registry connection '%s': %s; retrying in %.1fs (attempt %d of %d)",
            s.conn_id,
            failure,
            delay,
            attempt + 1,
            self.retry_policy.max_attempts,
        )
        return delay

    # -- failure mapping -------------------------------------------------------------------------

    def _where(self, s: RegistrySettings) -> str:
        return f"registry {s.base_url} (connection '{s.conn_id}')"

    def _protocol_error(self, s: RegistrySettings, call: _Call, detail: str) -> RegistryProtocolError:
        return RegistryProtocolError(
            f"{self._where(s)} sent an invalid answer for {call.what}: {detail}",
            conn_id=s.conn_id,
            repository=call.repository,
            reference=call.reference,
        )

    def _failure_from_exception(self, exc: Exception, call: _Call, s: RegistrySettings) -> RegistryError:
        if isinstance(exc, RegistryError):  # raised by the auth flow (token endpoint)
            exc.repository = exc.repository or call.repository
            return exc
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return RegistryConfigError(
                f"{self._where(s)}: TLS certificate verification failed for {call.what} ({text}); set the "
                "connection's 'ca_bundle' extra to the CA that signed it, or 'verify_tls' false for a test "
                "registry",
                conn_id=s.conn_id,
                repository=call.repository,
            )
        return RegistryUnavailableError(
            f"{self._where(s)} could not be reached for {call.what}: {type(exc).__name__}: {text}",
            conn_id=s.conn_id,
            repository=call.repository,
            reference=call.reference,
        )

    def _failure_from_response(
        self, response: httpx.Response, call: _Call, s: RegistrySettings
    ) -> RegistryError | None:
        """``None`` when the response is one the operation handles, else the error it stands for."""
        status = response.status_code
        if status < 300 or status in call.allow:
            return None
        codes = parse_error_body(response.content) if call.method != "HEAD" else []
        said = "; registry says: " + "; ".join(f"{c.code}: {c.message}" for c in codes) if codes else ""
        where = self._where(s)
        kwargs: dict[str, Any] = {
            "conn_id": s.conn_id,
            "repository": call.repository,
            "reference": call.reference,
            "http_status": status,
        }
        if status == 401:
            advice = (
                "check the connection's username and password/access token"
                if self._auth is not None and self._auth.has_credentials
                else "the connection has no credentials: add a username and password/access token"
            )
            if s.docker_hub and call.repository:
                advice += "; Docker Hub also answers 401 for repositories that do not exist"
            return RegistryUnauthorizedError(
                f"{where} refused access to {call.what} (HTTP 401{said}): {advice}", **kwargs
            )
        if status == 403:
            return RegistryUnauthorizedError(
                f"{where} denied {call.method} on {call.what} (HTTP 403{said}): the account lacks permission",
                **kwargs,
            )
        if status == 404:
            return RegistryNotFoundError(self._not_found_message(call, codes, where) + said, **kwargs)
        if status == 405:
            return RegistryUnsupportedError(
                f"{where} does not allow {call.method} on {call.what} (HTTP 405{said}){call.hint}", **kwargs
            )
        if status == 429:
            return RegistryRateLimitedError(
                f"{where} is rate limiting requests for {call.what} (HTTP 429{said})",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                **kwargs,
            )
        if status in RETRYABLE_STATUS or status >= 500:
            return RegistryServerError(f"{where} failed on {call.what} with HTTP {status}{said}", **kwargs)
        return RegistryRequestError(
            f"{where} rejected {call.method} on {call.what} (HTTP {status}{said})", **kwargs
        )

    @staticmethod
    def _not_found_message(call: _Call, codes: list[Any], where: str) -> str:
        names = {c.code for c in codes}
        if "NAME_UNKNOWN" in names and call.repository:
            return f"repository '{call.repository}' not found in {where}: check the name, or push an image to it first"
        if "MANIFEST_UNKNOWN" in names and call.reference:
            kind = "manifest" if is_digest(call.reference) else "tag"
            return f"{kind} '{call.reference}' not found in repository '{call.repository}' of {where}"
        return f"{call.what} not found in {where} (HTTP 404)"


def _json_object(response: httpx.Response, call: _Call, s: RegistrySettings) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise RegistryProtocolError(
            f"registry {s.base_url} (connection '{s.conn_id}') answered {call.what} with something that is "
            "not a JSON object",
            conn_id=s.conn_id,
            repository=call.repository,
        )
    return document
