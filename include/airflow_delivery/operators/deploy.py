"""``DeployManifestOperator``: Spinnaker's "Deploy (Manifest)" stage, thin over the hook and pure helpers.

The order is what makes a deploy safe to fail and safe to retry:

1. load the manifests (inline, a file, or a Bake stage's output) and validate every document;
2. bind artifacts: a required artifact that is not bound fails here, before anything is applied;
3. namespace, delivery labels/annotations, and versions (``-vNNN``) chosen against the live objects:
   identical content reuses its version, so a retried deploy (worker died mid-way, Airflow retries)
   re-applies the same objects instead of creating another version;
4. ``apply_all``: a server-side dry run of every document, then server-side apply in order, so a
   document the API rejects applies nothing;
5. wait for stable in the triggerer (``WaitForStableMixin``), bounded by the stage timeout;
6. red/black and highlander only, once stable: switch each Service to the new version (the older ones
   stop getting traffic), delete older versions (highlander), prune beyond ``max_version_history``.

Secrets may be deployed from inline manifests or files, but only their names reach logs and XCom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from airflow_delivery.kubernetes.artifacts import DeclaredArtifact, bind_artifacts
from airflow_delivery.kubernetes.errors import NotFoundError
from airflow_delivery.kubernetes.manifests import (
    DocumentRef,
    ManifestError,
    ManifestProblem,
    load_manifest_file,
    manifest_id,
    parse_manifests,
    validate_manifests,
    with_delivery_metadata,
    with_namespace,
)
from airflow_delivery.kubernetes.strategies import (
    VERSIONED_STRATEGIES,
    TrafficMove,
    applied_records,
    check_strategy,
    deployed_hash,
    fill_namespace,
    plan_traffic,
    versioned_kinds,
    workload_targets,
)
from airflow_delivery.kubernetes.versioning import (
    CONFIG_KINDS,
    apply_versions,
    config_references,
    is_versioned,
    max_version_history,
    older_versions,
    prune_candidates,
    version_selector,
    versions_of,
)
from airflow_delivery.operators.stable import DEFAULT_POLL_INTERVAL, WaitForStableMixin, check_timeout
from airflow_delivery.utils.xcom import stage_result

DEFAULT_FIELD_MANAGER = "airflow-delivery"


def declared_artifact(value: DeclaredArtifact | Mapping[str, Any], where: str) -> DeclaredArtifact:
    """A ``DeclaredArtifact`` from itself or ``{"name", "repository", "required"}``."""
    if isinstance(value, DeclaredArtifact):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: each artifact must be a mapping with repository (and name, required), "
                         f"got {value!r}")
    unknown = sorted(set(value) - {"name", "repository", "required"})
    if unknown:
        raise ValueError(f"{where}: artifact {value.get('name') or value.get('repository')!r} has unknown keys "
                         f"{unknown}; use name, repository, required")
    if not value.get("repository"):
        raise ValueError(f"{where}: artifact {value.get('name')!r} needs a repository, e.g. "
                         "'registry.example.com/team/api'")
    return DeclaredArtifact(repository=str(value["repository"]), name=str(value.get("name") or ""),
                            required=bool(value.get("required", True)))


class DeployManifestOperator(WaitForStableMixin, BaseOperator):
    """Apply manifests with a strategy and wait until they are stable.

    :param manifests: inline manifests: a list of dicts, YAML text, or a Bake result ``{"manifests": [...]}``
        (templated).
    :param manifest_file: a YAML file (relative paths: next to the DAG file) (templated).
    :param from_stage: task id of a Bake stage whose output (``{"manifests": [...]}``) is deployed.
    :param strategy: ``rolling`` (Kubernetes' own), ``redblack`` or ``highlander`` (versioned workloads,
        traffic moved by Service selector once stable).
    :param artifacts: declared artifacts ``[{"name", "repository", "required"}]`` (or ``DeclaredArtifact``):
        images of these repositories get the run's bound tag or digest.
    :param bound_artifacts: ``{name: tag | digest | reference}``, over the run's ``artifacts`` (params/conf)
        (templated).
    :param on_unmatched: a bound artifact no image uses: ``ignore``, ``warn`` or ``error``.
    :param namespace: namespace override for every namespaced manifest (templated); default: the manifests'
        own, else the connection's.
    :param application: the application recorded in labels/annotations (default: the DAG id).
    :param traffic_services: names of Services already in the cluster to switch to the new version
        (Services in the manifests are switched anyway).
    :param max_version_history: keep at most this many versions of each versioned object (the manifests'
        ``strategy.delivery.airflow.apache.org/max-version-history`` annotation wins).
    :param field_manager: server-side apply field manager; ``force`` takes over fields other managers own.
    :param wait_for_stable: wait for the rollout (required by redblack and highlander).
    :param timeout: how long the rollout may take (default 30 minutes).
    :param request_timeout: seconds allowed for each API call (timeouts are retried with backoff).
    :param kubernetes_conn_id: the cluster (Spinnaker "account").

    Returns (XCom) ``{"strategy", "kubernetes_conn_id", "namespace", "applied": [{kind, api_version,
    namespace, name, base, version, reused}], "artifacts": {name: image}, "bindings", "hash", "traffic",
    "deleted", "pruned", "warnings", "stable", "status", "reason", "failure_reason"}``; Secrets by name only.
    """

    template_fields: Sequence[str] = ("manifests", "manifest_file", "from_stage", "bound_artifacts", "namespace",
                                      "application", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"manifests": "yaml", "bound_artifacts": "json"}
    ui_color = "#dde8f5"

    def __init__(
        self,
        *,
        manifests: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | None = None,
        manifest_file: str | None = None,
        from_stage: str | None = None,
        strategy: str = "rolling",
        artifacts: Sequence[DeclaredArtifact | Mapping[str, Any]] = (),
        bound_artifacts: Mapping[str, str] | str | None = None,
        on_unmatched: str = "warn",
        namespace: str | None = None,
        application: str | None = None,
        traffic_services: Sequence[str] = (),
        max_version_history: int | None = None,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        force: bool = False,
        wait_for_stable: bool = True,
        timeout: timedelta | float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_timeout: float = 30.0,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = [name for name, value in (("manifests", manifests), ("manifest_file", manifest_file),
                                          ("from_stage", from_stage)) if value is not None]
        if len(given) != 1:
            raise ValueError(f"{self.task_id}: give exactly one of manifests, manifest_file or from_stage "
                             f"(got {', '.join(given) or 'none'})")
        self.strategy = check_strategy(strategy)
        if on_unmatched not in ("ignore", "warn", "error"):
            raise ValueError(f"{self.task_id}: on_unmatched={on_unmatched!r}: expected 'ignore', 'warn' or 'error'")
        if max_version_history is not None and (isinstance(max_version_history, bool)
                                                or not isinstance(max_version_history, int)
                                                or max_version_history < 1):
            raise ValueError(f"{self.task_id}: max_version_history={max_version_history!r}: keep at least 1 version")
        if not field_manager:
            raise ValueError(f"{self.task_id}: field_manager must be a non-empty string")
        if not wait_for_stable and self.strategy in VERSIONED_STRATEGIES:
            raise ValueError(f"{self.task_id}: strategy {strategy!r} moves traffic only once the new version is "
                             "stable, so it needs wait_for_stable=True")
        if poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.manifests = manifests
        self.manifest_file = manifest_file
        self.from_stage = from_stage
        self.artifacts = [declared_artifact(a, f"{self.task_id}: artifacts[{i}]") for i, a in enumerate(artifacts)]
        self.bound_artifacts = bound_artifacts
        self.on_unmatched = on_unmatched
        self.namespace = namespace
        self.application = application
        self.traffic_services = list(traffic_services)
        self.max_version_history = max_version_history
        self.field_manager = field_manager
        self.force = force
        self.wait_for_stable = wait_for_stable
        self.stable_timeout = check_timeout(timeout, self.task_id)
        if request_timeout <= 0:
            raise ValueError(f"{self.task_id}: request_timeout must be > 0 seconds, got {request_timeout!r}")
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.kubernetes_conn_id = kubernetes_conn_id

    @cached_property
    def hook(self) -> Any:
        from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook

        return DeliveryKubernetesHook(conn_id=self.kubernetes_conn_id, request_timeout=self.request_timeout)

    # -- 1. manifests --

    def _load(self, context: Context) -> list[dict[str, Any]]:
        # Templated values are checked here, after rendering.
        if self.from_stage is not None:
            baked = stage_result(context["ti"], self.from_stage)
            if not isinstance(baked, Mapping) or not isinstance(baked.get("manifests"), list):
                raise ValueError(f"{self.task_id}: stage {self.from_stage!r} returned no manifests (got "
                                 f"{type(baked).__name__}); from_stage must name a Bake stage that ran before")
            return validate_manifests(baked["manifests"], source=f"output of stage {self.from_stage}")
        if self.manifest_file is not None:
            return load_manifest_file(self._path(str(self.manifest_file)))
        value = self.manifests
        if isinstance(value, str):
            documents = parse_manifests(value, source=f"{self.task_id}.manifests")
            if len(documents) == 1 and isinstance(documents[0].get("manifests"), list) \
                    and "kind" not in documents[0]:
                value = documents[0]  # a rendered Bake result
            else:
                return documents
        if isinstance(value, Mapping):
            if not isinstance(value.get("manifests"), list):
                raise ManifestError([ManifestProblem(DocumentRef(1, f"{self.task_id}.manifests"), "manifests",
                                                     "a mapping must be a Bake result with a 'manifests' list")])
            value = value["manifests"]
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise TypeError(f"{self.task_id}: manifests must be a list of manifests, YAML text or a Bake result, "
                             f"got {type(value).__name__}")
        return validate_manifests(list(value), source=f"{self.task_id}.manifests")

    def _path(self, value: str) -> Path:
        path = Path(value)
        if path.is_absolute():
            return path
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        return Path(fileloc).parent / path if fileloc else path

    # -- 2. artifacts --

    def _bound(self, context: Context) -> dict[str, str]:
        from airflow_delivery.pipeline.runtime import run_artifacts

        bound = run_artifacts(context)
        explicit = self.bound_artifacts
        if isinstance(explicit, str):
            import json

            try:
                explicit = json.loads(explicit) if explicit.strip() else {}
            except ValueError:
                raise ValueError(f"{self.task_id}: bound_artifacts rendered to {explicit!r}, not a JSON object of "
                                 "name -> tag or digest") from None
        if explicit:
            if not isinstance(explicit, Mapping):
                raise ValueError(f"{self.task_id}: bound_artifacts must be a mapping of name -> tag or digest")
            bound.update({str(k): str(v) for k, v in explicit.items() if v not in (None, "")})
        return bound

    # -- execute --

    def execute(self, context: Context) -> dict[str, Any]:
        manifests = self._load(context)
        binding = bind_artifacts(manifests, self.artifacts, self._bound(context),
                                 on_unmatched=self.on_unmatched)  # type: ignore[arg-type]
        warnings = list(binding.warnings)
        for warning in warnings:
            self.log.warning("%s", warning)
        namespace = self.namespace or self.hook.default_namespace()
        manifests = (with_namespace(binding.manifests, namespace) if self.namespace
                     else fill_namespace(binding.manifests, namespace))
        dag_id = context["dag"].dag_id if context.get("dag") else None
        manifests = with_delivery_metadata(
            manifests, app=self.application or dag_id or self.task_id, pipeline=dag_id,
            run_id=context.get("run_id"), stage=self.task_id, artifacts=binding.bound_artifacts)

        kinds = versioned_kinds(self.strategy)
        existing = self._existing_versions(manifests, kinds)
        versioning = apply_versions(manifests, existing, versioned_kinds=kinds)
        final = versioning.manifests
        moves: list[TrafficMove] = []
        if self.strategy in VERSIONED_STRATEGIES:
            moves, traffic_warnings = plan_traffic(final, versioning.assignments, self._live_services(namespace))
            warnings.extend(traffic_warnings)
            for warning in traffic_warnings:
                self.log.warning("%s", warning)
        for assignment in versioning.assignments:
            self.log.info("%s %s/%s as %s (%s)", assignment.kind, assignment.namespace, assignment.base,
                          assignment.name, "same content: re-applied" if assignment.reused else "new version")

        self.log.info("Applying %d manifests (strategy %s, field manager %s%s): %s", len(final), self.strategy,
                      self.field_manager, ", force" if self.force else "", ", ".join(manifest_id(m) for m in final))
        self.hook.apply_all(final, field_manager=self.field_manager, force=self.force)

        applied = applied_records(final, versioning.assignments)
        for record, manifest in zip(applied, final, strict=True):
            if record["base"] is not None:
                record["max_version_history"] = max_version_history(manifest) or self.max_version_history
        result: dict[str, Any] = {
            "strategy": self.strategy,
            "kubernetes_conn_id": self.kubernetes_conn_id,
            "namespace": namespace,
            "applied": applied,
            "artifacts": binding.bound_artifacts,
            "bindings": binding.to_dict()["bindings"],
            "hash": deployed_hash(final),
            "traffic": [m.to_dict() for m in moves],
            "deleted": [],
            "pruned": [],
            "warnings": warnings,
        }
        if not self.wait_for_stable:
            self.log.info("Not waiting for the rollout (wait_for_stable=False)")
            return {**result, "stable": {}, "status": "skipped", "reason": "wait_for_stable is off",
                    "failure_reason": None}
        finished = self.defer_until_stable(
            context, targets=workload_targets(final), result=result, timeout=self.stable_timeout,
            conn_id=self.kubernetes_conn_id, poll_interval=self.poll_interval,
            resume=self._has_work_after_rollout(result))
        return self._finish(finished)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._finish(self.stable_outcome(context, event))

    # -- versions --

    def _existing_versions(self, manifests: Sequence[Mapping[str, Any]], kinds: frozenset[str]) -> list[dict[str, Any]]:
        """Live objects that are versions of the manifests to be versioned (read once, before choosing)."""
        existing: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        for manifest in manifests:
            if not is_versioned(manifest, kinds):
                continue
            metadata = manifest["metadata"]
            key = (str(manifest["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"]))
            if key in seen:
                continue
            seen.add(key)
            existing.extend(self._versions(key[0], key[1], key[2], manifest.get("apiVersion")))
        return existing

    def _versions(self, kind: str, namespace: str, base: str, api_version: Any = None) -> list[dict[str, Any]]:
        return [o for o in self.hook.list(kind, namespace or None, api_version=api_version,
                                          label_selector=version_selector(base))
                if versions_of([o], base)]

    def _live_services(self, namespace: str) -> list[dict[str, Any]]:
        services = []
        for name in self.traffic_services:
            try:
                services.append(self.hook.get("Service", name, namespace, api_version="v1"))
            except NotFoundError:
                raise ValueError(f"{self.task_id}: traffic_services names Service {namespace}/{name}, which does not "
                                 "exist; create it (or add it to the manifests) first") from None
        return services

    # -- 6. after the rollout --

    @staticmethod
    def _has_work_after_rollout(result: Mapping[str, Any]) -> bool:
        """Traffic to move, versions to delete or prune: then the task resumes on a worker after the wait."""
        return result.get("strategy") in VERSIONED_STRATEGIES or any(
            a.get("max_version_history") for a in result.get("applied") or [])

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        if result.get("status") != "success" or not self._has_work_after_rollout(result):
            return result
        if result.get("strategy") not in VERSIONED_STRATEGIES:
            return {**result, "pruned": self._prune(result)}
        from airflow_delivery.kubernetes.traffic.service import ServiceRouter, enabled_version

        traffic = []
        for move in result.get("traffic") or []:
            router = ServiceRouter(self.hook, {"service": move["service"], "namespace": move["namespace"]})
            live = self.hook.get("Service", move["service"], move["namespace"], api_version="v1")
            previous = enabled_version(live, router.config.version_label)
            router.enable(move["version"])
            self.log.info("Service %s/%s now sends its traffic to %s (%s before)", move["namespace"],
                          move["service"], move["workload"], previous or "every version")
            traffic.append({**move, "previous": previous})
        deleted: list[str] = []
        if result["strategy"] == "highlander":
            deleted = self._delete_older(result)
        pruned = self._prune(result)
        return {**result, "traffic": traffic, "deleted": deleted, "pruned": pruned}

    def _versioned(self, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [a for a in result.get("applied") or [] if a.get("base")]

    def _delete_older(self, result: Mapping[str, Any]) -> list[str]:
        """Highlander: every older version of each versioned workload goes (configs are pruned, not deleted)."""
        deleted = []
        for record in self._versioned(result):
            if record["kind"] in CONFIG_KINDS:
                continue
            live = self._versions(record["kind"], record["namespace"] or "", record["base"], record["api_version"])
            for old in older_versions(live, record["base"], record["name"], kind=record["kind"]):
                name = old["metadata"]["name"]
                self.hook.delete(record["kind"], name, record["namespace"], api_version=record["api_version"],
                                 missing_ok=True)
                self.log.info("Highlander: deleted %s %s/%s", record["kind"], record["namespace"], name)
                deleted.append(f"{record['kind']}/{record['namespace']}/{name}")
        return deleted

    def _prune(self, result: Mapping[str, Any]) -> list[str]:
        """Delete versions beyond ``max_version_history``; configs still used by a kept workload stay."""
        versioned = self._versioned(result)
        if not any(r.get("max_version_history") for r in versioned):
            return []
        pruned: list[str] = []
        # Workloads first, so the configs they no longer need can go after them.
        ordered = sorted(versioned, key=lambda r: r["kind"] in CONFIG_KINDS)
        in_use: set[tuple[str, str, str]] = set()
        for record in ordered:
            limit = record.get("max_version_history")
            live = self._versions(record["kind"], record["namespace"] or "", record["base"], record["api_version"])
            if limit is not None:
                protect = {record["name"]} | {name for kind, ns, name in in_use
                                              if kind == record["kind"] and ns == record["namespace"]}
                for old in prune_candidates(live, record["base"], limit, kind=record["kind"], protect=protect):
                    name = old["metadata"]["name"]
                    self.hook.delete(record["kind"], name, record["namespace"], api_version=record["api_version"],
                                     missing_ok=True)
                    self.log.info("Pruned %s %s/%s (max_version_history %d)", record["kind"], record["namespace"],
                                  name, limit)
                    pruned.append(f"{record['kind']}/{record['namespace']}/{name}")
                    live = [o for o in live if o["metadata"]["name"] != name]
            if record["kind"] not in CONFIG_KINDS:
                for obj in live:
                    in_use.update((ref.kind, record["namespace"], ref.name) for ref in config_references(obj))
        return pruned
