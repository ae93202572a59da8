"""``Sandbox``: the whole local Kubernetes API (store, controllers, HTTP server) as one object.

    with Sandbox(ready_after=0.2, broken_images=["*:broken"]) as sandbox:
        sandbox.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # kubectl / kubernetes client / KubernetesHook against sandbox.url

The server runs on a background thread, so fixtures and the demo can start it in-process; the
``airflow-delivery sandbox`` command runs the same object in the foreground.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from airflow_delivery.sandbox.admission import Admission
from airflow_delivery.sandbox.api import KubeApi
from airflow_delivery.sandbox.clock import Clock
from airflow_delivery.sandbox.config import SandboxConfig
from airflow_delivery.sandbox.controllers import ControllerManager
from airflow_delivery.sandbox.controllers.kubelet import NODE_NAME, ContainerRuntime
from airflow_delivery.sandbox.faults import FaultInjector, FaultRule
from airflow_delivery.sandbox.kubeconfig import write_kubeconfig
from airflow_delivery.sandbox.logs import PodLogs
from airflow_delivery.sandbox.resources import ResourceRegistry
from airflow_delivery.sandbox.server import SandboxHTTPServer
from airflow_delivery.sandbox.store import ObjectStore

log = logging.getLogger(__name__)

DEFAULT_KUBE_VERSION = "1.30.0"
SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A local Kubernetes API sandbox. Not a cluster: see ``airflow_delivery/sandbox/README.md``."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        config: SandboxConfig | None = None,
        faults: list[dict[str, Any]] | None = None,
        kube_version: str = DEFAULT_KUBE_VERSION,
        runtime: ContainerRuntime | None = None,
        clock: Clock | None = None,
        **config_overrides: Any,
    ) -> None:
        """``config_overrides`` are ``SandboxConfig`` fields (``ready_after=0.2, broken_images=[...]``)."""
        self.config = config or SandboxConfig()
        if config_overrides:
            self.config.update(config_overrides)
        self.host = host
        self._requested_port = port
        self.kube_version = kube_version
        self.clock = clock or Clock()
        self.registry = ResourceRegistry()
        self.store = ObjectStore(self.registry, clock=self.clock, admission=Admission(),
                                 history=self.config.event_history)
        self.pod_logs = PodLogs()
        self.faults = FaultInjector(faults)
        self._stopping = threading.Event()
        self.api = KubeApi(store=self.store, registry=self.registry, config=self.config, faults=self.faults,
                           pod_logs=self.pod_logs, kube_version=kube_version,
                           server_address=lambda: f"{self.host}:{self.port}", stopping=self._stopping)
        self.controllers = ControllerManager(self.store, self.registry, self.config, self.pod_logs,
                                             self.clock, runtime)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seed()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        try:
            self._server = SandboxHTTPServer((self.host, self._requested_port), self.api)
        except OSError as exc:
            raise OSError(f"the sandbox cannot listen on {self.host}:{self._requested_port}: {exc}; choose a free "
                          "port with --port (0 picks one)") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        self.controllers.start()
        log.info("Kubernetes API sandbox serving at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop controllers and server, ending watches and closing client connections."""
        self._stopping.set()
        self.controllers.stop()
        self.store.close_all_watches()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default", name: str = "sandbox") -> Path:
        return write_kubeconfig(path, self.url, name=name, namespace=namespace)

    # --- fault injection and configuration (in-process; HTTP clients use /sandbox/...) ---------------------

    def add_fault(self, **rule: Any) -> FaultRule:
        return self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure(self, **changes: Any) -> None:
        self.config.update(changes)
        self.store.changed.set()

    # --- seeding -----------------------------------------------------------------------------------------

    def _seed(self) -> None:
        namespaces = self.registry.get("", "v1", "namespaces")
        for name in SEED_NAMESPACES:
            self.store.create(namespaces, {"metadata": {"name": name}}, manager="sandbox")
        self.store.create(self.registry.get("", "v1", "nodes"), {
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME,
                                                       "kubernetes.io/os": "linux"}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "the sandbox kubelet is emulated"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "nodeInfo": {"kubeletVersion": f"v{self.kube_version}", "osImage": "airflow-delivery sandbox",
                             "operatingSystem": "linux", "architecture": "amd64"},
            },
        }, manager="sandbox")
        self.store.create(self.registry.get("", "v1", "services"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
        }, manager="sandbox")


def sandbox_admin(url: str, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
    """Call a sandbox admin endpoint over HTTP (for tests and tools in another process)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url.rstrip('/')}/sandbox/{path.lstrip('/')}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")
