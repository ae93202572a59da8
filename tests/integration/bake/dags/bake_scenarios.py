"""Bake scenarios for ``dag.test()``: jinja (values files, templated overrides from params), kustomize,
Secrets refused or dropped, and a downstream task that reads the baked artifact from XCom."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_delivery.operators.bake import BakeManifestOperator

DATA = Path(__file__).resolve().parents[3] / "data" / "manifests"
START = datetime(2024, 1, 1, tzinfo=UTC)


@task
def summarise(baked: dict[str, Any]) -> dict[str, Any]:
    """What a deploy stage would read: kinds, images and the hash it must apply."""
    images = [
        c["image"]
        for m in baked["manifests"]
        if m["kind"] == "Deployment"
        for c in m["spec"]["template"]["spec"]["containers"]
    ]
    return {"hash": baked["hash"], "kinds": [m["kind"] for m in baked["manifests"]], "images": images}


with DAG("bake_jinja", schedule=None, start_date=START, catchup=False, params={"tag": "v1", "note": "plain"}):
    baked = BakeManifestOperator(
        task_id="bake",
        # Relative to this DAG file's folder.
        source="../../../data/manifests/jinja/app",
        values_files=[str(DATA / "jinja" / "values.yaml")],
        values={"description": "{{ params.note }}"},
        overrides={"image.tag": "{{ params.tag }}", "replicas": 4},
    )
    summarise(baked.output)

with DAG("bake_kustomize", schedule=None, start_date=START, catchup=False):
    BakeManifestOperator(
        task_id="bake", renderer="kustomize", source=str(DATA / "kustomize" / "overlays" / "prod")
    )

with DAG("bake_secret_refused", schedule=None, start_date=START, catchup=False):
    BakeManifestOperator(
        task_id="bake",
        source=str(DATA / "jinja" / "secret"),
        values={"name": "api", "password": "hunter2-secret"},
    )

with DAG("bake_secret_dropped", schedule=None, start_date=START, catchup=False):
    BakeManifestOperator(
        task_id="bake",
        source=str(DATA / "jinja" / "secret"),
        values={"name": "api", "password": "hunter2-secret"},
        secrets="drop",
    )
