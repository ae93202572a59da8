"""A local emulation of the Kubernetes API for tests and the demo: a sandbox, not a cluster.

See README.md in this package for what it emulates and what it does not. Public API:
``Sandbox`` (start/stop/url/write_kubeconfig, context manager), ``SandboxConfig``, ``sandbox_admin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_delivery.sandbox.app import Sandbox, sandbox_admin
    from airflow_delivery.sandbox.config import SandboxConfig

__all__ = ["Sandbox", "SandboxConfig", "sandbox_admin"]

_LAZY = {
    "Sandbox": "airflow_delivery.sandbox.app",
    "sandbox_admin": "airflow_delivery.sandbox.app",
    "SandboxConfig": "airflow_delivery.sandbox.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_delivery.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
