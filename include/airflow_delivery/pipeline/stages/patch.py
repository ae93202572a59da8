"""``patch``: patch a live object (strategic, merge or JSON patch), then wait until it is stable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.stages._manifest_stages import (
    TARGET_DESCRIPTION,
    KubernetesStage,
    Target,
    check_target,
    is_template,
    operator_args,
    stage_timeout,
)


class PatchStage(KubernetesStage):
    """Spinnaker's "Patch (Manifest)": e.g. a sidecar's image, or a Service selector ("rainbow deploy")."""

    type: Literal["patch"]
    target: Target = Field(..., description=TARGET_DESCRIPTION)
    # Not "patch": a field named like the stage type would hide pydantic's union tag from the loader's error paths.
    patch_body: dict[str, Any] | list[dict[str, Any]] | str = Field(
        ..., description="The patch: a mapping (strategic, merge), a list of operations (json), or a template "
        "(Spinnaker's patchBody).")
    patch_type: Literal["strategic", "merge", "json"] = Field(
        "strategic", description="strategic: lists merge by key (built-in kinds); merge: RFC 7386; json: RFC 6902.")
    record: bool = Field(True, description="Record the patch in the kubernetes.io/change-cause annotation.")
    wait_for_stable: bool = Field(True, description="Wait until a patched workload is stable.")

    _target = field_validator("target")(check_target)

    @model_validator(mode="after")
    def _check_patch(self) -> PatchStage:
        if isinstance(self.patch_body, str):
            if not is_template(self.patch_body):
                raise ValueError("patch_body: write the patch as a mapping (or a list for patch_type json), or a "
                                 "template such as \"{{ params.patch }}\"")
        elif self.patch_type == "json" and not isinstance(self.patch_body, list):
            raise ValueError("patch_body: a json patch is a list of operations, e.g. "
                             "[{op: replace, path: /spec/replicas, value: 3}]")
        elif self.patch_type != "json" and not isinstance(self.patch_body, dict):
            raise ValueError(f"patch_body: a {self.patch_type} patch is a mapping, e.g. "
                             "{spec: {replicas: 3}}; a list of operations needs patch_type: json")
        elif not self.patch_body:
            raise ValueError("patch_body: the patch is empty")
        return self


MODEL = PatchStage


def build(stage: PatchStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.patch import PatchManifestOperator

    return PatchManifestOperator(target=stage.target, patch=stage.patch_body, patch_type=stage.patch_type,
                                 record=stage.record, wait_for_stable=stage.wait_for_stable,
                                 timeout=stage_timeout(stage), **operator_args(stage), **common)
