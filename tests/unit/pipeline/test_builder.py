"""The Python builder and YAML produce identical DAGs (compared through Airflow's own serializer)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from airflow_delivery.pipeline.builder import Pipeline
from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import parse_pipeline_text

YAML = """
name: shop
description: deploys the shop
parameters:
  - {name: environment, options: [staging, production], default: staging}
artifacts:
  - {name: api, repository: registry.example.com/team/api, tag: "v\\\\d+"}
triggers:
  - {type: schedule, cron: "0 2 * * *", timezone: Europe/Paris}
notifications:
  - {type: slack, channel: "#deploys"}
stages:
  - {id: soak, type: wait, duration: 30s}
  - {id: gate, type: wait, duration: 1m, depends_on: [soak], when: "params.environment == 'production'"}
"""


def python_pipeline() -> Pipeline:
    return (
        Pipeline("shop", description="deploys the shop")
        .parameter("environment", options=["staging", "production"], default="staging")
        .artifact("api", "registry.example.com/team/api", tag="v\\d+")
        .trigger("schedule", cron="0 2 * * *", timezone="Europe/Paris")
        .notify("#deploys")
        .stage("soak", "wait", duration="30s")
        .stage("gate", "wait", duration="1m", depends_on=["soak"], when="params.environment == 'production'")
    )


def serialized(dag) -> dict:  # type: ignore[no-untyped-def]
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)
    data["dag"].pop("fileloc", None)
    data["dag"].pop("relative_fileloc", None)
    return data


def test_python_and_yaml_give_identical_dags() -> None:
    from_yaml = build_dag(parse_pipeline_text(YAML, "shop.yaml"))
    from_python = python_pipeline().build()
    assert serialized(from_python) == serialized(from_yaml)


def test_round_trip_to_yaml() -> None:
    text = yaml.safe_dump(python_pipeline().to_dict())
    assert parse_pipeline_text(text, "x.yaml") == python_pipeline().spec()


def test_builder_reports_the_same_mistakes() -> None:
    with pytest.raises(ValidationError, match="depends_on: unknown stage 'nope'"):
        Pipeline("p").stage("a", "wait", duration="1s", depends_on=["nope"]).spec()
