"""Stage conditions (``when``): sandboxed expressions over parameters, artifacts and earlier results.

Pure (Jinja2 only). An expression is checked when the pipeline file is read (syntax, and that every
parameter, artifact and stage it names exists), then evaluated when the stage starts. It must yield
exactly true or false: anything else is an error, never a silent skip (Spinnaker skips with a warning,
which hides typos). The sandbox forbids attribute access to internals, so a parameter value cannot
execute code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT_NAMES = ("params", "artifacts", "stages", "run")

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined)


class ConditionError(ValueError):
    """A condition that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class References:
    params: frozenset[str]
    artifacts: frozenset[str]
    stages: frozenset[str]


def _parse(expression: str) -> nodes.Expr:
    try:
        return _ENV.parse("{{ " + expression + " }}").body[0].nodes[0]  # type: ignore[attr-defined,no-any-return]
    except TemplateSyntaxError as exc:
        raise ConditionError(f"invalid expression {expression!r}: {exc.message}") from None


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def references(expression: str) -> References:
    """Which parameters, artifacts and stages an expression names; unknown root names are an error."""
    tree = _parse(expression)
    found: dict[str, set[str]] = {"params": set(), "artifacts": set(), "stages": set()}
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in ROOT_NAMES:
            raise ConditionError(
                f"unknown name {node.name!r} in {expression!r}; use one of: {', '.join(ROOT_NAMES)}"
            )
        target: str | None = None
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            target = node.attr
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            target = node.arg.value
        if target is not None and node.node.name in found:  # type: ignore[attr-defined]
            found[node.node.name].add(target)  # type: ignore[attr-defined]
    return References(*(frozenset(found[k]) for k in ("params", "artifacts", "stages")))


def check(expression: str, *, params: set[str], artifacts: set[str], stages: set[str]) -> None:
    """Raise ``ConditionError`` if the expression names a parameter, artifact or stage that does not exist."""
    refs = references(expression)
    for kind, used, known in (
        ("parameter", refs.params, params),
        ("artifact", refs.artifacts, artifacts),
        ("stage", refs.stages, stages),
    ):
        for name in sorted(used - known):
            listed = ", ".join(sorted(known)) or "none"
            raise ConditionError(f"{expression!r} names undefined {kind} {name!r}; defined: {listed}")


class LazyResults(Mapping[str, Any]):
    """Earlier stages' results, fetched only when an expression reads them."""

    def __init__(self, stage_ids: set[str], fetch: Callable[[str], Any]) -> None:
        self._ids = stage_ids
        self._fetch = fetch
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._ids:
            raise KeyError(key)
        if key not in self._cache:
            self._cache[key] = self._fetch(key)
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ids))

    def __len__(self) -> int:
        return len(self._ids)


def evaluate(expression: str, namespace: Mapping[str, Any]) -> bool:
    """Evaluate to a bool, or raise ``ConditionError`` naming what went wrong."""
    try:
        value = _ENV.compile_expression(expression, undefined_to_none=False)(**namespace)
    except ConditionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a user expression becomes one clear error
        raise ConditionError(f"cannot evaluate {expression!r}: {type(exc).__name__}: {exc}") from None
    if not isinstance(value, bool):
        raise ConditionError(f"{expression!r} gave {value!r}, not true or false; compare explicitly")
    return value
