from __future__ import annotations

from airflow_delivery.notifications.messages import pipeline_message, run_url


def test_run_url_escapes_run_ids() -> None:
    assert run_url("http://h:8080/", "shop", "manual__2026-01-01T00:00:00+00:00") == (
        "http://h:8080/dags/shop/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    )


def test_message_names_pipeline_run_stage_artifacts_and_link() -> None:
    text = pipeline_message(
        "failed", pipeline="shop", run_id="r1", url="http://x/dags/shop/runs/r1", stage="deploy",
        artifacts={"shop-api": "v2"},
    )
    assert "stage *deploy* of pipeline *shop* failed (run `r1`)" in text
    assert "`shop-api:v2`" in text
    assert "<http://x/dags/shop/runs/r1|open the run>" in text
