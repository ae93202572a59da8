"""``bake``: render manifests once (jinja, kustomize or helm) and hand them to later stages as an artifact."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from airflow_delivery.pipeline.model import StageBase

RENDERERS = ("jinja", "kustomize", "helm")


class BakeStage(StageBase):
    """Spinnaker's "Bake (Manifest)": the output (manifests + hash) is what a deploy stage applies."""

    type: Literal["bake"]
    renderer: Literal["jinja", "kustomize", "helm"] = "jinja"
    source: str = Field(..., min_length=1, description="Template folder, kustomization or chart (templated); "
                        "relative paths are resolved next to the pipeline file.")
    values_files: list[str] = Field(default_factory=list, description="Values files (jinja, helm).")
    values: dict[str, Any] | None = Field(None, description="Values (templated), over the values files.")
    overrides: dict[str, Any] | None = Field(None, description="Dotted-key overrides, e.g. {'image.tag': 'v2'}.")
    namespace: str | None = Field(None, min_length=1, description="Namespace passed to the renderer.")
    release_name: str | None = Field(None, min_length=1, description="Helm release name (required for helm).")
    secrets: Literal["refuse", "drop"] = Field(
        "refuse", description="A rendered Secret fails the stage (refuse) or is left out (drop): output goes to XCom.")

    @model_validator(mode="after")
    def _check_renderer_options(self) -> BakeStage:
        if self.renderer == "kustomize" and (self.values_files or self.values or self.overrides):
            raise ValueError("the kustomize renderer takes no values, values_files or overrides: put them in the "
                             "kustomization (an overlay with 'images:' or 'patches:')")
        if self.renderer == "helm" and not self.release_name:
            raise ValueError("the helm renderer needs release_name (helm template NAME CHART)")
        return self


MODEL = BakeStage


def build(stage: BakeStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.bake import BakeManifestOperator

    common = {k: v for k, v in common.items() if k != "pipeline"}
    return BakeManifestOperator(
        source=stage.source, renderer=stage.renderer, values_files=list(stage.values_files),
        values=dict(stage.values) if stage.values is not None else None,
        overrides=dict(stage.overrides) if stage.overrides is not None else None,
        namespace=stage.namespace, release_name=stage.release_name, secrets=stage.secrets, **common,
    )
