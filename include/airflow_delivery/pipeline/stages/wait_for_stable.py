"""``wait_for_stable``: wait until workloads have rolled out (deferred), failing with the cluster's reason."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.stages._manifest_stages import KubernetesStage, stage_timeout


def _check_target(value: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(value, str):
        if "{{" in value:
            return value
        kind, slash, name = value.partition("/")
        if not slash or not kind or not name or "/" in name:
            raise ValueError(f"target {value!r} must be 'kind/name', e.g. 'deployment/web'")
        return value
    unknown = sorted(set(value) - {"kind", "name", "namespace", "api_version"})
    if unknown:
        raise ValueError(f"target has unknown keys {unknown}; use kind, name, namespace, api_version")
    missing = [k for k in ("kind", "name") if not value.get(k)]
    if missing:
        raise ValueError(f"target {value!r} needs {' and '.join(missing)}")
    return value


class WaitForStableStage(KubernetesStage):
    """Wait for ``targets`` (or what stage ``from_stage`` deployed) to be stable; ``timeout`` defaults to 30m."""

    type: Literal["wait_for_stable"]
    targets: list[str | dict[str, Any]] | None = Field(
        None, min_length=1, description="Objects: 'deployment/web' or {kind, name, namespace?, api_version?}.")
    from_stage: str | None = Field(None, description="A deploy stage: wait for what it applied.")

    @field_validator("targets")
    @classmethod
    def _check_targets(cls, value: list[str | dict[str, Any]] | None) -> list[str | dict[str, Any]] | None:
        for item in value or []:
            _check_target(item)
        return value

    @model_validator(mode="after")
    def _check_source(self) -> WaitForStableStage:
        if (self.targets is None) == (self.from_stage is None):
            raise ValueError("give exactly one of targets or from_stage")
        if self.from_stage is not None and self.from_stage not in self.depends_on:
            raise ValueError(f"from_stage {self.from_stage!r} must also be in depends_on, so it runs first")
        return self


MODEL = WaitForStableStage


def build(stage: WaitForStableStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.stable import WaitForStableOperator

    common = {k: v for k, v in common.items() if k != "pipeline"}
    return WaitForStableOperator(
        targets=list(stage.targets) if stage.targets is not None else None, from_stage=stage.from_stage,
        namespace=stage.namespace, timeout=stage_timeout(stage), kubernetes_conn_id=stage.account, **common)
