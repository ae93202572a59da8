"""Parameters, expected artifacts, triggers and concurrency in the spec, and their Airflow mapping."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import ParamValidationError

from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text
from airflow_delivery.pipeline.params import Parameter, validate_run_parameters

STAGES = "stages:\n  - {id: a, type: wait, duration: 1s}\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(text, "p.yaml")
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("triggers:\n  - {type: schedule, cron: '61 * * * *'}\n", "triggers[0].cron: '61 * * * *' is not a valid"),
        ("triggers:\n  - {type: schedule, cron: '@daily'}\n", "is not a valid five-field cron"),
        ("triggers:\n  - {type: schedule, cron: '0 2 * * *', timezone: Mars/Base}\n", "unknown time zone 'Mars/Base'"),
        ("triggers:\n  - {type: registry, repository: a, tag: 'v(\\d'}\n", "triggers[0].tag: invalid regex"),
        ("triggers:\n  - {type: webhook}\n", "triggers[0]"),
        ("parameters:\n  - {name: env, options: [a, b], default: c}\n", "default 'c' is not one of the options"),
        ("parameters:\n  - {name: n, type: integer, default: 'x'}\n", "default 'x' is not of type integer"),
        ("parameters:\n  - {name: n}\n  - {name: n}\n", "parameters[1].name: duplicate name 'n'"),
        ("parameters:\n  - {name: n, type: integer, pattern: 'x'}\n", "pattern only applies to string"),
        ("artifacts:\n  - {name: api, repository: r, tag: 'v\\d+', default: latest}\n", "does not match the tag pattern"),
        ("artifacts:\n  - {name: api, repository: r}\n  - {name: api, repository: s}\n", "artifacts[1].name: duplicate"),
        ("concurrency: {max_active_runs: 0}\n", "concurrency.max_active_runs"),
    ],
)
def test_pipeline_level_mistakes(body: str, expected: str) -> None:
    errors = errors_of(f"name: p\n{body}{STAGES}")
    assert any(expected in e for e in errors), errors


def test_run_parameters_are_validated_with_every_problem_listed() -> None:
    params = [
        Parameter(name="env", options=["staging", "production"], required=True),
        Parameter(name="replicas", type="integer", default=2),
        Parameter(name="branch", pattern="[a-z-]+"),
    ]
    assert validate_run_parameters(params, {"env": "staging"}) == {"env": "staging", "replicas": 2, "branch": None}
    with pytest.raises(ValueError) as info:
        validate_run_parameters(params, {"env": "qa", "replicas": True, "branch": "Main!", "extra": 1})
    message = str(info.value)
    for part in ("unknown parameter 'extra'", "'env' must be one of", "'replicas' must be a integer", "'branch' must match"):
        assert part in message
    with pytest.raises(ValueError, match="'env' is required"):
        validate_run_parameters(params, {})


def test_factory_maps_parameters_schedule_and_concurrency() -> None:
    from airflow_delivery.pipeline.factory import build_dag

    spec = parse_pipeline_text(
        "name: p\n"
        "triggers:\n  - {type: schedule, cron: '0 2 * * 1-5', timezone: Europe/Paris}\n"
        "parameters:\n  - {name: env, options: [staging, production], default: staging, required: true}\n"
        "artifacts:\n  - {name: api, repository: registry.example.com/team/api}\n"
        "concurrency: {max_active_runs: 2}\n" + STAGES,
        "p.yaml",
    )
    dag = build_dag(spec)
    assert dag.max_active_runs == 2
    assert dag.catchup is False
    assert dag.timetable.expression == "0 2 * * 1-5"
    assert str(dag.timetable.timezone) in ("Europe/Paris", "Timezone('Europe/Paris')")
    assert dag.params.dump() == {"env": "staging", "artifacts": {}}
    with pytest.raises(ParamValidationError, match="'qa' is not one of"):
        dag.params["env"] = "qa"
    dag.params["artifacts"] = {"api": "v2"}
    with pytest.raises(ParamValidationError, match="other"):
        dag.params["artifacts"] = {"other": "v2"}


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ("  - {id: a, type: wait, duration: 1s, when: 'params.nope == 1'}\n", "undefined parameter 'nope'"),
        ("  - {id: a, type: wait, duration: 1s, when: \"artifacts['x'] == 'v1'\"}\n", "undefined artifact 'x'"),
        ("  - {id: a, type: wait, duration: 1s, when: 'stages.b.score > 1'}\n  - {id: b, type: wait, duration: 1s}\n",
         "undefined stage 'b'"),
        ("  - {id: a, type: wait, duration: 1s, when: 'os.system(1)'}\n", "unknown name 'os'"),
        ("  - {id: a, type: wait, duration: 1s, when: 'params.x >'}\n", "invalid expression"),
        ("  - {id: a, type: wait, duration: 1s, on_failure: rollback}\n", "no 'rollback' stages are listed"),
        ("  - {id: a, type: wait, duration: 1s, rollback: [a]}\n", "on_failure is not 'rollback'"),
        ("  - {id: a, type: wait, duration: 1s, on_failure: rollback, rollback: [zz]}\n", "rollback: unknown stage 'zz'"),
        ("  - {id: a, type: wait, duration: 1s}\n  - {id: b, type: wait, duration: 1s, depends_on: [a],"
         " on_failure: rollback, rollback: [a]}\n", "'a' runs before 'b'"),
        ("  - {id: a, type: wait, duration: 1s, on_failure: retry}\n", "stages[0].on_failure"),
    ],
)
def test_condition_and_failure_mistakes(stages: str, expected: str) -> None:
    errors = errors_of(f"name: p\nparameters:\n  - {{name: env}}\nstages:\n{stages}")
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("triggers:\n  - {type: registry, repository: team/api}\n", "name the expected artifact"),
        ("artifacts:\n  - {name: api, repository: r/api}\n  - {name: web, repository: r/web}\n"
         "triggers:\n  - {type: registry, repository: team/api}\n", "the pipeline declares 2: api, web"),
        ("artifacts:\n  - {name: api, repository: r/api}\ntriggers:\n  - {type: registry, repository: a, artifact: web}\n",
         "unknown artifact 'web'"),
    ],
)
def test_registry_triggers_must_bind_an_expected_artifact(body: str, expected: str) -> None:
    errors = errors_of(f"name: p\n{body}{STAGES}")
    assert any(expected in e for e in errors), errors


def test_registry_trigger_becomes_a_watched_asset_alongside_a_schedule() -> None:
    from airflow.sdk import AssetOrTimeSchedule

    from airflow_delivery.pipeline.factory import build_dag
    from airflow_delivery.triggers.registry import NewImageTagTrigger

    spec = parse_pipeline_text(
        "name: tagged\nartifacts:\n  - {name: api, repository: 127.0.0.1:5000/team/api}\n"
        "triggers:\n  - {type: registry, repository: team/api, tag: 'v.*', poll_interval: 5}\n"
        "  - {type: schedule, cron: '0 2 * * *'}\n" + STAGES,
        "p.yaml",
    )
    timetable = build_dag(spec).timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    (asset,) = timetable.asset_condition.objects
    assert asset.name == "delivery.tagged.image.api"
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, NewImageTagTrigger)
    assert watcher.trigger.serialize()[1]["tag_pattern"] == "v.*"
    assert watcher.trigger.serialize()[1]["poll_interval"] == 5


def test_git_trigger_becomes_a_watched_asset() -> None:
    from airflow_delivery.pipeline.factory import build_dag
    from airflow_delivery.triggers.git import GitCommitTrigger

    spec = parse_pipeline_text(
        "name: gitty\ntriggers:\n  - {type: git, remote: /srv/app.git, branch: release}\n" + STAGES, "p.yaml"
    )
    (asset,) = build_dag(spec).timetable.asset_condition.objects
    assert asset.name == "delivery.git.gitty.release"
    assert isinstance(asset.watchers[0].trigger, GitCommitTrigger)
