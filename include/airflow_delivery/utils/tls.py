"""TLS settings as shared ``ssl.SSLContext`` objects.

httpx builds an SSL context (and loads the CA bundle, ~40 ms of blocking work) for every client made
with ``verify=True`` or a CA path. Hooks used by triggers create clients per request or per poll, so
that work would block the triggerer's event loop for every query of every waiting pipeline. One
context per setting, built once per process, is reused instead.
"""

from __future__ import annotations

import ssl
from functools import lru_cache


@lru_cache(maxsize=32)
def _context(cafile: str | None) -> ssl.SSLContext:
    if cafile is None:
        import certifi  # httpx's own default CA bundle

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile)


def ssl_verify(verify: bool | str) -> ssl.SSLContext | bool:
    """``False`` stays ``False`` (no verification); ``True`` or a CA bundle path becomes a shared context."""
    if verify is False:
        return False
    return _context(None if verify is True else str(verify))
