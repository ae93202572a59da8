"""``run_job``: run a Kubernetes Job (inline or from a file), wait for it, and return what it printed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.kubernetes.jobs import base_name, prepare_job
from airflow_delivery.pipeline.stages._manifest_stages import KubernetesStage, operator_args, stage_timeout


class RunJobStage(KubernetesStage):
    """Spinnaker's "Run Job (Manifest)". Outputs come from log lines ``SPINNAKER_PROPERTY_<KEY>=value``,
    ``SPINNAKER_CONFIG_JSON=<json>`` or ``DELIVERY_OUTPUT <json>``; ``timeout`` bounds the wait."""

    type: Literal["run_job"]
    manifest: dict[str, Any] | None = Field(None, description="The batch/v1 Job (name or generateName is the base "
                                                              "of each run's Job name).")
    manifest_file: str | None = Field(None, min_length=1,
                                      description="A YAML file with one Job, relative to the DAG file's folder.")
    wait_for_completion: bool = Field(True, description="Wait for the Job and read its outputs.")
    cleanup: bool = Field(False, description="Delete the Job after it succeeded (failed ones are kept).")
    output_container: str | None = Field(None, description="Read outputs from this container only.")

    @field_validator("manifest")
    @classmethod
    def _check_manifest(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            prepare_job(value, name="check", namespace=None)  # JobSpecError (ValueError) names the field
            base_name(value)
        return value

    @model_validator(mode="after")
    def _check_source(self) -> RunJobStage:
        if (self.manifest is None) == (self.manifest_file is None):
            raise ValueError("give exactly one of manifest (inline) or manifest_file")
        if self.cleanup and not self.wait_for_completion:
            raise ValueError("cleanup deletes the Job after it succeeded, so it needs wait_for_completion")
        return self


MODEL = RunJobStage


def build(stage: RunJobStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.run_job import RunJobOperator

    return RunJobOperator(manifest=stage.manifest, manifest_file=stage.manifest_file,
                          wait_for_completion=stage.wait_for_completion, cleanup=stage.cleanup,
                          output_container=stage.output_container, timeout=stage_timeout(stage),
                          **operator_args(stage), **common)
