"""The ``publish`` task of a pipeline with ``publish: true``: announce what a successful run deployed.

A separate final task, not an outlet on the pipeline's last stages, because our deferrable stages end
in the triggerer (``utils/deferral.py``): Airflow 3.3 marks such a task successful from the trigger
event (``handle_event_submit`` for ``TaskSuccessEvent``) without registering its outlets' asset
events, so a leaf stage that is a ``wait``, a rollout or a canary would never publish. This task
runs in a worker, where outlet events and their extra are recorded; it runs only when every leaf
stage succeeded or was skipped and at least one succeeded.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_delivery.pipeline.publish import PUBLISH_TASK_ID, Publication, pipeline_asset, publication
from airflow_delivery.pipeline.runtime import run_artifacts


class PublishOperator(BaseOperator):
    """Update the asset ``delivery.pipeline.<pipeline>`` with the run's artifacts as the event's extra.

    :param pipeline: the publishing pipeline's name (its DAG id).
    """

    ui_color = "#e4f0e8"

    def __init__(self, *, pipeline: str, task_id: str = PUBLISH_TASK_ID, **kwargs: Any) -> None:
        if "outlets" in kwargs:
            raise ValueError(f"{task_id}: the outlet is the pipeline's own asset; do not pass outlets")
        self.asset = pipeline_asset(pipeline)
        super().__init__(task_id=task_id, outlets=[self.asset], **kwargs)
        self.pipeline = pipeline

    def execute(self, context: Context) -> Publication:
        event = publication(self.pipeline, str(context["run_id"]), run_artifacts(context))
        # The extra is the asset event's JSON column; a Publication is JSON through and through.
        context["outlet_events"][self.asset].extra = {
            "pipeline": event["pipeline"],
            "run_id": event["run_id"],
            "artifacts": dict(event["artifacts"]),
        }
        self.log.info(
            "Publishing %s run %s: %s",
            self.pipeline,
            event["run_id"],
            ", ".join(f"{k}={v}" for k, v in sorted(event["artifacts"].items())) or "no artifacts",
        )
        return event
