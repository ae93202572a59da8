"""Airflow DAG loader: builds one DAG per delivery pipeline file under dags/pipelines/.

Edit the YAML files, not this file. A broken pipeline file shows up as an Airflow import error for
that file; every other pipeline still loads.
"""

from pathlib import Path

from airflow_delivery.pipeline.dags import build_pipeline_dags

build_pipeline_dags(Path(__file__).parent / "pipelines", globals())
