"""Slack notifications through the Slack provider's notifier, with delivery wording.

The token stays in the Slack connection; this class only decides the text from the run's context.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.slack.notifications.slack import SlackNotifier
from airflow.sdk import Context

from airflow_delivery.notifications.messages import PipelineEvent, pipeline_message, run_url


def _base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or "http://localhost:8080"


class DeliverySlackNotifier(SlackNotifier):
    """Posts 'pipeline/stage starting/complete/failed' messages naming pipeline, run, stage and artifacts."""

    def __init__(self, *, event: PipelineEvent, stage_level: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.event = event
        self.stage_level = stage_level

    def notify(self, context: Context) -> None:
        dag_run = context.get("dag_run")
        dag_id = dag_run.dag_id if dag_run is not None else context["dag"].dag_id
        run_id = context.get("run_id") or (dag_run.run_id if dag_run is not None else "")
        ti = context.get("ti")
        stage = ti.task_id if (self.stage_level and ti is not None) else None
        conf = (dag_run.conf if dag_run is not None else None) or {}
        artifacts = conf.get("artifacts") if isinstance(conf.get("artifacts"), dict) else None
        self.text = pipeline_message(
            self.event,
            pipeline=dag_id,
            run_id=run_id,
            url=run_url(_base_url(), dag_id, run_id),
            stage=stage,
            artifacts={str(k): str(v) for k, v in artifacts.items()} if artifacts else None,
        )
        super().notify(context)
