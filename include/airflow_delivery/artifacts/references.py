"""Image references: ``[registry/]repository[:tag][@digest]`` as Docker and the OCI distribution spec define them.

Parsing follows the grammar of ``github.com/distribution/reference`` so that a reference written in a
pipeline file means exactly what ``docker pull`` would make of it, including Docker Hub's quirks: a
first component is a registry only if it contains ``.`` or ``:`` or is ``localhost``, and official images
without a slash live under ``library/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_REGISTRY_URL = "https://registry-1.docker.io"
# Host names that all mean "Docker Hub" (the last three are the API endpoints behind docker.io).
DOCKER_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
SHA256_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_MAX_NAME_LENGTH = 255


def is_digest(reference: str) -> bool:
    """True for a content digest such as ``sha256:<64 hex>`` (as opposed to a tag)."""
    return DIGEST_RE.match(reference) is not None


def validate_repository(repository: str) -> str:
    """Return ``repository`` if it is a valid repository path, else raise ``ValueError`` saying why."""
    if not repository:
        raise ValueError("repository name is empty: expected something like 'team/app'")
    if len(repository) > _MAX_NAME_LENGTH:
        raise ValueError(f"repository name {repository!r} is longer than {_MAX_NAME_LENGTH} characters")
    if not REPOSITORY_RE.match(repository):
        raise ValueError(
            f"invalid repository name {repository!r}: use lower-case letters, digits and the separators "
            "'.', '_', '__', '-' between them, with '/' between path components (e.g. 'team/app')"
        )
    return repository


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise ``ValueError`` saying why."""
    if not TAG_RE.match(tag):
        raise ValueError(
            f"invalid tag {tag!r}: a tag is 1-128 characters of letters, digits, '_', '.' and '-', "
            "and must not start with '.' or '-'"
        )
    return tag


def validate_reference(reference: str) -> str:
    """A manifest reference is either a tag or a digest; raise ``ValueError`` for anything else."""
    if is_digest(reference):
        return reference
    if ":" in reference:
        raise ValueError(f"invalid digest {reference!r}: expected 'sha256:' followed by 64 hex digits")
    return validate_tag(reference)


def is_docker_hub(registry: str | None) -> bool:
    """True when ``registry`` (a host, host:port or URL; ``None`` = default) means Docker Hub."""
    if not registry:
        return True
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", registry.strip().lower()).split("/", 1)[0]
    return host in DOCKER_HUB_HOSTS


def normalize_repository(repository: str, *, docker_hub: bool) -> str:
    """Validate ``repository`` and add Docker Hub's implicit ``library/`` namespace where it applies."""
    validate_repository(repository)
    if docker_hub and "/" not in repository:
        return f"library/{repository}"
    return repository


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference.

    ``registry`` is ``None`` when the text named no registry (Docker Hub by Docker's rules, or whatever
    registry the connection points at). ``repository`` is kept as written; use
    ``normalize_repository`` with the target registry to get the API name.
    """

    repository: str
    registry: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest when pinned, else the tag (default ``latest``)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        if not is_digest(digest):
            raise ValueError(f"invalid digest {digest!r}: expected 'sha256:' followed by 64 hex digits")
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry/]repository[:tag][@digest]``; raise ``ValueError`` naming the bad part.

    >>> str(parse_reference("127.0.0.1:5000/team/app:v1"))
    '127.0.0.1:5000/team/app:v1'
    """
    if not text or text != text.strip():
        raise ValueError(f"invalid image reference {text!r}: it is empty or has surrounding spaces")
    remainder, digest = text, None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        if not is_digest(digest):
            raise ValueError(
                f"invalid image reference {text!r}: digest {digest!r} is not 'sha256:' + 64 hex digits"
            )
    registry = None
    first, slash, rest = remainder.partition("/")
    if slash and _looks_like_registry(first):
        registry, remainder = first, rest
    tag = None
    # A ':' after the last '/' separates the tag (a ':' before it belongs to a registry port).
    if ":" in remainder.rsplit("/", 1)[-1]:
        remainder, tag = remainder.rsplit(":", 1)
        try:
            validate_tag(tag)
        except ValueError as exc:
            raise ValueError(f"invalid image reference {text!r}: {exc}") from None
    try:
        validate_repository(remainder)
    except ValueError as exc:
        raise ValueError(f"invalid image reference {text!r}: {exc}") from None
    return ImageReference(repository=remainder, registry=registry, tag=tag, digest=digest)
