"""Read pipeline files into specs, with errors that name the file, the line and the field.

Pure (PyYAML and pydantic only). A YAML node's line is kept for every mapping so a validation error
on ``stages[2].duration`` can point at the line the author has to edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from airflow_delivery.pipeline.spec import PipelineSpec

PIPELINE_SUFFIXES = (".yaml", ".yml")
# Model-level validators put the field path first: "stages[1].depends_on: unknown stage 'x'".
_FIELD_PREFIX = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*):\s")


@dataclass(frozen=True)
class PipelineError:
    """One problem in one pipeline file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class PipelineFileError(ValueError):
    """A pipeline file that cannot be used; carries every error found in it."""

    def __init__(self, path: str, errors: list[PipelineError]) -> None:
        self.path = path
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class LoadedPipeline:
    path: Path
    spec: PipelineSpec


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and its keys (no Python tags, ever)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
    mapping = _LineDict(loader.construct_mapping(node, deep=deep))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
    return mapping


class _LineDict(dict):  # type: ignore[type-arg]
    line: int = 0
    key_lines: dict[str, int]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]


def _line_of(document: Any, loc: Iterable[str | int]) -> int | None:
    """The line of the deepest node on ``loc`` that still exists in the document."""
    node, line = document, getattr(document, "line", None)
    for part in loc:
        if isinstance(node, _LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def _field_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(document: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the union tag pydantic inserts into locations (``stages[0].wait.duration``).

    A location part is such a tag when the document node at that point is a mapping whose ``type``
    equals the part and which has no key of that name.
    """
    cleaned: list[str | int] = []
    node = document
    previous: str | int | None = None
    for part in loc:
        # The tag directly follows a list index (stages[0].<tag>.field), even when the stage also has
        # an option named like its type.
        if (
            isinstance(node, dict)
            and isinstance(part, str)
            and isinstance(previous, int)
            and node.get("type") == part
        ):
            previous = part
            continue
        previous = part
        cleaned.append(part)
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(cleaned)


def _fast_load(text: str) -> Any:
    """libyaml's C parser: ten times faster than PyYAML's own, and as safe (no Python tags)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader


def parse_pipeline_text(text: str, path: str) -> PipelineSpec:
    """Parse and validate one pipeline document; raise ``PipelineFileError`` listing every problem.

    The fast C parser reads every file; only a file with mistakes is read again with the slower
    line-tracking parser, so errors can point at lines without slowing down the valid majority.
    """
    try:
        document = _fast_load(text)
    except yaml.YAMLError:
        document = None
    if isinstance(document, dict):
        try:
            return PipelineSpec.model_validate(document)
        except ValidationError:
            pass
    return _parse_with_lines(text, path)


def _parse_with_lines(text: str, path: str) -> PipelineSpec:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineFileError(path, [PipelineError(path, line, "", f"invalid YAML: {problem}")]) from exc
    if not isinstance(document, dict):
        raise PipelineFileError(
            path, [PipelineError(path, 1, "", "expected a mapping with 'name' and 'stages' at the top level")]
        )
    try:
        return PipelineSpec.model_validate(document)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = _clean_loc(document, tuple(err["loc"]))
            message = err["msg"].removeprefix("Value error, ")
            # Graph errors raised by the model validator carry their own field path in the message.
            field = _field_path(loc)
            if not loc and (match := _FIELD_PREFIX.match(message)):
                field, message = match.group(1), message[match.end() :].strip()
            if err["type"] == "union_tag_invalid":
                expected = str(err.get("ctx", {}).get("expected_tags", "")).replace("'", "")
                kind = "stage type" if loc and loc[0] == "stages" else "type"
                message = f"unknown {kind} {err['input'].get('type')!r}; expected one of: {expected}"
                field = _field_path(loc) + ".type"
            elif err["type"] == "union_tag_not_found":
                kind = "stage" if loc and loc[0] == "stages" else "entry"
                message = f"this {kind} has no 'type'; add one, e.g. 'type: wait'"
                field = _field_path(loc) + ".type"
            elif err["type"] == "extra_forbidden":
                message = "unknown option; check the spelling or see `airflow-delivery schema`"
            errors.append(PipelineError(path, _line_of(document, loc), field, message))
        raise PipelineFileError(path, errors) from None


def load_pipeline_file(path: Path) -> PipelineSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineFileError(str(path), [PipelineError(str(path), None, "", f"cannot read file: {exc}")]) from exc
    return parse_pipeline_text(text, str(path))


def find_pipeline_files(folder: Path) -> Iterator[Path]:
    """Pipeline files under ``folder``, sorted so DAG order is stable between parses."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.suffix in PIPELINE_SUFFIXES and path.is_file() and not path.name.startswith("."):
            yield path
