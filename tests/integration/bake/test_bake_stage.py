"""The bake stage under ``dag.test()``: DAG -> ``BakeManifestOperator`` -> XCom -> a downstream task.

Covered: the jinja renderer with a values file, templated values and overrides filled from the run's
params (and run conf), the hash matching the manifests; a run-time parameter that tries to inject
YAML fails the task with the template file and line; kustomize through the real ``kubectl``;
Secrets refused (and their data never in XCom or the task log) or dropped; static arguments
checked when the DAG is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from airflow_delivery.kubernetes.manifests import content_hash
from airflow_delivery.operators.bake import BakeManifestOperator

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parent / "dags"
BUNDLE = "bake-stage-tests"


@pytest.fixture(scope="module")
def bundle_env() -> Iterator[None]:
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": BUNDLE, "classpath": local, "kwargs": {"path": str(DAGS), "refresh_interval": 0}},
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        yield


@pytest.fixture
def dags(airflow_db, bundle_env) -> dict[str, Any]:
    """The scenario DAGs, in a bundle of their own (``dag.test()`` runs only DAGs of a configured bundle).

    Parsed afresh for each test: ``dag.test()`` renders template fields in place on the task objects,
    as a worker would on its own fresh copy, so a second run of the same objects would see the first
    run's values.
    """
    bag = DagBag(str(DAGS), bundle_path=DAGS, bundle_name=BUNDLE)
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def xcoms(dag_run: Any, task_id: str) -> list[Any]:
    query = XComModel.get_many(
        run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
    )
    with create_session() as session:
        return [XComModel.deserialize_value(row) for row in session.scalars(query)]


def xcom(dag_run: Any, task_id: str) -> Any:
    values = xcoms(dag_run, task_id)
    assert len(values) == 1, f"expected one XCom from {task_id}, got {len(values)}"
    return values[0]


def test_jinja_bake_with_params_feeds_a_downstream_task(dags) -> None:
    dag_run = dags["bake_jinja"].test(run_conf={"tag": "v7", "note": "release 7"})
    assert dag_run.state == "success"
    baked = xcom(dag_run, "bake")
    assert baked["renderer"] == "jinja"
    assert [m["kind"] for m in baked["manifests"]] == ["ConfigMap", "Deployment", "Service"]
    assert baked["hash"] == content_hash(baked["manifests"])
    deployment = baked["manifests"][1]
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["annotations"]["description"] == "release 7"
    summary = xcom(dag_run, "summarise")
    assert summary == {
        "hash": baked["hash"],
        "kinds": ["ConfigMap", "Deployment", "Service"],
        "images": ["registry.example.com/team/api:v7"],
    }


def test_defaults_give_a_different_hash(dags, airflow_db, bundle_env) -> None:
    first = xcom(dags["bake_jinja"].test(), "bake")
    assert first["manifests"][1]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1")
    fresh = DagBag(str(DAGS), bundle_path=DAGS, bundle_name=BUNDLE).dags
    again = xcom(fresh["bake_jinja"].test(run_conf={"tag": "v7", "note": "release 7"}), "bake")
    assert first["hash"] != again["hash"]


def test_a_parameter_cannot_inject_yaml(dags) -> None:
    # ``image: {{ image.repository }}:{{ image.tag }}`` is unquoted in the template: refused.
    dag_run = dags["bake_jinja"].test(run_conf={"tag": "v1\nkind: Secret", "note": "n"})
    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("bake").state == "failed"
    assert dag_run.get_task_instance("summarise").state == "upstream_failed"
    assert xcoms(dag_run, "bake") == []


def test_a_quoted_parameter_stays_one_string(dags) -> None:
    # ``description: {{ description | quote }}``: the same text is safe, as one string.
    dag_run = dags["bake_jinja"].test(run_conf={"tag": "v1", "note": "x\nkind: Secret"})
    assert dag_run.state == "success"
    deployment = xcom(dag_run, "bake")["manifests"][1]
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"]["annotations"]["description"] == "x\nkind: Secret"


def test_kustomize_bake(dags) -> None:
    dag_run = dags["bake_kustomize"].test()
    assert dag_run.state == "success"
    baked = xcom(dag_run, "bake")
    assert baked["renderer"] == "kustomize"
    names = {(m["kind"], m["metadata"]["name"], m["metadata"]["namespace"]) for m in baked["manifests"]}
    assert names == {("Deployment", "prod-web", "prod"), ("Service", "prod-web", "prod")}


def test_secrets_are_refused_and_never_stored(dags, caplog, capfd) -> None:
    dag_run = dags["bake_secret_refused"].test()
    assert dag_run.state == "failed"
    assert xcoms(dag_run, "bake") == []
    output = caplog.text + "".join(capfd.readouterr())
    assert "Secret api-credentials" in output  # the error names the object...
    assert "hunter2" not in output  # ...never its data


def test_secrets_can_be_dropped_from_the_artifact(dags, caplog, capfd) -> None:
    dag_run = dags["bake_secret_dropped"].test()
    output = caplog.text + "".join(capfd.readouterr())
    assert "Left out of the bake output" in output and "hunter2" not in output
    assert dag_run.state == "success"
    baked = xcom(dag_run, "bake")
    assert [m["kind"] for m in baked["manifests"]] == ["ConfigMap"]
    assert "hunter2" not in json.dumps(baked)
    assert baked["hash"] == content_hash(baked["manifests"])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"renderer": "ytt"}, "unknown renderer 'ytt'"),
        ({"secrets": "keep"}, "secrets='keep'"),
        ({"renderer": "kustomize", "values": {"a": 1}}, "kustomize renderer takes no values"),
        ({"renderer": "helm"}, "helm renderer needs release_name"),
        ({"render_timeout": 0}, "must be positive"),
    ],
)
def test_static_arguments_are_checked_when_the_dag_is_built(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        BakeManifestOperator(task_id="bake", source="x", **kwargs)
