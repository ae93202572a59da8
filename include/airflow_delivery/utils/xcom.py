"""Read a stage's result (its ``return_value`` XCom) the same way whichever process finished it.

Airflow 3.3 stores XComs pushed by a trigger's end event (``TaskSuccessEvent(xcoms=...)``) JSON-encoded
once more than XComs pushed by a task, and the Task Execution API hands tasks the stored value as it is,
so a stage that ended in the triggerer (see ``utils.deferral``) reads back as a JSON string. Every reader
of stage results goes through :func:`stage_result`, which undoes that extra encoding.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import pass_context


def decode_result(value: Any) -> Any:
    """The value a stage returned, undoing the triggerer's extra JSON encoding when present."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def stage_result(ti: Any, stage_id: str) -> Any:
    return decode_result(ti.xcom_pull(task_ids=stage_id))


@pass_context
def stage_result_macro(context: Any, stage_id: str) -> Any:
    """``{{ stage_result('canary').score }}`` in any templated stage option."""
    return stage_result(context["ti"], stage_id)
