"""Airflow DAGs for the canary stage's ``dag.test()`` tests: one DAG per scenario.

Served as an extra DAG bundle by ``tests/integration/canary/test_canary_stage.py`` (``dag.test()``
only runs DAGs that a configured bundle contains). Each analysis starts at the backfilled data's fixed
past start, so every window is already over and its trigger fires at once; ``min_deferral=0`` makes
each interval a deferral of its own, as in a real-time run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_delivery.operators.canary import CanaryAnalysisOperator
from tests.integration.canary.scenarios import INTERVAL, LIFETIME, T0, canary_config, scope

CONN_ID = "canary_stage_prom"
DOWN_CONN_ID = "canary_stage_prom_down"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _broken_config() -> dict[str, Any]:
    config = canary_config("broken")
    config["metrics"][1]["query"]["customInlineTemplate"] = 'version="${scope}",zone="${zone}"'
    return config


SCENARIOS: dict[str, dict[str, Any]] = {
    "canary_healthy": {"scopes": scope("healthy")},
    "canary_regressed": {"scopes": scope("regressed")},
    "canary_missing": {"scopes": scope("missing")},
    "canary_missing_judge": {"scopes": scope("missing"), "on_missing_data": "judge"},
    "canary_prometheus_down": {"scopes": scope("healthy"), "metrics_conn_id": DOWN_CONN_ID},
    "canary_marginal_fail": {"scopes": scope("marginal")},
    "canary_marginal_continue": {"scopes": scope("marginal"), "on_marginal": "continue"},
    "canary_marginal_ask": {"scopes": scope("marginal"), "on_marginal": "ask"},
    "canary_by_name": {
        "scopes": scope("healthy"),
        "canary_config": "service-health",
        "canary_configs_folder": str(CONFIGS),
        "lifetime": INTERVAL,
        "analysis_interval": None,
    },
    "canary_by_path": {
        "scopes": scope("healthy"),
        "canary_config": str(CONFIGS / "service-health.json"),
        "analysis_start": "{{ params.start }}",
        "lifetime": INTERVAL,
        "analysis_interval": None,
    },
    "canary_broken_config": {"scopes": scope("healthy"), "canary_config": _broken_config()},
    # For a real scheduler and triggerer (test_canary_standalone.py): every window is already over, so
    # the default min_deferral judges them all in one trigger run, which ends the task itself.
    "canary_standalone_pass": {"scopes": scope("healthy"), "min_deferral": 15},
    "canary_standalone_regressed": {"scopes": scope("regressed"), "min_deferral": 15},
    "canary_standalone_marginal_ask": {"scopes": scope("marginal"), "min_deferral": 15, "on_marginal": "ask"},
}


@task
def route(result: dict[str, Any]) -> str:
    """What a later stage does with the canary's result: ask a person, or promote."""
    return "manual-judgment" if result["needs_judgment"] else "promote"


for dag_id, options in SCENARIOS.items():
    arguments: dict[str, Any] = {
        "canary_config": canary_config(),
        "metrics_conn_id": CONN_ID,
        "analysis_start": T0.isoformat(),
        "lifetime": LIFETIME,
        "analysis_interval": INTERVAL,
        "min_deferral": 0,
        **options,
    }
    with DAG(
        dag_id, schedule=None, catchup=False, params={"start": T0.isoformat()}, tags=["canary-tests"]
    ) as dag:
        canary = CanaryAnalysisOperator(task_id="canary", retries=0, **arguments)
        if dag_id == "canary_marginal_ask":
            route.override(task_id="after")(canary.output)
    globals()[dag_id] = dag
