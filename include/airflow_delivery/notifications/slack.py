"""Slack notifications through the Slack provider's notifier, with delivery wording.

The class is deliberately light: the Slack provider (slack_sdk, aiohttp) is imported only when a
message is sent, not while pipelines are parsed, where it would cost most of a pipeline's parse time.
The token stays in the Slack connection; this class only decides the text from the run's context.
"""

from __future__ import annotations


from airflow.sdk import BaseNotifier, Context

from airflow_delivery.notifications.messages import PipelineEvent, pipeline_message, run_url


def _base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or "http://localhost:8080"


class DeliverySlackNotifier(BaseNotifier):
    """Posts 'pipeline/stage starting/complete/failed' messages naming pipeline, run, stage and artifacts."""

    template_fields = ("channel", "slack_conn_id")

    def __init__(
        self,
        *,
        event: PipelineEvent,
        channel: str,
        slack_conn_id: str = "slack_api_default",
        stage_level: bool = False,
        detail: str | None = None,
    ) -> None:
        super().__init__()
        self.event = event
        self.channel = channel
        self.slack_conn_id = slack_conn_id
        self.stage_level = stage_level
        self.detail = detail

    def message(self, context: Context) -> str:
        dag_run = context.get("dag_run")
        dag_id = dag_run.dag_id if dag_run is not None else context["dag"].dag_id
        run_id = context.get("run_id") or (dag_run.run_id if dag_run is not None else "")
        ti = context.get("ti")
        stage = ti.task_id if (self.stage_level and ti is not None) else None
        from airflow_delivery.pipeline.runtime import run_artifacts

        artifacts = run_artifacts(context)
        return pipeline_message(
            self.event,
            pipeline=dag_id,
            run_id=run_id,
            url=run_url(_base_url(), dag_id, run_id),
            stage=stage,
            artifacts={str(k): str(v) for k, v in artifacts.items()} if artifacts else None,
            detail=self.detail,
        )

    def notify(self, context: Context) -> None:
        from airflow.providers.slack.notifications.slack import SlackNotifier

        SlackNotifier(slack_conn_id=self.slack_conn_id, channel=self.channel, text=self.message(context)).notify(
            context
        )

    def __repr__(self) -> str:
        return f"DeliverySlackNotifier(event={self.event!r}, channel={self.channel!r})"
