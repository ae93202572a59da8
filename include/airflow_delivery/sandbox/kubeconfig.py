"""Kubeconfig files pointing clients (kubectl, the ``kubernetes`` clients, ``KubernetesHook``) at a sandbox.

Plain HTTP: ``kubectl`` and both Python clients accept ``server: http://127.0.0.1:PORT`` and send no
credentials because the user entry is empty. The sandbox has no authentication or authorisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def kubeconfig_dict(url: str, *, name: str = "sandbox", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }


def write_kubeconfig(path: str | Path, url: str, *, name: str = "sandbox", namespace: str = "default") -> Path:
    """Write (replace) a kubeconfig at ``path`` with a single context ``name``; returns the path."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig_dict(url, name=name, namespace=namespace), sort_keys=False))
    target.chmod(0o600)
    return target
