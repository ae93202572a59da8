"""The Python way to write a pipeline: a small builder producing the same spec as a YAML file.

Both go through ``PipelineSpec`` validation and the same factory, so a pipeline written in Python and
its YAML twin produce identical DAGs, with the same errors for the same mistakes::

    from airflow_delivery.pipeline.builder import Pipeline

    dag = (
        Pipeline("shop", description="deploys the shop")
        .parameter("environment", options=["staging", "production"], default="staging")
        .stage("soak", "wait", duration="30s")
        .stage("soak_more", "wait", duration="1m", depends_on=["soak"])
        .build()
    )
"""

from __future__ import annotations

from typing import Any

from airflow_delivery.pipeline.spec import PipelineSpec


class Pipeline:
    def __init__(self, name: str, **options: Any) -> None:
        self._doc: dict[str, Any] = {"name": name, **options}

    def _append(self, key: str, item: dict[str, Any]) -> Pipeline:
        self._doc.setdefault(key, []).append(item)
        return self

    def parameter(self, name: str, **options: Any) -> Pipeline:
        return self._append("parameters", {"name": name, **options})

    def artifact(self, name: str, repository: str, **options: Any) -> Pipeline:
        return self._append("artifacts", {"name": name, "repository": repository, **options})

    def trigger(self, type: str, **options: Any) -> Pipeline:  # noqa: A002 - mirrors the YAML key
        return self._append("triggers", {"type": type, **options})

    def notify(self, channel: str, **options: Any) -> Pipeline:
        return self._append("notifications", {"type": "slack", "channel": channel, **options})

    def stage(self, id: str, type: str, **options: Any) -> Pipeline:  # noqa: A002 - mirrors the YAML keys
        return self._append("stages", {"id": id, "type": type, **options})

    def spec(self) -> PipelineSpec:
        """Validate; raises pydantic's ``ValidationError`` naming each bad field."""
        return PipelineSpec.model_validate(self._doc)

    def to_dict(self) -> dict[str, Any]:
        """The document a YAML file would contain (``yaml.safe_dump`` it to switch to YAML)."""
        return dict(self._doc)

    def build(self) -> Any:
        from airflow_delivery.pipeline.factory import build_dag

        return build_dag(self.spec())
