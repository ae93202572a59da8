"""``delete``: delete one object (by name or dynamic target) or every object of some kinds matching labels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.stages._manifest_stages import (
    TARGET_DESCRIPTION,
    KubernetesStage,
    Target,
    check_target,
    operator_args,
)


class DeleteStage(KubernetesStage):
    """Spinnaker's "Delete (Manifest)": ``target`` (static or dynamic), or ``kinds`` + ``label_selector``."""

    type: Literal["delete"]
    target: Target | None = Field(None, description=TARGET_DESCRIPTION)
    kinds: list[str] = Field(default_factory=list, description="With label_selector: the kinds to delete.")
    label_selector: str | dict[str, str] | None = Field(
        None, description="'app=web,track=canary' or {app: web}: delete every object of 'kinds' it matches.")
    propagation: Literal["Background", "Foreground", "Orphan"] = Field(
        "Background", description="What happens to dependents (e.g. a Deployment's pods); Orphan keeps them.")
    missing_ok: bool = Field(False, description="Nothing to delete is not an error.")

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: Target | None) -> Target | None:
        return check_target(value) if value is not None else None

    @model_validator(mode="after")
    def _check_mode(self) -> DeleteStage:
        if (self.target is None) == (self.label_selector is None):
            raise ValueError("give either target (one object) or kinds + label_selector, exactly one of the two")
        if self.label_selector is not None:
            if not self.kinds:
                raise ValueError("label_selector needs kinds: the kinds of objects to delete, e.g. [Deployment]")
            empty = not self.label_selector if isinstance(self.label_selector, dict) else \
                not self.label_selector.strip()
            if empty:
                raise ValueError("label_selector is empty: it would delete every object of those kinds in the "
                                 "namespace")
        elif self.kinds:
            raise ValueError("kinds only applies with label_selector; a target names its own kind")
        return self


MODEL = DeleteStage


def build(stage: DeleteStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.delete import DeleteManifestOperator

    return DeleteManifestOperator(target=stage.target, kinds=stage.kinds or None, label_selector=stage.label_selector,
                                  propagation=stage.propagation, missing_ok=stage.missing_ok, **operator_args(stage),
                                  **common)
