"""``deploy``: apply manifests with a strategy (rolling, redblack, highlander) and wait until stable.

Manifests come from exactly one of ``manifests`` (inline list or YAML text), ``manifest_file`` or
``from_stage`` (a bake stage, which must also be in ``depends_on``). Inline manifests and the file
name are checked when the pipeline is parsed unless they are templates.

``artifacts`` lists what the stage binds: names of the pipeline's expected artifacts, or
``{name, repository, required}``. Without it, the stage binds every expected artifact of the pipeline
(when the pipeline spec is handed to the builder as ``common["pipeline"]``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import Model
from airflow_delivery.pipeline.stages._manifest_stages import KubernetesStage, stage_timeout


class ArtifactDeclaration(Model):
    """An image repository the stage binds to the run's tag or digest of artifact ``name``."""

    name: str = Field(..., min_length=1)
    repository: str = Field(..., min_length=1, description="e.g. registry.example.com/team/api (no tag).")
    required: bool = True

    @field_validator("repository")
    @classmethod
    def _check_repository(cls, value: str) -> str:
        from airflow_delivery.kubernetes.artifacts import DeclaredArtifact

        DeclaredArtifact(repository=value)  # a tag or digest in it, or a malformed reference, is an error now
        return value


class DeployStage(KubernetesStage):
    """Spinnaker's "Deploy (Manifest)" with explicit artifact binding and a per-stage timeout (default 30m)."""

    type: Literal["deploy"]
    manifests: list[dict[str, Any]] | str | None = Field(None, description="Inline manifests or YAML text.")
    manifest_file: str | None = Field(None, min_length=1, description="YAML file, relative to the pipeline file.")
    from_stage: str | None = Field(None, description="Id of a bake stage whose output is deployed.")
    strategy: Literal["rolling", "redblack", "highlander"] = "rolling"
    artifacts: list[str | ArtifactDeclaration] | None = Field(
        None, description="Artifacts to bind: expected-artifact names or {name, repository, required}.")
    on_unmatched: Literal["ignore", "warn", "error"] = Field(
        "warn", description="A bound artifact that no container image uses.")
    application: str | None = Field(None, min_length=1, description="Application label (default: pipeline name).")
    traffic_services: list[str] = Field(default_factory=list,
                                        description="Live Services to switch to the new version (redblack, highlander).")
    max_version_history: int | None = Field(None, ge=1, description="Versions kept of each versioned object.")
    field_manager: str = Field("airflow-delivery", min_length=1)
    force: bool = Field(False, description="Take over fields other field managers own.")
    wait_for_stable: bool = Field(True, description="Wait for the rollout (required by redblack and highlander).")

    @model_validator(mode="after")
    def _check_source(self) -> DeployStage:
        given = [k for k in ("manifests", "manifest_file", "from_stage") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of manifests, manifest_file or from_stage (got {', '.join(given) or 'none'})")
        if self.from_stage is not None and self.from_stage not in self.depends_on:
            raise ValueError(f"from_stage {self.from_stage!r} must also be in depends_on, so the bake runs first")
        if not self.wait_for_stable and self.strategy != "rolling":
            raise ValueError(f"strategy {self.strategy!r} moves traffic once the new version is stable, so it needs "
                             "wait_for_stable: true")
        if self.traffic_services and self.strategy == "rolling":
            raise ValueError("traffic_services only apply to the redblack and highlander strategies")
        return self

    @field_validator("manifests")
    @classmethod
    def _check_manifests(cls, value: list[dict[str, Any]] | str | None) -> list[dict[str, Any]] | str | None:
        from airflow_delivery.kubernetes.manifests import parse_manifests, validate_manifests

        if isinstance(value, str) and "{{" not in value:
            parse_manifests(value, source="manifests")  # ManifestError (a ValueError) names document and field
        elif isinstance(value, list) and "{{" not in repr(value):
            validate_manifests(value, source="manifests")
        return value

    @field_validator("artifacts")
    @classmethod
    def _check_artifacts(cls, value: list[str | ArtifactDeclaration] | None) -> list[str | ArtifactDeclaration] | None:
        names = [a if isinstance(a, str) else a.name for a in value or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"artifacts {duplicates} are listed twice")
        return value


MODEL = DeployStage


def declared_artifacts(stage: DeployStage, pipeline: Any | None) -> list[dict[str, Any]]:
    """The stage's artifacts as ``{name, repository, required}``, names resolved against the pipeline's."""
    expected = {a.name: a for a in (getattr(pipeline, "artifacts", None) or [])}
    if stage.artifacts is None:
        return [{"name": a.name, "repository": a.repository, "required": a.required} for a in expected.values()]
    declared = []
    for item in stage.artifacts:
        if isinstance(item, ArtifactDeclaration):
            declared.append(item.model_dump())
            continue
        if pipeline is None:
            raise ValueError(f"stage {stage.id}: artifact {item!r} names a pipeline artifact, but the builder was not "
                             "given the pipeline; write it as {name, repository, required}")
        if item not in expected:
            raise ValueError(f"stage {stage.id}: artifact {item!r} is not one of the pipeline's artifacts "
                             f"({', '.join(sorted(expected)) or 'none declared'})")
        found = expected[item]
        declared.append({"name": found.name, "repository": found.repository, "required": found.required})
    return declared


WANTS_PIPELINE = True


def build(stage: DeployStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.deploy import DeployManifestOperator

    pipeline = common.get("pipeline")
    common = {k: v for k, v in common.items() if k != "pipeline"}
    return DeployManifestOperator(
        manifests=stage.manifests, manifest_file=stage.manifest_file, from_stage=stage.from_stage,
        strategy=stage.strategy, artifacts=declared_artifacts(stage, pipeline), on_unmatched=stage.on_unmatched,
        namespace=stage.namespace, application=stage.application, traffic_services=list(stage.traffic_services),
        max_version_history=stage.max_version_history, field_manager=stage.field_manager, force=stage.force,
        wait_for_stable=stage.wait_for_stable, timeout=stage_timeout(stage), kubernetes_conn_id=stage.account,
        **common,
    )
