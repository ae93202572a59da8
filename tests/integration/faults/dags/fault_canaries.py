"""Canary stages for the fault tests (served as the dags folder of Airflow run as separate processes).

Both analyses run in real time from ``params.start`` (the test passes it in the run's conf) on
sliding windows of one interval, with metrics scraped live (see ``live_canary``).
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_delivery.operators.canary import CanaryAnalysisOperator
from tests.integration.faults.live_canary import (
    INTERVAL,
    OUTAGE_CASE,
    OUTAGE_CONN_ID,
    OUTAGE_DAG,
    OUTAGE_INTERVALS,
    RESTART_CASE,
    RESTART_CONN_ID,
    RESTART_DAG,
    RESTART_INTERVALS,
    SETTLE,
    live_config,
    live_scope,
)

for dag_id, case, conn_id, intervals in (
    (RESTART_DAG, RESTART_CASE, RESTART_CONN_ID, RESTART_INTERVALS),
    (OUTAGE_DAG, OUTAGE_CASE, OUTAGE_CONN_ID, OUTAGE_INTERVALS),
):
    with DAG(dag_id, schedule=None, catchup=False, params={"start": None}, tags=["fault-tests"]) as dag:
        CanaryAnalysisOperator(
            task_id="canary",
            retries=0,
            canary_config=live_config(dag_id),
            scopes=live_scope(case),
            metrics_conn_id=conn_id,
            analysis_start="{{ params.start }}",  # required: the test gives it in the run's conf
            lifetime=INTERVAL * intervals,
            analysis_interval=INTERVAL,
            lookback=INTERVAL,
            settle_delay=SETTLE,
        )
    globals()[dag_id] = dag
