"""Fault injection: make chosen API requests slow, fail, conflict, or drop their watch stream.

Rules are added at start (``Sandbox(faults=[...])``) or at runtime over HTTP (``POST /sandbox/faults``)
so a test in another process can break the API exactly where it wants. A rule matches on any of
method, verb, resource (plural), namespace, name and a path regex; ``times`` limits how many requests it
hits (``None``: every matching request until removed).

Actions:
* ``error``: answer ``status`` (500 by default, 409, 429, 503...) with a real ``Status`` body;
  ``retry_after`` adds a ``Retry-After`` header.
* ``latency``: wait ``delay`` seconds, then serve the request normally.
* ``drop_watch``: serve a watch, then cut the connection without the terminating chunk after
  ``after_events`` events (or after ``delay`` seconds), as a broken proxy or API-server restart does.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Action = Literal["error", "latency", "drop_watch"]
_ACTIONS = ("error", "latency", "drop_watch")
_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class RequestInfo:
    """What a rule can match on."""

    method: str
    path: str
    verb: str
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""


@dataclass
class FaultRule:
    action: Action
    method: str | None = None
    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    path: str | None = None
    """A regular expression searched in the request path."""
    status: int = 500
    message: str | None = None
    delay: float = 0.0
    times: int | None = None
    after_events: int = 0
    retry_after: int | None = None
    id: str = ""
    hits: int = 0
    _path_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"fault action {self.action!r} is not one of {list(_ACTIONS)}")
        if self.verb is not None and self.verb not in _VERBS:
            raise ValueError(f"fault verb {self.verb!r} is not one of {list(_VERBS)}")
        if self.action == "error" and not 400 <= int(self.status) <= 599:
            raise ValueError(f"fault status must be an HTTP error code (400-599), got {self.status!r}")
        if self.delay < 0:
            raise ValueError(f"fault delay must be >= 0 seconds, got {self.delay!r}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"fault times must be >= 1 or null (unlimited), got {self.times!r}")
        if self.action == "drop_watch" and self.verb not in (None, "watch"):
            raise ValueError("a drop_watch fault only applies to watches: leave verb unset or use 'watch'")
        self._path_re = re.compile(self.path) if self.path else None

    def matches(self, request: RequestInfo) -> bool:
        if self.action == "drop_watch" and request.verb != "watch":
            return False
        checks = (
            (self.method, request.method.upper(), lambda a, b: a.upper() == b),
            (self.verb, request.verb, str.__eq__),
            (self.resource, request.resource, str.__eq__),
            (self.namespace, request.namespace, str.__eq__),
            (self.name, request.name, str.__eq__),
        )
        if any(wanted is not None and not same(wanted, actual) for wanted, actual, same in checks):
            return False
        return self._path_re is None or bool(self._path_re.search(request.path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_path_re", None)
        return data


class FaultInjector:
    """The live rule set; thread-safe because every request thread consults it."""

    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        for rule in rules or []:
            self.add(rule)

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """Add a rule from its JSON form; bad fields raise ``ValueError`` naming the field."""
        known = set(FaultRule.__dataclass_fields__) - {"id", "hits", "_path_re"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown fault fields {unknown}; valid fields are {sorted(known)}")
        if "action" not in spec:
            raise ValueError(f"a fault needs an 'action', one of {list(_ACTIONS)}")
        try:
            rule = FaultRule(**spec)
        except re.error as exc:
            raise ValueError(f"fault path {spec.get('path')!r} is not a valid regular expression: {exc}") from exc
        with self._lock:
            rule.id = f"fault-{next(self._ids)}"
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, request: RequestInfo) -> list[FaultRule]:
        """The rules that fire for this request (each counted once; exhausted rules are removed)."""
        fired = []
        with self._lock:
            for rule in list(self._rules):
                if rule.matches(request):
                    rule.hits += 1
                    fired.append(rule)
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
        return fired
