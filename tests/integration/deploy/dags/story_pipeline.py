"""The issue-4 story as a pipeline file (``story/pipeline.yaml``), built by the pipeline factory."""

from __future__ import annotations

from pathlib import Path

from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import load_pipeline_file

deploy_story = build_dag(load_pipeline_file(Path(__file__).parent / "story" / "pipeline.yaml"))
