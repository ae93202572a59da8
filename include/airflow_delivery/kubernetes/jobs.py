"""Run Job helpers: a unique Job per run and try, and the outputs a Job prints in its logs.

Each run of a stage (and each retry) creates its own Job, named from the pipeline, run, stage and try,
so a retry never re-uses a finished Job and a worker that re-executes the same try finds the Job it
already created instead of starting a second one (the name is the same, server-side apply is a no-op).

Outputs follow Spinnaker's convention, so existing Job images keep working:

* ``SPINNAKER_PROPERTY_<KEY>=value``: one output, key lower-cased as Spinnaker does (``<KEY>`` may not
  contain ``=``; the value is everything after the first ``=``, trimmed);
* ``SPINNAKER_CONFIG_JSON=<json object>``: several outputs at once;
* ``DELIVERY_OUTPUT <json object>``: ours, same as the JSON form; keys are kept as written.

Later lines win. A JSON line that is not a JSON object fails the stage (naming the line), because a
downstream stage would otherwise run without the value it expects.

Pure: manifests and logs are plain data.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_delivery.kubernetes.manifests import DELIVERY_PREFIX, MANAGED_BY_LABEL, MANAGED_BY_VALUE

JOB_API_VERSION = "batch/v1"
MAX_JOB_NAME = 63  # the name becomes the pods' job-name label value
RUN_LABEL = f"{DELIVERY_PREFIX}/run-job"
PROPERTY_PREFIX = "SPINNAKER_PROPERTY_"
_PROPERTY_RE = re.compile(r"^\s*SPINNAKER_PROPERTY_([^=\s]+)=(.*)$")
_CONFIG_JSON_RE = re.compile(r"^\s*SPINNAKER_CONFIG_JSON=(.*)$")
_DELIVERY_OUTPUT_RE = re.compile(r"^\s*DELIVERY_OUTPUT\s+(.*)$")
_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


class JobSpecError(ValueError):
    """The Job manifest cannot be run; the message names the field."""


class JobOutputError(ValueError):
    """A Job printed an output line that cannot be read; the message names the pod and line."""


def base_name(manifest: Mapping[str, Any]) -> str:
    """The name to derive Job names from: ``metadata.name``, else ``metadata.generateName`` without its ``-``."""
    metadata = manifest.get("metadata") or {}
    raw = metadata.get("name") or metadata.get("generateName") or ""
    base = _NAME_CHARS.sub("-", str(raw).lower()).strip("-")
    if not base:
        raise JobSpecError("the Job manifest has neither metadata.name nor metadata.generateName: give one, e.g. "
                           "metadata: {generateName: migrate-}")
    return base


def unique_job_name(base: str, identity: str) -> str:
    """``<base>-<8 hex chars of identity's hash>``, at most 63 characters (``identity``: run, stage and try)."""
    suffix = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:8]
    head = base[: MAX_JOB_NAME - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def prepare_job(
    manifest: Mapping[str, Any], *, name: str, namespace: str | None, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of ``manifest`` ready to apply as ``name``: checked to be a batch/v1 Job with containers,
    ``generateName`` replaced by the name, our labels added (the pods' too, to find them in logs)."""
    if not isinstance(manifest, Mapping):
        raise JobSpecError(f"the Job manifest must be a mapping, got {type(manifest).__name__}")
    if manifest.get("kind") != "Job":
        raise JobSpecError(f"kind is {manifest.get('kind')!r}: run_job runs a kind: Job manifest (apiVersion batch/v1)")
    if manifest.get("apiVersion") != JOB_API_VERSION:
        raise JobSpecError(f"apiVersion is {manifest.get('apiVersion')!r}: a Job is apiVersion {JOB_API_VERSION}")
    spec = manifest.get("spec")
    template_spec = ((spec or {}).get("template") or {}).get("spec") if isinstance(spec, Mapping) else None
    containers = template_spec.get("containers") if isinstance(template_spec, Mapping) else None
    if not isinstance(containers, list) or not containers:
        raise JobSpecError("spec.template.spec.containers is missing or empty: a Job needs at least one container")
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping) or not container.get("image"):
            raise JobSpecError(f"spec.template.spec.containers[{index}].image is missing")
    restart = template_spec.get("restartPolicy") if isinstance(template_spec, Mapping) else None
    if restart not in (None, "Never", "OnFailure"):
        raise JobSpecError(f"spec.template.spec.restartPolicy is {restart!r}: a Job's pods use Never or OnFailure")
    job = copy.deepcopy(dict(manifest))
    metadata = job.setdefault("metadata", {})
    metadata.pop("generateName", None)
    metadata["name"] = name
    if namespace:
        metadata["namespace"] = namespace
    added = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: name, **(labels or {})}
    metadata["labels"] = {**(metadata.get("labels") or {}), **added}
    template = job["spec"]["template"]
    template_metadata = template.setdefault("metadata", {})
    template_metadata["labels"] = {**(template_metadata.get("labels") or {}), **added}
    template["spec"].setdefault("restartPolicy", "Never")
    return job


def parse_outputs(log: str, *, source: str = "the Job's log") -> dict[str, Any]:
    """The outputs printed in ``log`` (see the module docstring); ``source`` names the pod in errors."""
    outputs: dict[str, Any] = {}
    for number, line in enumerate(log.splitlines(), start=1):
        line = line.rstrip("\r")
        match = _PROPERTY_RE.match(line)
        if match:
            outputs[match.group(1).lower()] = match.group(2).strip()
            continue
        json_match = _CONFIG_JSON_RE.match(line) or _DELIVERY_OUTPUT_RE.match(line)
        if json_match:
            marker = "SPINNAKER_CONFIG_JSON=" if line.lstrip().startswith("SPINNAKER_CONFIG_JSON") else "DELIVERY_OUTPUT"
            try:
                value = json.loads(json_match.group(1))
            except json.JSONDecodeError as exc:
                raise JobOutputError(
                    f"{source}, line {number}: the text after {marker} is not valid JSON ({exc.msg} at column "
                    f"{exc.colno}); print one JSON object on one line, e.g. {marker}"
                    f"{'' if marker.endswith('=') else ' '}{{\"version\": \"1.2.3\"}}"
                ) from None
            if not isinstance(value, dict):
                raise JobOutputError(
                    f"{source}, line {number}: {marker} must be followed by a JSON object, got a "
                    f"{type(value).__name__}"
                )
            outputs.update(value)
    return outputs


def log_tail(log: str, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, for failure messages."""
    return "\n".join(log.rstrip("\n").splitlines()[-lines:]) if log else ""


def label_selector(job: Mapping[str, Any]) -> str:
    """The label selector of a Job's pods, from its own ``spec.selector.matchLabels`` (set by the API server)."""
    match_labels = ((job.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if match_labels:
        return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
    name = (job.get("metadata") or {}).get("name")
    return f"job-name={name}"
