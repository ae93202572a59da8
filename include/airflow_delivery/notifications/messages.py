"""Texts of delivery notifications. Pure: the same words go to Slack, the UI and tests.

Messages never carry parameter values or connection fields: only names, states, artifacts and a link,
so a secret passed as a run parameter cannot leak into a channel.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

PipelineEvent = Literal["starting", "complete", "failed", "judgment", "decided"]

_ICONS: dict[str, str] = {
    "starting": ":arrow_forward:",
    "complete": ":white_check_mark:",
    "failed": ":red_circle:",
    "judgment": ":raised_hand:",
    "decided": ":ballot_box_with_check:",
}


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def pipeline_message(
    event: PipelineEvent,
    *,
    pipeline: str,
    run_id: str,
    url: str,
    stage: str | None = None,
    artifacts: dict[str, str] | None = None,
    detail: str | None = None,
) -> str:
    what = {
        "starting": "starting",
        "complete": "complete",
        "failed": "failed",
        "judgment": "is waiting for a judgment",
        "decided": "judgment given",
    }[event]
    subject = f"stage *{stage}* of pipeline *{pipeline}*" if stage else f"pipeline *{pipeline}*"
    lines = [f"{_ICONS[event]} {subject} {what} (run `{run_id}`)"]
    if artifacts:
        lines.append("artifacts: " + ", ".join(f"`{name}:{ref}`" for name, ref in sorted(artifacts.items())))
    if detail:
        lines.append(detail)
    lines.append(f"<{url}|open the run>")
    return "\n".join(lines)
