"""Pipeline parameters and expected artifacts: what a run may be given, validated before any stage runs.

Parameters become the Airflow trigger form (one ``Param`` each); expected artifacts are bound from the
run's trigger data (a registry tag event, an upstream pipeline's asset, or ``{"artifacts": {...}}`` in
a manual or API run), with Spinnaker's fallbacks: the prior successful run's artifact, or a default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import Model, check_regex

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"

ParamType = Literal["string", "integer", "number", "boolean"]
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _is_type(value: Any, type_: str) -> bool:
    if type_ in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES[type_])


class Parameter(Model):
    """A typed run parameter; shown on Airflow's trigger form and checked before the first stage."""

    name: str = Field(..., pattern=NAME_PATTERN)
    type: ParamType = "string"
    description: str | None = None
    label: str | None = None
    default: str | int | float | bool | None = None
    options: list[str | int | float] | None = Field(None, min_length=1)
    required: bool = False
    pattern: str | None = Field(None, description="Regex a string value must match entirely.")

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        return check_regex(value) if value is not None else None

    @model_validator(mode="after")
    def _check_default(self) -> Parameter:
        if self.default is not None:
            if not _is_type(self.default, self.type):
                raise ValueError(f"default {self.default!r} is not of type {self.type}")
            if self.options is not None and self.default not in self.options:
                raise ValueError(f"default {self.default!r} is not one of the options {self.options}")
        if self.options is not None:
            for option in self.options:
                if not _is_type(option, self.type):
                    raise ValueError(f"option {option!r} is not of type {self.type}")
        if self.pattern is not None and self.type != "string":
            raise ValueError("pattern only applies to string parameters")
        return self

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema Airflow's ``Param`` validates a value with (and renders the form from)."""
        schema: dict[str, Any] = {"type": self.type if self.required else [self.type, "null"]}
        if self.options is not None:
            schema["enum"] = list(self.options) + ([] if self.required else [None])
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern})$"
        if self.label:
            schema["title"] = self.label
        return schema


class ExpectedArtifact(Model):
    """A container image the pipeline deploys, bound to one tag or digest per run.

    ``repository`` names the image repository as in manifests (e.g. ``registry.example.com/team/api``);
    ``tag`` is a regex the bound tag must match entirely.
    """

    name: str = Field(..., pattern=NAME_PATTERN, description="How stages and runs refer to it.")
    repository: str = Field(..., min_length=1)
    tag: str = Field(".+", description="Regex the bound tag must match (anchored).")
    required: bool = True
    use_prior: bool = Field(False, description="If a run has none, use the last successful run's.")
    default: str | None = Field(None, description="If a run has none (and no prior), use this tag.")

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        return check_regex(value)

    @model_validator(mode="after")
    def _check_default(self) -> ExpectedArtifact:
        if self.default is not None and not re.fullmatch(self.tag, self.default):
            raise ValueError(f"default {self.default!r} does not match the tag pattern {self.tag!r}")
        return self


def validate_run_parameters(parameters: list[Parameter], given: dict[str, Any]) -> dict[str, Any]:
    """Values for every parameter (given or default); raise ``ValueError`` listing every problem."""
    problems: list[str] = []
    known = {p.name for p in parameters}
    for name in sorted(set(given) - known):
        problems.append(f"unknown parameter {name!r}; this pipeline takes: {', '.join(sorted(known)) or 'none'}")
    values: dict[str, Any] = {}
    for param in parameters:
        value = given.get(param.name, param.default)
        if value is None:
            if param.required:
                problems.append(f"parameter {param.name!r} is required")
            values[param.name] = None
            continue
        if not _is_type(value, param.type):
            problems.append(f"parameter {param.name!r} must be a {param.type}, got {value!r}")
        elif param.options is not None and value not in param.options:
            problems.append(f"parameter {param.name!r} must be one of {param.options}, got {value!r}")
        elif param.pattern is not None and not re.fullmatch(param.pattern, str(value)):
            problems.append(f"parameter {param.name!r} must match {param.pattern!r}, got {value!r}")
        values[param.name] = value
    if problems:
        raise ValueError("; ".join(problems))
    return values
