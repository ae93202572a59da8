"""Pipeline to pipeline (publish and pipeline triggers) and pipeline-level judgment notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import parse_pipeline_text
from airflow_delivery.pipeline.publish import (
    artifacts_from_publications,
    pipeline_asset_name,
    pipeline_of_asset,
    publication,
)
from airflow_delivery.pipeline.runtime import image_asset_name, run_artifacts
from airflow_delivery.pipeline.spec import PipelineSpec


@dataclass(frozen=True)
class AssetKey:
    name: str


def published(artifacts: dict[str, str], at: int | None = None) -> SimpleNamespace:
    stamp = datetime(2025, 1, 1, 0, at, tzinfo=UTC) if at is not None else None
    return SimpleNamespace(extra=publication("staging", f"run-{at}", artifacts), timestamp=stamp)


def spec(text: str) -> PipelineSpec:
    return parse_pipeline_text(text, "p.yaml")


STAGING = """\
name: staging
publish: true
artifacts:
  - {name: app, repository: registry.local/app}
stages:
  - {id: deploy, type: wait, duration: 0s}
  - {id: smoke, type: wait, duration: 0s, depends_on: [deploy]}
  - {id: soak, type: wait, duration: 0s, depends_on: [deploy], on_failure: rollback, rollback: [undo]}
  - {id: undo, type: wait, duration: 0s}
"""

PRODUCTION = """\
name: production
artifacts:
  - {name: app, repository: registry.local/app}
triggers:
  - {type: pipeline, pipeline: staging}
stages:
  - {id: deploy, type: wait, duration: 0s, when: "artifacts['app'] == 'v7'"}
"""


def test_asset_names_do_not_clash_with_image_and_git_assets() -> None:
    assert pipeline_asset_name("staging") == "delivery.pipeline.staging"
    assert pipeline_of_asset("delivery.pipeline.staging") == "staging"
    # the image asset of a pipeline that happens to be called "pipeline"
    assert pipeline_of_asset(image_asset_name("pipeline", "app")) is None
    assert pipeline_of_asset("delivery.git.pipeline.main") is None
    assert pipeline_of_asset("delivery.pipeline.") is None


def test_upstream_artifacts_bind_and_the_newest_publication_wins() -> None:
    events = {
        AssetKey(pipeline_asset_name("staging")): [
            published({"app": "v8", "db": "3"}, at=2),
            published({"app": "v7"}, at=1),
        ],
        AssetKey("some.other.asset"): [SimpleNamespace(extra={"artifacts": {"app": "nope"}})],
    }
    assert artifacts_from_publications(events) == {"app": "v8", "db": "3"}
    assert run_artifacts({"triggering_asset_events": events}) == {"app": "v8", "db": "3"}


def test_explicit_artifacts_win_over_the_upstream() -> None:
    events = {AssetKey(pipeline_asset_name("staging")): [published({"app": "v7", "db": "3"})]}
    context = {
        "triggering_asset_events": events,
        "dag_run": SimpleNamespace(conf={"artifacts": {"app": "v9"}}),
    }
    assert run_artifacts(context) == {"app": "v9", "db": "3"}


def test_publish_defaults_to_false_and_a_pipeline_cannot_trigger_itself() -> None:
    assert spec(PRODUCTION).publish is False
    with pytest.raises(ValidationError, match=r"triggers\[0\]\.pipeline: a pipeline cannot trigger itself"):
        PipelineSpec.model_validate(
            {
                "name": "loop",
                "triggers": [{"type": "pipeline", "pipeline": "loop"}],
                "stages": [{"id": "a", "type": "wait", "duration": 0}],
            }
        )


def test_a_stage_called_publish_clashes_only_when_publishing() -> None:
    doc = {"name": "p", "stages": [{"id": "publish", "type": "wait", "duration": 0}]}
    assert PipelineSpec.model_validate(doc).stages[0].id == "publish"
    with pytest.raises(ValidationError, match=r"stages\[0\]\.id: 'publish' is the task that publishes"):
        PipelineSpec.model_validate({**doc, "publish": True})


def test_publishing_pipeline_ends_with_a_publish_task_after_its_leaves() -> None:
    from airflow_delivery.operators.publish import PublishOperator

    dag = build_dag(spec(STAGING))
    publish = dag.get_task("publish")
    assert isinstance(publish, PublishOperator)
    # rollback stages are not leaves: they run only on failure and must not decide the publication
    assert publish.upstream_task_ids == {"smoke", "soak"}
    assert publish.trigger_rule == "none_failed_min_one_success"
    assert [a.name for a in publish.outlets] == ["delivery.pipeline.staging"]
    assert "publish" not in build_dag(spec(PRODUCTION)).task_ids


def test_downstream_is_scheduled_on_the_upstream_asset_also_with_a_cron() -> None:
    from airflow.sdk import AssetAny, AssetOrTimeSchedule

    dag = build_dag(spec(PRODUCTION))
    assert isinstance(dag.timetable.asset_condition, AssetAny)
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["delivery.pipeline.staging"]
    # the consumer's asset is the publisher's (Airflow matches name and URI)
    upstream = build_dag(spec(STAGING)).get_task("publish").outlets[0]
    (consumed,) = dag.timetable.asset_condition.objects
    assert (consumed.name, consumed.uri) == (upstream.name, upstream.uri)

    both = PRODUCTION.replace(
        "  - {type: pipeline, pipeline: staging}\n",
        "  - {type: pipeline, pipeline: staging}\n  - {type: schedule, cron: '0 2 * * *'}\n",
    )
    schedule = build_dag(spec(both)).timetable
    assert isinstance(schedule, AssetOrTimeSchedule)
    assert [a.name for a in schedule.asset_condition.objects] == ["delivery.pipeline.staging"]


JUDGED = """\
name: judged
notifications:
  - {channel: "#releases", when: [failed, judgment]}
  - {channel: "#deploys", when: [starting, complete]}
  - {channel: "#team", when: [judgment]}
stages:
  - id: approve
    type: manual_judgment
    notifications:
      - {channel: "#team", when: [decided]}
      - {channel: "#own"}
"""


def test_pipeline_judgment_notifications_join_the_stage_own() -> None:
    from airflow_delivery.operators.judgment import JudgmentOperator, JudgmentSlackNotifier

    task = build_dag(spec(JUDGED)).get_task("approve")
    assert isinstance(task, JudgmentOperator)
    targets = {t["channel"]: t["when"] for t in task.judgment_slack}
    # '#deploys' does not ask for judgments; '#team' is named twice and messaged once per event
    assert targets == {
        "#team": ["decided", "judgment"],
        "#own": ["judgment", "decided"],
        "#releases": ["judgment", "decided"],
    }
    waiting = [
        n.channel for n in task.notifiers if isinstance(n, JudgmentSlackNotifier) and n.event == "judgment"
    ]
    assert sorted(waiting) == ["#own", "#releases", "#team"]


def test_judgment_without_pipeline_notifications_keeps_its_own() -> None:
    own_only = JUDGED.replace('  - {channel: "#releases", when: [failed, judgment]}\n', "").replace(
        '  - {channel: "#team", when: [judgment]}\n', ""
    )
    task = build_dag(spec(own_only)).get_task("approve")
    assert [(t["channel"], t["when"]) for t in task.judgment_slack] == [
        ("#team", ["decided"]),
        ("#own", ["judgment", "decided"]),
    ]
    assert [n.channel for n in task.notifiers] == ["#own"]
