"""Stage types: one module per type, each with its spec model and its ``build`` function.

The registry is an explicit list, not a plugin scan: an unknown type is an error naming the known
ones. A stage module is pure at import time (its builder imports Airflow and operators lazily), so
validating pipelines never needs Airflow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from airflow_delivery.pipeline.model import StageBase

STAGE_MODULES: tuple[str, ...] = (
    "wait", "check_preconditions", "webhook", "manual_judgment", "pipeline",
    "patch", "scale", "delete", "undo_rollout", "find_artifacts", "run_job", "script",
    "bake", "deploy", "wait_for_stable",
    "canary",
)

Builder = Callable[[Any, dict[str, Any]], Any]


PipelineCheck = Callable[[int, Any, Any], None]


def _without_pipeline(build: Builder) -> Builder:
    def builder(stage: Any, common: dict[str, Any]) -> Any:
        return build(stage, {k: v for k, v in common.items() if k != "pipeline"})

    return builder


def _load() -> tuple[dict[str, type[StageBase]], dict[str, Builder], dict[str, PipelineCheck]]:
    models: dict[str, type[StageBase]] = {}
    builders: dict[str, Builder] = {}
    checks: dict[str, PipelineCheck] = {}
    for name in STAGE_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        models[name] = module.MODEL
        # ``common["pipeline"]`` (the whole spec) reaches only builders that ask for it (WANTS_PIPELINE);
        # the others pass ``common`` straight to their operator.
        builders[name] = module.build if getattr(module, "WANTS_PIPELINE", False) else _without_pipeline(module.build)
        # Optional: checks that need the whole pipeline (e.g. that branch targets exist).
        if (check := getattr(module, "check_in_pipeline", None)) is not None:
            checks[name] = check
    return models, builders, checks


STAGE_MODELS, STAGE_BUILDERS, PIPELINE_CHECKS = _load()
