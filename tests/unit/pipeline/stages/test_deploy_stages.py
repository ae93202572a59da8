"""Spec validation and builds of the ``bake``, ``deploy`` and ``wait_for_stable`` stages.

Mistakes are reported by ``parse_pipeline_text`` with the file, line and field path; valid stages build
the operators with the arguments the YAML gave (artifact names resolved against the pipeline's).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_delivery.operators.bake import BakeManifestOperator
from airflow_delivery.operators.deploy import DeployManifestOperator
from airflow_delivery.operators.stable import WaitForStableOperator
from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text
from airflow_delivery.pipeline.stages import STAGE_BUILDERS
from airflow_delivery.pipeline.stages import deploy as deploy_stage

PATH = "pipelines/p.yaml"
ARTIFACTS = """\
artifacts:
  - {name: api, repository: registry.example.com/team/api, tag: 'v\\d+'}
"""
BAKE = """\
  - id: bake
    type: bake
    source: manifests/app
    values: {name: api, replicas: 2}
    overrides: {image.tag: "{{ params.tag }}"}
"""
DEPLOY = """\
  - id: deploy
    type: deploy
    depends_on: [bake]
    from_stage: bake
    strategy: redblack
    artifacts: [api]
    max_version_history: 3
    timeout: 10m
"""
WAIT = """\
  - id: wait
    type: wait_for_stable
    depends_on: [deploy]
    from_stage: deploy
"""


def pipeline(stages: str, head: str = ARTIFACTS) -> str:
    return f"name: p\n{head}stages:\n" + stages


def errors_of(text: str) -> list[str]:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(text, PATH)
    return [str(e) for e in info.value.errors]


def assert_error(text: str, *expected: str) -> None:
    errors = errors_of(text)
    assert any(all(part in e for part in expected) for e in errors), errors


def test_the_story_parses() -> None:
    spec = parse_pipeline_text(pipeline(BAKE + DEPLOY + WAIT), PATH)
    bake, deploy, wait = spec.stages
    assert (bake.type, deploy.type, wait.type) == ("bake", "deploy", "wait_for_stable")
    assert deploy.strategy == "redblack" and deploy.artifacts == ["api"] and deploy.max_version_history == 3


@pytest.mark.parametrize(("stage", "expected"), [
    ("  - {id: d, type: deploy, strategy: canary, manifest_file: m.yaml}", ("stages[0].strategy", "rolling")),
    ("  - {id: d, type: deploy}", ("give exactly one of manifests, manifest_file or from_stage (got none)",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, from_stage: b, depends_on: []}",
     ("got manifest_file, from_stage",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, strategy: redblack, wait_for_stable: false}",
     ("needs wait_for_stable: true",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, traffic_services: [web]}",
     ("traffic_services only apply to the redblack and highlander",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, max_version_history: 0}",
     ("stages[0].max_version_history",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, artifacts: [api, api]}", ("listed twice",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, artifacts: [{name: x, repository: 'reg.io/x:v1'}]}",
     ("carries a tag or digest",)),
    ("  - {id: d, type: deploy, manifest_file: m.yaml, replicas: 3}", ("stages[0].replicas",)),
])
def test_deploy_stage_mistakes_are_named(stage: str, expected: tuple[str, ...]) -> None:
    assert_error(pipeline(stage + "\n"), *expected)


def test_from_stage_must_run_first() -> None:
    assert_error(pipeline(BAKE + "  - {id: d, type: deploy, from_stage: bake}\n"),
                 "from_stage 'bake' must also be in depends_on")


def test_inline_manifests_are_checked_when_parsed() -> None:
    stage = """\
  - id: d
    type: deploy
    manifests:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
      - {apiVersion: apps/v1, metadata: {name: web}}
