"""Turn pipeline specs into Airflow DAGs: the one place that instantiates operators.

Stage builders are registered per stage type; an unknown type is an error listing the known ones
(never a silent fallback). Each stage becomes one task whose task id is the stage id, so the Airflow
graph reads like the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_delivery.pipeline.runtime import GIT_ASSET_PREFIX, StageCondition, image_asset_name
from airflow_delivery.pipeline.model import StageNotification
from airflow_delivery.pipeline.spec import PipelineSpec, StageBase, parse_duration
from airflow_delivery.pipeline.stages import STAGE_BUILDERS
from airflow_delivery.utils.xcom import stage_result_macro

StageBuilder = Callable[[Any, dict[str, Any]], BaseOperator]

# A fixed start date: pipelines are triggered (tags, API, schedule), never back-filled.
_START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _stage_builder(stage_type: str) -> StageBuilder:
    try:
        return STAGE_BUILDERS[stage_type]
    except KeyError:
        raise ValueError(
            f"no builder for stage type {stage_type!r}; known types: {', '.join(sorted(STAGE_BUILDERS))}"
        ) from None


def _notifiers(spec: PipelineSpec, event: str) -> list[Any]:
    if not spec.notifications:
        return []  # the Slack provider is a heavy import: only pay for it when a pipeline notifies
    from airflow_delivery.notifications.slack import DeliverySlackNotifier

    return [
        DeliverySlackNotifier(event=event, slack_conn_id=target.connection, channel=target.channel)  # type: ignore[arg-type]
        for target in spec.notifications
        if event in target.when
    ]


_STAGE_CALLBACKS = {
    "starting": "on_execute_callback",
    "complete": "on_success_callback",
    "failed": "on_failure_callback",
}


def _stage_notifiers(stage: StageBase) -> dict[str, list[Any]]:
    """Stage-level Slack notifiers as task callbacks (they run in the worker, or for a task that
    ended in the triggerer, in the dag-processor)."""
    targets = [t for t in stage.notifications if isinstance(t, StageNotification)]
    if not targets:
        return {}
    from airflow_delivery.notifications.slack import DeliverySlackNotifier

    callbacks: dict[str, list[Any]] = {}
    for target in targets:
        for event in target.when:
            callbacks.setdefault(_STAGE_CALLBACKS[event], []).append(
                DeliverySlackNotifier(
                    event=event, channel=target.channel, slack_conn_id=target.connection, stage_level=True
                )
            )
    return callbacks


def _common_task_args(stage: StageBase) -> dict[str, Any]:
    args: dict[str, Any] = {"task_id": stage.id, **_stage_notifiers(stage)}
    if stage.timeout is not None:
        args["execution_timeout"] = parse_duration(stage.timeout)
    return args


def _params(spec: PipelineSpec) -> dict[str, Any]:
    """Parameters as Airflow Params: the trigger form, and validation before any stage runs."""
    from airflow.sdk import Param

    params: dict[str, Any] = {
        p.name: Param(p.default, description=p.description, **p.json_schema()) for p in spec.parameters
    }
    if spec.artifacts:
        # Explicit artifacts for manual and API runs: {"artifacts": {"api": "v2"}}.
        names = [a.name for a in spec.artifacts]
        params["artifacts"] = Param(
            {},
            type="object",
            description=f"Artifacts to deploy, by name ({', '.join(names)}): tag or digest.",
            propertyNames={"enum": names},
            additionalProperties={"type": "string", "minLength": 1},
        )
    return params


def _timetable(spec: PipelineSpec) -> Any:
    from airflow.sdk import CronTriggerTimetable, MultipleCronTriggerTimetable

    crons = [t for t in spec.triggers if t.type == "schedule"]
    if not crons:
        return None
    if len(crons) == 1:
        return CronTriggerTimetable(crons[0].cron, timezone=crons[0].timezone)
    zones = {t.timezone for t in crons}
    if len(zones) > 1:
        raise ValueError(f"schedule triggers of one pipeline must share a time zone, got {sorted(zones)}")
    return MultipleCronTriggerTimetable(*(t.cron for t in crons), timezone=crons[0].timezone)


def _watched_assets(spec: PipelineSpec) -> list[Any]:
    """One asset per registry trigger, watched by a tag-polling trigger in the triggerer.

    The asset's name carries the expected artifact the new tag binds to (see ``runtime.run_artifacts``).
    """
    from airflow.sdk import Asset, AssetWatcher

    from airflow_delivery.triggers.registry import NewImageTagTrigger

    from airflow_delivery.triggers.git import GitCommitTrigger

    assets = []
    for trigger in spec.triggers:
        if trigger.type == "git":
            commits = GitCommitTrigger(
                remote=trigger.remote, branch=trigger.branch, poll_interval=trigger.poll_interval
            )
            assets.append(
                Asset(
                    name=f"{GIT_ASSET_PREFIX}{spec.name}.{trigger.branch}",
                    uri=f"x-delivery-git://{spec.name}/{trigger.branch}",
                    group="delivery",
                    watchers=[AssetWatcher(name=f"{spec.name}.{trigger.branch}.commits", trigger=commits)],
                )
            )
        if trigger.type != "registry":
            continue
        artifact = trigger.artifact or spec.artifacts[0].name
        watcher = NewImageTagTrigger(
            repository=trigger.repository,
            registry_conn_id=trigger.connection,
            tag_pattern=trigger.tag,
            order_by=trigger.order,
            poll_interval=trigger.poll_interval,
        )
        assets.append(
            Asset(
                name=image_asset_name(spec.name, artifact),
                uri=f"x-delivery-image://{trigger.connection}/{spec.name}/{trigger.repository}",
                group="delivery",
                watchers=[AssetWatcher(name=f"{spec.name}.{artifact}.tags", trigger=watcher)],
            )
        )
    return assets


def _upstream_assets(spec: PipelineSpec) -> list[Any]:
    """The assets of the upstream pipelines this one runs after (``{type: pipeline}`` triggers)."""
    from airflow_delivery.pipeline.publish import pipeline_asset

    return [pipeline_asset(t.pipeline) for t in spec.triggers if t.type == "pipeline"]


def _schedule(spec: PipelineSpec) -> Any:
    timetable = _timetable(spec)
    assets = _watched_assets(spec) if any(t.type in ("registry", "git") for t in spec.triggers) else []
    if any(t.type == "pipeline" for t in spec.triggers):
        assets.extend(_upstream_assets(spec))
    if not assets:
        return timetable
    from airflow.sdk import AssetAny, AssetOrTimeSchedule

    watched = AssetAny(*assets)
    return AssetOrTimeSchedule(timetable=timetable, assets=watched) if timetable is not None else watched


def _ancestor_map(spec: PipelineSpec) -> dict[str, set[str]]:
    from airflow_delivery.pipeline.spec import stage_ancestors

    graph = {stage.id: list(stage.depends_on) for stage in spec.stages}
    return {stage.id: stage_ancestors(graph, stage.id) for stage in spec.stages}


def _trigger_rule(stage: StageBase, by_id: dict[str, StageBase], rollback_ids: set[str]) -> str:
    """How a stage's upstream outcomes gate it, from the upstream stages' ``when`` and ``on_failure``.

    - a rollback stage runs only when a stage it rolls back failed (``one_failed``); when nothing
      failed it is skipped, so a successful run shows its rollback stages as skipped;
    - after a ``continue`` stage, later stages run whatever its outcome (``all_done``);
    - after a stage whose ``when`` was false (skipped), later stages still run (``none_failed``);
    - a join of several stages runs when none failed and at least one ran, so a join after a
      manual-judgment branch runs for the chosen branch (``none_failed_min_one_success``).
    """
    if stage.id in rollback_ids:
        return "one_failed"
    upstream = [by_id[dep] for dep in stage.depends_on]
    if any(up.on_failure == "continue" for up in upstream):
        return "all_done"
    if len(upstream) > 1:
        return "none_failed_min_one_success"
    if upstream and upstream[0].when is not None:
        return "none_failed"
    return "all_success"


def _add_publish_task(spec: PipelineSpec, tasks: dict[str, BaseOperator], rollback_ids: set[str]) -> None:
    """A final ``publish`` task fed by every leaf stage (rollback stages excepted): see operators/publish.py
    for why it is a task of its own. It becomes the run's only leaf, so it fails (upstream failed)
    exactly when a leaf stage failed, and the run's outcome is unchanged."""
    from airflow_delivery.operators.publish import PublishOperator

    has_downstream = {dep for stage in spec.stages for dep in stage.depends_on}
    leaves = [s.id for s in spec.stages if s.id not in has_downstream and s.id not in rollback_ids]
    publish = PublishOperator(pipeline=spec.name, trigger_rule="none_failed_min_one_success")
    for leaf in leaves:
        tasks[leaf] >> publish


