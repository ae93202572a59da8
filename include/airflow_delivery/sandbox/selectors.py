"""Label and field selectors, parsed once and matched against objects.

Label selector grammar (as ``kubectl -l`` and the API accept it): ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist), joined by commas.
Field selectors accept ``path=v``, ``path==v`` and ``path!=v`` on any dotted path (``metadata.name``,
``status.phase``, ``involvedObject.uid``); a real server only supports a fixed list per resource, the
sandbox is more permissive (documented in README.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_delivery.sandbox.errors import BadRequest

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    """One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "=":
            return present and value in self.values
        if self.operator == "!=":
            return not present or value not in self.values
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        return not present  # "!"


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( ... )``."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_SET_EXPR = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a label selector string; a malformed one is a 400 quoting the bad part."""
    if not text:
        return LabelSelector()
    requirements = []
    for part in _split_top_level(text):
        requirements.append(_parse_requirement(part, text))
    return LabelSelector(tuple(requirements))


def _parse_requirement(part: str, whole: str) -> Requirement:
    set_match = _SET_EXPR.match(part)
    if set_match:
        values = frozenset(v.strip() for v in set_match.group("values").split(",") if v.strip())
        return Requirement(_check_key(set_match.group("key"), whole), set_match.group("op"), values)
    for op in ("!=", "==", "="):
        if op in part:
            key, _, value = part.partition(op)
            return Requirement(_check_key(key.strip(), whole), "!=" if op == "!=" else "=", frozenset({value.strip()}))
    if part.startswith("!"):
        return Requirement(_check_key(part[1:].strip(), whole), "!")
    return Requirement(_check_key(part, whole), "exists")


def _check_key(key: str, whole: str) -> str:
    if not _LABEL_KEY.match(key):
        raise BadRequest(f"unable to parse requirement: invalid label key {key!r} in selector {whole!r}")
    return key


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (matchLabels + matchExpressions) as a ``LabelSelector``.

    An empty or missing selector selects nothing here (controllers must never adopt everything).
    """
    if not spec:
        return LabelSelector((Requirement("__sandbox_nothing__", "exists"),))
    requirements = [Requirement(k, "=", frozenset({str(v)})) for k, v in (spec.get("matchLabels") or {}).items()]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in spec.get("matchExpressions") or []:
        op = operators.get(expr.get("operator", ""))
        if op is None:
            raise BadRequest(f"invalid matchExpressions operator {expr.get('operator')!r}; valid: {sorted(operators)}")
        requirements.append(Requirement(expr["key"], op, frozenset(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


def selector_to_string(spec: Mapping[str, Any] | None) -> str:
    """Render a ``metav1.LabelSelector`` as the string form (the Scale sub-resource reports this)."""
    if not spec:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((spec.get("matchLabels") or {}).items())]
    for expr in spec.get("matchExpressions") or []:
        op = expr.get("operator")
        values = ",".join(sorted(expr.get("values") or ()))
        if op == "In":
            parts.append(f"{expr['key']} in ({values})")
        elif op == "NotIn":
            parts.append(f"{expr['key']} notin ({values})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append(f"!{expr['key']}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    negate: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        current: Any = obj
        for step in self.path:
            current = current.get(step) if isinstance(current, Mapping) else None
        actual = "" if current is None else (str(current).lower() if isinstance(current, bool) else str(current))
        return (actual != self.value) if self.negate else (actual == self.value)


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)


def parse_field_selector(text: str | None) -> FieldSelector:
    if not text:
        return FieldSelector()
    requirements = []
    for part in _split_top_level(text):
        for op in ("!=", "==", "="):
            if op in part:
                path, _, value = part.partition(op)
                requirements.append(FieldRequirement(tuple(path.strip().split(".")), op == "!=", value.strip()))
                break
        else:
            raise BadRequest(f"invalid field selector {part!r} in {text!r}: expected path=value or path!=value")
    return FieldSelector(tuple(requirements))


def object_matcher(label_selector: str | None, field_selector: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """One predicate for both selectors (list and watch filter with it)."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector)

    def matches(obj: Mapping[str, Any]) -> bool:
        return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)

    return matches
