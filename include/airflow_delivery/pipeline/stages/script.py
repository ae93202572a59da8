"""``script``: run a command in a container image, as a Kubernetes Job: a small convenience over ``run_job``.

Pipeline files never run code inside Airflow (a scheduler or worker would execute whatever the file
says, with Airflow's credentials); a script runs in the cluster, in the image it names, with the
service account it names. Secrets never appear in a pipeline file: ``secret_env`` maps environment
variables to keys of existing Secrets, and literal ``env`` whose name looks like a credential is
refused, pointing at ``secret_env``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.artifacts.references import parse_reference
from airflow_delivery.pipeline.model import Duration, Model, parse_duration
from airflow_delivery.pipeline.stages._manifest_stages import (
    KubernetesStage,
    is_template,
    operator_args,
    stage_timeout,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"(password|passwd|secret|token|api[-_]?key|credential|private[-_]?key)", re.IGNORECASE)


class SecretKeyRef(Model):
    """A key of an existing Secret in the Job's namespace."""

    secret: str = Field(..., min_length=1, description="Name of the Secret.")
    key: str = Field(..., min_length=1, description="Key inside the Secret.")


def _check_env_names(names: list[str], field: str) -> None:
    for name in names:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{field}: {name!r} is not an environment variable name (letters, digits, '_')")


class ScriptStage(KubernetesStage):
    """Run ``command``/``args`` in ``image`` as a Job; outputs as for ``run_job`` (``DELIVERY_OUTPUT <json>``...)."""

    type: Literal["script"]
    image: str = Field(..., min_length=1, description="Container image, e.g. 'registry.example.com/tools:1.4'.")
    command: list[str] = Field(default_factory=list, description="Entrypoint override, e.g. [sh, -c].")
    args: list[str] = Field(default_factory=list, description="Arguments, e.g. ['./migrate.sh --check'].")
    env: dict[str, str] = Field(default_factory=dict, description="Plain, non-secret environment variables.")
    secret_env: dict[str, SecretKeyRef] = Field(
        default_factory=dict, description="Environment variables read from Secrets: NAME: {secret: ..., key: ...}.")
    service_account: str | None = Field(None, min_length=1, description="The pod's service account.")
    backoff_limit: int = Field(0, ge=0, le=10, description="Retries of a failed pod (default none).")
    deadline: Duration | None = Field(None, description="Kill the script after this long (activeDeadlineSeconds).")
    cleanup: bool = Field(True, description="Delete the Job after it succeeded.")

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str) -> str:
        if not is_template(value):
            parse_reference(value)  # ValueError names the bad part
        return value

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if any(not part for part in value):
            raise ValueError("command has an empty part")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        _check_env_names(list(value), "env")
        for name in value:
            if _SECRET_NAME.search(name):
                raise ValueError(
                    f"env: {name} looks like a credential; pipeline files hold no secrets: create a Secret and use "
                    f"secret_env: {{{name}: {{secret: <name>, key: <key>}}}}")
        return value

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: dict[str, SecretKeyRef]) -> dict[str, SecretKeyRef]:
        _check_env_names(list(value), "secret_env")
        return value

    @field_validator("deadline")
    @classmethod
    def _check_deadline(cls, value: str | float | None) -> str | int | float | None:
        if value is not None and parse_duration(value).total_seconds() < 1:
            raise ValueError("deadline must be at least 1 second")
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> ScriptStage:
        overlap = sorted(set(self.env) & set(self.secret_env))
        if overlap:
            raise ValueError(f"{', '.join(overlap)} is set in both env and secret_env: keep one")
        return self

    def job_manifest(self) -> dict[str, Any]:
        """The Job this script runs as (``generateName`` from the stage id; each run gets its own name)."""
        env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in self.env.items()]
        env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
                for k, ref in self.secret_env.items()]
        container: dict[str, Any] = {"name": "script", "image": self.image}
        if self.command:
            container["command"] = list(self.command)
        if self.args:
            container["args"] = list(self.args)
        if env:
            container["env"] = env
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        if self.service_account:
            pod_spec["serviceAccountName"] = self.service_account
        spec: dict[str, Any] = {"backoffLimit": self.backoff_limit, "template": {"spec": pod_spec}}
        if self.deadline is not None:
            spec["activeDeadlineSeconds"] = max(1, int(parse_duration(self.deadline).total_seconds()))
        name = re.sub(r"[^a-z0-9-]+", "-", self.id.lower()).strip("-") or "script"
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": f"{name}-"}, "spec": spec}


MODEL = ScriptStage


def build(stage: ScriptStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.run_job import RunJobOperator

    return RunJobOperator(manifest=stage.job_manifest(), cleanup=stage.cleanup, output_container="script",
                          timeout=stage_timeout(stage), **operator_args(stage), **common)