def build_dag(spec: PipelineSpec, *, fileloc: str | None = None) -> DAG:
    """Build the DAG of one pipeline. Touches no network, database or Variable (parse-time safe)."""
    dag = DAG(
        dag_id=spec.name,
        description=spec.description,
        schedule=_schedule(spec),
        start_date=_START_DATE,
        catchup=False,
        max_active_runs=spec.concurrency.max_active_runs,
        params=_params(spec),
        tags=sorted({"delivery", *spec.tags}),
        default_args={"owner": ",".join(spec.owners)},
        on_success_callback=_notifiers(spec, "complete") or None,
        on_failure_callback=_notifiers(spec, "failed") or None,
        doc_md=spec.description,
        user_defined_macros={"stage_result": stage_result_macro},
    )
    if fileloc:
        dag.fileloc = fileloc
    tasks: dict[str, BaseOperator] = {}
    ancestors = _ancestor_map(spec)
    with dag:
        for stage in spec.stages:
            args = _common_task_args(stage)
            args["pipeline"] = spec
            if stage.when is not None:
                args["pre_execute"] = StageCondition(stage.id, stage.when, tuple(sorted(ancestors[stage.id])))
            tasks[stage.id] = _stage_builder(stage.type)(stage, args)  # type: ignore[attr-defined]
        windows: dict[str, BaseOperator] = {}
        for stage in spec.stages:
            if stage.window is not None:
                from airflow_delivery.operators.wait import ExecutionWindowOperator

                windows[stage.id] = ExecutionWindowOperator(
                    task_id=f"{stage.id}__window", window=stage.window.model_dump(), stage_id=stage.id
                )
                windows[stage.id] >> tasks[stage.id]
        for stage in spec.stages:
            # A window task stands between a stage and its dependencies, so the stage starts in its window.
            entry = windows.get(stage.id, tasks[stage.id])
            for dep in stage.depends_on:
                tasks[dep] >> entry
        for stage in spec.stages:
            for target in stage.rollback:
                tasks[stage.id] >> tasks[target]
        rollback_ids = {target for stage in spec.stages for target in stage.rollback}
        by_id = {stage.id: stage for stage in spec.stages}
        for stage in spec.stages:
            task = windows.get(stage.id, tasks[stage.id])
            if stage.id in rollback_ids:
                # A rollback stage must not decide the run's outcome: Airflow judges a run by its leaf
                # tasks and ignores teardowns, so the failed stage it rolled back still fails the run.
                task.is_teardown = tasks[stage.id].is_teardown = True
            task.trigger_rule = _trigger_rule(stage, by_id, rollback_ids)
        if spec.publish:
            _add_publish_task(spec, tasks, rollback_ids)
    starting = _notifiers(spec, "starting")
    if starting:
        # DAGs have no "run started" callback; the first root stage announces the run once.
        first_root = next(s.id for s in spec.stages if not s.depends_on)
        tasks[first_root].on_execute_callback = [*starting, *tasks[first_root].on_execute_callback]
    return dag
