"""Pure pieces of the Docker Registry HTTP API v2 protocol: auth challenges, pagination, retries, errors.

Kept apart from the hook so each rule is unit-tested on its own with the exact header strings that
Docker Hub, distribution and other registries send.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# ---------------------------------------------------------------------------------------------------
# WWW-Authenticate (RFC 7235): `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
# ---------------------------------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# Values are quoted strings or tokens; unquoted URLs (not tokens by the RFC) are accepted too, as some
# registries send `realm=https://...` without quotes.
_AUTH_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s"]+)\s*')
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge; ``scheme`` is lower-case, parameter names are lower-case."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_www_authenticate(headers: str | Iterable[str]) -> list[Challenge]:
    """Parse one or more ``WWW-Authenticate`` header values into challenges.

    Quoted values may contain commas (Docker Hub's ``scope="repository:a:pull,push"``), so the header
    cannot simply be split on commas. Unparseable trailing text is ignored rather than fatal: the caller
    still gets every challenge that could be read.
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    for value in values:
        pos = 0
        while pos < len(value):
            while pos < len(value) and value[pos] in ", \t":
                pos += 1
            scheme_match = _SCHEME_RE.match(value, pos)
            if scheme_match is None:
                break
            scheme = scheme_match.group(1).lower()
            pos = scheme_match.end()
            params: dict[str, str] = {}
            while True:
                param_match = _AUTH_PARAM_RE.match(value, pos)
                if param_match is None:
                    break
                params[param_match.group(1).lower()] = _unquote(param_match.group(2))
                pos = param_match.end()
                if pos < len(value) and value[pos] == ",":
                    pos += 1
                    continue
                break
            challenges.append(Challenge(scheme=scheme, params=params))
    return challenges


# ---------------------------------------------------------------------------------------------------
# Link (RFC 8288): `</v2/_catalog?last=b&n=2>; rel="next"`
# ---------------------------------------------------------------------------------------------------

_LINK_RE = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")


def parse_link_next(headers: str | Iterable[str] | None) -> str | None:
    """The target of the ``rel="next"`` link, as written (often relative), or ``None`` on the last page."""
    if not headers:
        return None
    values = [headers] if isinstance(headers, str) else list(headers)
    for value in values:
        for match in _LINK_RE.finditer(value):
            for param in match.group(2).split(";"):
                name, _, raw = param.strip().partition("=")
                if name.strip().lower() == "rel" and "next" in _unquote(raw.strip()).lower().split():
                    return match.group(1)
    return None


# ---------------------------------------------------------------------------------------------------
# Retry-After (RFC 9110): delta-seconds or an HTTP-date
# ---------------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait, or ``None`` if the header is missing or unreadable (callers then use backoff)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# ---------------------------------------------------------------------------------------------------
# Token scopes (docker/distribution docs "Token Scope Documentation")
# ---------------------------------------------------------------------------------------------------

_REPO_PATH_RE = re.compile(r"/v2/(?P<name>.+?)/(?:tags/list|manifests/[^/]+|blobs/.*)$")
_CATALOG_PATH_RE = re.compile(r"/v2/_catalog$")


def scope_for_request(method: str, path: str) -> str | None:
    """The token scope a request needs, derived from its path, or ``None`` for ``/v2/`` itself.

    Used to reuse a cached token before the registry asks for one; the registry's own challenge
    (its ``scope`` parameter) wins whenever it is given.
    """
    if _CATALOG_PATH_RE.search(path):
        return "registry:catalog:*"
    match = _REPO_PATH_RE.search(path)
    if match is None:
        return None
    method = method.upper()
    if method in ("GET", "HEAD"):
        actions = "pull"
    elif method == "DELETE":
        actions = "delete"
    else:
        actions = "pull,push"
    return f"repository:{match.group('name')}:{actions}"


@dataclass(frozen=True)
class BearerToken:
    """A registry token and the moment (monotonic seconds) after which it must not be reused."""

    value: str
    expires_at: float

    def valid(self, now: float, *, margin: float = 5.0) -> bool:
        return now + margin < self.expires_at


def parse_token_response(body: bytes, *, now: float) -> BearerToken:
    """Read a token endpoint answer (``token`` or OAuth2's ``access_token``; ``expires_in`` default 60 s).

    Raises ``ValueError`` if the body is not a JSON object with a token.
    """
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"token endpoint answered with non-JSON content: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("token endpoint answered with JSON that is not an object")  # noqa: TRY004
    token = document.get("token") or document.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("token endpoint answer has neither 'token' nor 'access_token'")
    expires_in = document.get("expires_in", 60)
    if not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = 60
    return BearerToken(value=token, expires_at=now + float(expires_in))


# ---------------------------------------------------------------------------------------------------
# Error bodies: {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "...", "detail": ...}]}
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryErrorCode:
    code: str
    message: str


def parse_error_body(body: bytes, *, limit: int = 256) -> list[RegistryErrorCode]:
    """The registry's error codes; an unreadable body yields ``[]`` (the status code still tells the story)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return []
    result = []
    for item in errors:
        if isinstance(item, dict):
            code = str(item.get("code", "UNKNOWN"))[:limit]
            message = str(item.get("message", ""))[:limit]
            result.append(RegistryErrorCode(code=code, message=message))
    return result


# ---------------------------------------------------------------------------------------------------
# Retry policy
# ---------------------------------------------------------------------------------------------------

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter that honours ``Retry-After``.

    ``max_attempts`` counts the first try. A ``Retry-After`` longer than ``max_retry_after`` ends the
    retries at once: the caller (a trigger) should sleep that long itself instead of holding a request
    open for minutes.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must not be negative")

    def next_delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up after ``attempt``."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * (0.5 + rand() / 2)
