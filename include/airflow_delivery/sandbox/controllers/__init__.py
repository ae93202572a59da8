"""Controllers that make the sandbox behave like a cluster, run by one ``ControllerManager`` thread.

Every loop is level-based: each controller lists what it owns and writes only what differs, so a
conflict or a crash in one pass is repaired by the next. The loop wakes on every store write and at
least every ``SandboxConfig.tick`` seconds for time-based progress (pod readiness, progress deadlines).
"""

from __future__ import annotations

import logging
import threading

from airflow_delivery.sandbox.clock import Clock
from airflow_delivery.sandbox.config import SandboxConfig
from airflow_delivery.sandbox.controllers.common import Resources
from airflow_delivery.sandbox.controllers.deployment import DeploymentController
from airflow_delivery.sandbox.controllers.endpoints import EndpointsController
from airflow_delivery.sandbox.controllers.events import EventRecorder
from airflow_delivery.sandbox.controllers.gc import GarbageCollector
from airflow_delivery.sandbox.controllers.job import JobController
from airflow_delivery.sandbox.controllers.kubelet import ContainerRuntime, Kubelet
from airflow_delivery.sandbox.controllers.replicaset import ReplicaSetController
from airflow_delivery.sandbox.logs import PodLogs
from airflow_delivery.sandbox.resources import ResourceRegistry
from airflow_delivery.sandbox.store import ObjectStore

log = logging.getLogger(__name__)

__all__ = ["ControllerManager"]


class ControllerManager:
    def __init__(self, store: ObjectStore, registry: ResourceRegistry, config: SandboxConfig, logs: PodLogs,
                 clock: Clock | None = None, runtime: ContainerRuntime | None = None) -> None:
        self.store = store
        self.config = config
        clock = clock or store.clock
        resources = Resources(registry)
        self.events = EventRecorder(store, resources, clock)
        self.controllers = [
            GarbageCollector(store),
            DeploymentController(store, resources, clock, self.events),
            ReplicaSetController(store, resources, clock, self.events),
            JobController(store, resources, clock, self.events),
            Kubelet(store, resources, config, clock, self.events, logs, runtime),
            EndpointsController(store, resources),
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.store.changed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_once(self) -> None:
        """One pass of every controller (tests of controller logic can drive this directly)."""
        for controller in self.controllers:
            try:
                controller.reconcile()
            except Exception:
                log.exception("sandbox controller %s failed; retrying next loop", type(controller).__name__)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.store.changed.wait(self.config.tick)
            self.store.changed.clear()
            if self._stop.is_set():
                return
            self.run_once()
