"""Errors raised when talking to a container registry.

They live outside the hook so that pure code (and callers that never import Airflow) can catch them.
Every message names the registry, the connection id and the repository/tag concerned, and says what to
check, because the person reading it is usually looking at a failed task log, not at the registry.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class: a registry call failed.

    ``transient`` tells callers that polling later may succeed (rate limit, server error, network),
    which is what triggers use to decide between backing off and reporting a configuration problem.
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        repository: str | None = None,
        reference: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.repository = repository
        self.reference = reference
        self.http_status = http_status


class RegistryConfigError(RegistryError):
    """The connection itself is unusable (bad URL, missing CA bundle, invalid extra)."""


class RegistryUnauthorizedError(RegistryError):
    """HTTP 401/403, or the token endpoint refused the credentials."""


class RegistryNotFoundError(RegistryError):
    """HTTP 404: the repository, tag, manifest or blob does not exist."""


class RegistryUnsupportedError(RegistryError):
    """The registry does not offer the operation (e.g. deletes disabled, no catalog)."""


class RegistryProtocolError(RegistryError):
    """The registry answered something the Registry HTTP API v2 does not allow (bad JSON, digest mismatch)."""


class RegistryRequestError(RegistryError):
    """Any other 4xx answer; the registry's error codes are in the message."""


class RegistryRateLimitedError(RegistryError):
    """HTTP 429 that outlasted the retries; ``retry_after`` is the server's hint in seconds, if any."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RegistryServerError(RegistryError):
    """HTTP 5xx that outlasted the retries."""

    transient = True


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached (refused, reset, timed out) even after retries."""

    transient = True