"""
    assert_error(pipeline(stage), "document 2", "kind: is missing")
    text_stage = "  - id: d\n    type: deploy\n    manifests: |\n      kind: [unclosed\n"
    assert_error(pipeline(text_stage), "invalid YAML")
    templated = '  - {id: d, type: deploy, manifests: "{{ params.manifests }}"}\n'
    assert parse_pipeline_text(pipeline(templated), PATH).stages[0].manifests == "{{ params.manifests }}"


@pytest.mark.parametrize(("stage", "expected"), [
    ("  - {id: b, type: bake, renderer: kustomize, source: k, values: {a: 1}}", ("kustomize renderer takes no values",)),
    ("  - {id: b, type: bake, renderer: helm, source: chart}", ("needs release_name",)),
    ("  - {id: b, type: bake, renderer: mustache, source: t}", ("stages[0].renderer",)),
    ("  - {id: b, type: bake}", ("stages[0].source",)),
    ("  - {id: w, type: wait_for_stable}", ("give exactly one of targets or from_stage",)),
    ("  - {id: w, type: wait_for_stable, targets: [web]}", ("must be 'kind/name'",)),
    ("  - {id: w, type: wait_for_stable, targets: [{kind: Deployment}]}", ("needs name",)),
    ("  - {id: w, type: wait_for_stable, targets: [{kind: Deployment, name: w, size: 1}]}", ("unknown keys ['size']",)),
    ("  - {id: w, type: wait_for_stable, from_stage: d}", ("must also be in depends_on",)),
])
def test_bake_and_wait_stage_mistakes_are_named(stage: str, expected: tuple[str, ...]) -> None:
    assert_error(pipeline(stage + "\n"), *expected)


@pytest.fixture
def dag() -> DAG:
    return DAG("stage_builds", schedule=None)


def test_builds(dag: DAG) -> None:
    spec = parse_pipeline_text(pipeline(BAKE + DEPLOY + WAIT), PATH)
    bake, deploy, wait = spec.stages
    with dag:
        baked = STAGE_BUILDERS["bake"](bake, {"task_id": "bake"})
        deployed = STAGE_BUILDERS["deploy"](deploy, {"task_id": "deploy", "pipeline": spec})
        waited = STAGE_BUILDERS["wait_for_stable"](wait, {"task_id": "wait", "pipeline": spec})
    assert isinstance(baked, BakeManifestOperator) and baked.overrides == {"image.tag": "{{ params.tag }}"}
    assert isinstance(deployed, DeployManifestOperator)
    assert deployed.strategy == "redblack" and deployed.from_stage == "bake" and deployed.max_version_history == 3
    assert [(a.name, a.repository, a.required) for a in deployed.artifacts] == [
        ("api", "registry.example.com/team/api", True)]
    assert deployed.stable_timeout == timedelta(minutes=10) and deployed.kubernetes_conn_id == "kubernetes_default"
    assert isinstance(waited, WaitForStableOperator) and waited.from_stage == "deploy"
    assert waited.stable_timeout == timedelta(minutes=30)


def test_deploy_binds_every_pipeline_artifact_by_default_and_refuses_unknown_names() -> None:
    spec = parse_pipeline_text(pipeline("  - {id: d, type: deploy, manifest_file: m.yaml}\n"), PATH)
    assert deploy_stage.declared_artifacts(spec.stages[0], spec) == [
        {"name": "api", "repository": "registry.example.com/team/api", "required": True}]
    assert deploy_stage.declared_artifacts(spec.stages[0], None) == []

    spec = parse_pipeline_text(pipeline("  - {id: d, type: deploy, manifest_file: m.yaml, artifacts: [web]}\n"), PATH)
    with pytest.raises(ValueError, match="artifact 'web' is not one of the pipeline's artifacts \\(api\\)"):
        deploy_stage.declared_artifacts(spec.stages[0], spec)
    with pytest.raises(ValueError, match="was not given the pipeline; write it as"):
        deploy_stage.declared_artifacts(spec.stages[0], None)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "give exactly one of manifests, manifest_file or from_stage"),
    ({"manifest_file": "m.yaml", "strategy": "blue"}, "unknown deploy strategy 'blue'"),
    ({"manifest_file": "m.yaml", "strategy": "highlander", "wait_for_stable": False}, "needs wait_for_stable=True"),
    ({"manifest_file": "m.yaml", "max_version_history": 0}, "keep at least 1 version"),
    ({"manifest_file": "m.yaml", "on_unmatched": "fail"}, "on_unmatched='fail'"),
    ({"manifest_file": "m.yaml", "artifacts": [{"name": "x"}]}, "artifact 'x' needs a repository"),
    ({"manifest_file": "m.yaml", "artifacts": [{"repository": "r/x", "tag": "v1"}]}, "unknown keys \\['tag'\\]"),
    ({"manifest_file": "m.yaml", "timeout": timedelta(0)}, "stable timeout must be a positive duration"),
])
def test_deploy_operator_checks_static_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeployManifestOperator(task_id="deploy", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "give exactly one of targets or from_stage"),
    ({"targets": ["deployment/web"], "poll_interval": 0}, "poll_interval must be > 0"),
])
def test_wait_operator_checks_static_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WaitForStableOperator(task_id="wait", **kwargs)
