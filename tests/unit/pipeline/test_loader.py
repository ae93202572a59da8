"""Pipeline files: valid ones parse; each kind of mistake gives an error naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_delivery.pipeline.loader import PipelineFileError, find_pipeline_files, parse_pipeline_text
from airflow_delivery.pipeline.spec import json_schema, parse_duration

GOOD = """\
name: shop
description: deploys the shop
stages:
  - id: soak
    type: wait
    duration: 90s
  - id: soak_more
    type: wait
    duration: 1h30m
    depends_on: [soak]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(text, "pipelines/p.yaml")
    return [str(e) for e in info.value.errors]


def test_valid_pipeline_parses() -> None:
    spec = parse_pipeline_text(GOOD, "p.yaml")
    assert spec.name == "shop"
    assert [s.id for s in spec.stages] == ["soak", "soak_more"]
    assert spec.stages[1].depends_on == ["soak"]


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), (12, 12), ("2h", 7200)]
)
def test_durations(value: str | int, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "soon", "5 minutes", "-3", -1, True])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "pipelines/p.yaml:2: invalid YAML: expected ',' or ']'"),
        ("- just\n- a list\n", "expected a mapping with 'name' and 'stages'"),
        ("name: p\nstages: []\n", "stages: List should have at least 1 item"),
        ("stages:\n  - {id: a, type: wait, duration: 1s}\n", "name: Field required"),
        ("name: p\nstages:\n  - id: a\n    type: wait\n    duraton: 5s\n", "pipelines/p.yaml:5: stages[0].duraton: unknown option"),
        ("name: p\nstages:\n  - id: a\n    type: wait\n", "pipelines/p.yaml:3: stages[0].duration: Field required"),
        ("name: p\nstages:\n  - id: a\n    type: deplyo\n", "stages[0].type: unknown stage type 'deplyo'; expected one of: wait"),
        ("name: p\nstages:\n  - id: a\n    type: wait\n    duration: soon\n", "stages[0].duration: 'soon' is not a duration"),
        ("name: 'bad name'\nstages:\n  - {id: a, type: wait, duration: 1s}\n", "pipelines/p.yaml:1: name: String should match pattern"),
        (
            "name: p\nstages:\n  - {id: a, type: wait, duration: 1s}\n  - {id: a, type: wait, duration: 1s}\n",
            "stages[1].id: duplicate stage id 'a'",
        ),
        (
            "name: p\nstages:\n  - {id: a, type: wait, duration: 1s, depends_on: [b]}\n",
            "stages[0].depends_on: unknown stage 'b'; known stages: a",
        ),
        (
            "name: p\nstages:\n  - {id: a, type: wait, duration: 1s, depends_on: [b]}\n"
            "  - {id: b, type: wait, duration: 1s, depends_on: [a]}\n",
            "depends_on forms a cycle",
        ),
        ("name: p\nstages:\n  - {id: a, type: wait, duration: 1s, timeout: later}\n", "stages[0].timeout"),
        ("name: p\nnotifications:\n  - {type: slack}\nstages:\n  - {id: a, type: wait, duration: 1s}\n", "notifications[0].channel: Field required"),
        ("name: p\nstages:\n  - {id: a, type: wait, duration: !!python/name:os.system 1s}\n", "invalid YAML"),
    ],
)
def test_each_mistake_has_its_own_clear_error(text: str, expected: str) -> None:
    assert any(expected in e for e in errors_of(text)), errors_of(text)


def test_all_errors_of_a_file_are_reported_together() -> None:
    errors = errors_of("name: p\nstages:\n  - id: a\n    type: wait\n    duraton: 5s\n  - id: b\n    type: nope\n")
    assert len(errors) == 3


def test_find_pipeline_files_is_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", ".hidden.yaml", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "c.yaml").write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_pipeline_files(tmp_path)] == ["a.yml", "b.yaml", "team/c.yaml"]


def test_json_schema_describes_stage_types() -> None:
    schema = json_schema()
    assert schema["title"] == "Airflow Delivery pipeline"
    assert "WaitStage" in schema["$defs"]
