"""Is a local Airflow ready? Its own health endpoint says so once every component heartbeats."""

from __future__ import annotations

import httpx

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def airflow_health(url: str, timeout: float = 2.0) -> dict[str, str]:
    """Component -> status ('healthy', 'unhealthy', or 'unknown' when not reported yet)."""
    response = httpx.get(f"{url}/api/v2/monitor/health", timeout=timeout)
    response.raise_for_status()
    body = response.json()
    return {name: str((body.get(name) or {}).get("status") or "unknown") for name in COMPONENTS}


def airflow_ready(url: str) -> bool:
    try:
        return all(status == "healthy" for status in airflow_health(url).values())
    except httpx.HTTPError:
        return False
