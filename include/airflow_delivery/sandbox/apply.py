"""Field ownership (``metadata.managedFields``) and server-side apply.

A simplified version of Kubernetes' structured-merge-diff:

* An object's fields are paths such as ``("f:spec", "f:template", ..., 'k:{"name":"app"}', "f:image")``;
  list items of keyed lists (``schema.py``) are addressed by key (``k:``), set items by value (``v:``),
  atomic lists and scalars are leaves. ``managedFields[].fieldsV1`` is the nested form of that set.
* An update (create, PUT, JSON/merge/strategic patch) gives its manager (operation ``Update``) the
  paths it changed and takes them away from everyone else.
* An apply (``application/apply-patch+yaml``) merges the applied configuration into the live object,
  removes fields the same manager applied before but no longer does (unless another manager owns them),
  and fails with a 409 listing each field another manager owns and this apply would change, unless
  ``force=true``, which transfers ownership.

Not emulated: ``x-kubernetes-map-type``/struct distinctions (every non-empty map is granular), unions,
and apply conversion between versions (ownership is recorded with the request's apiVersion).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_delivery.sandbox.errors import Conflict
from airflow_delivery.sandbox.schema import item_key, list_type

Path = tuple[str, ...]
_MISSING = object()

# Fields the server owns: never part of a manager's set.
_SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def _strip_server_fields(obj: dict[str, Any], include_status: bool) -> dict[str, Any]:
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind") and (include_status or k != "status")}
    if isinstance(body.get("metadata"), dict):
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in _SERVER_METADATA}
        if not body["metadata"]:
            del body["metadata"]
    return body


def _key_element(item: dict[str, Any], keys: tuple[str, ...], defaults: dict[str, Any]) -> str:
    values = {k: item.get(k, defaults.get(k)) for k in keys}
    return "k:" + json.dumps(values, sort_keys=True, separators=(",", ":"))


def field_set(obj: dict[str, Any] | None, *, include_status: bool = False) -> set[Path]:
    """Every owned-able path of ``obj`` (leaves and keyed list items)."""
    out: set[Path] = set()
    if obj:
        _walk(_strip_server_fields(obj, include_status), (), (), out)
    return out


def _walk(value: Any, path: Path, names: tuple[str, ...], out: set[Path]) -> None:
    if isinstance(value, dict):
        if not value and path:
            out.add(path)
        for key, child in value.items():
            _walk(child, path + (f"f:{key}",), names + (key,), out)
        return
    if isinstance(value, list):
        lt = list_type(names)
        if lt.kind == "map" and all(isinstance(i, dict) for i in value) and value:
            for item in value:
                item_path = path + (_key_element(item, lt.keys, lt.key_defaults),)
                out.add(item_path)
                for key, child in item.items():
                    _walk(child, item_path + (f"f:{key}",), names + (key,), out)
            return
        if lt.kind == "set" and value:
            for item in value:
                out.add(path + ("v:" + json.dumps(item, sort_keys=True, separators=(",", ":")),))
            return
    if path:
        out.add(path)


def get_path(obj: Any, path: Path, names: tuple[str, ...] = ()) -> Any:
    """The value at ``path`` or ``_MISSING``."""
    current = obj
    for element in path:
        prefix, _, rest = element.partition(":")
        if prefix == "f":
            if not isinstance(current, dict) or rest not in current:
                return _MISSING
            current = current[rest]
            names = names + (rest,)
        elif prefix == "k":
            if not isinstance(current, list):
                return _MISSING
            wanted = json.loads(rest)
            lt = list_type(names)
            current = next(
                (i for i in current if isinstance(i, dict) and _matches_key(i, wanted, lt.key_defaults)), _MISSING
            )
            if current is _MISSING:
                return _MISSING
        elif prefix == "v":
            if not isinstance(current, list):
                return _MISSING
            wanted_value = json.loads(rest)
            if wanted_value not in current:
                return _MISSING
            current = wanted_value
        else:
            return _MISSING
    return current


def _matches_key(item: dict[str, Any], wanted: dict[str, Any], defaults: dict[str, Any]) -> bool:
    return all(item.get(k, defaults.get(k)) == v for k, v in wanted.items())


def diff_paths(old: dict[str, Any] | None, new: dict[str, Any] | None, *, include_status: bool = False) -> set[Path]:
    """Paths added, removed or changed between ``old`` and ``new`` (keyed items only when added/removed)."""
    old_body = _strip_server_fields(old, include_status) if old else {}
    new_body = _strip_server_fields(new, include_status) if new else {}
    old_set = field_set(old, include_status=include_status)
    new_set = field_set(new, include_status=include_status)
    changed: set[Path] = old_set ^ new_set
    for path in old_set & new_set:
        if path[-1].startswith(("k:", "v:")):
            continue
        if get_path(old_body, path) != get_path(new_body, path):
            changed.add(path)
    return changed


def _is_under(path: Path, prefixes: set[Path]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


# --- managedFields (de)serialisation ---------------------------------------------------------------


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    _mark_members(tree, (), paths)
    return tree


def _mark_members(node: dict[str, Any], path: Path, paths: set[Path]) -> None:
    for element, child in node.items():
        if element == ".":
            continue
        child_path = path + (element,)
        if child and child_path in paths:
            child["."] = {}
        _mark_members(child, child_path, paths)


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, child in (tree or {}).items():
        if element == ".":
            paths.add(prefix)
            continue
        path = prefix + (element,)
        if not child:
            paths.add(path)
        else:
            paths |= from_fields_v1(child, path)
    return paths


@dataclass
class ManagerEntry:
    manager: str
    operation: str
    api_version: str
    time: str
    subresource: str = ""
    fields: set[Path] = field(default_factory=set)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def parse_managed_fields(obj: dict[str, Any] | None) -> list[ManagerEntry]:
    entries = []
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict) or not raw.get("manager"):
            continue
        entries.append(
            ManagerEntry(
                manager=raw["manager"],
                operation=raw.get("operation", "Update"),
                api_version=raw.get("apiVersion", ""),
                time=raw.get("time", ""),
                subresource=raw.get("subresource", ""),
                fields=from_fields_v1(raw.get("fieldsV1") or {}),
            )
        )
    return entries


def _serialise(entries: list[ManagerEntry]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in entries if e.fields]


def _entry(entries: list[ManagerEntry], identity: tuple[str, str, str], api_version: str, now: str) -> ManagerEntry:
    for entry in entries:
        if entry.identity == identity:
            entry.api_version, entry.time = api_version, now
            return entry
    entry = ManagerEntry(identity[0], identity[1], api_version, now, identity[2])
    entries.append(entry)
    return entry


# --- updates -----------------------------------------------------------------------------------------


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
) -> list[dict[str, Any]]:
    """The managedFields of ``new`` after ``manager`` changed ``old`` into it with a non-apply write."""
    include_status = subresource == "status"
    entries = parse_managed_fields(old)
    changed = diff_paths(old, new, include_status=include_status)
    if subresource != "status":
        changed = {p for p in changed if p[:1] != ("f:status",)}
    else:
        changed = {p for p in changed if p[:1] == ("f:status",)}
    if not changed:
        return _serialise(entries)
    removed = {p for p in changed if get_path(_strip_server_fields(new, include_status), p) is _MISSING}
    for entry in entries:
        entry.fields = {p for p in entry.fields if p not in changed and not _is_under(p, removed)}
    mine = _entry(entries, (manager, "Update", subresource), api_version, now)
    mine.fields |= changed - removed
    return _serialise(entries)


# --- apply ---------------------------------------------------------------------------------------------


def _merge_applied(live: Any, applied: Any, names: tuple[str, ...]) -> Any:
    if isinstance(applied, dict):
        result = copy.deepcopy(live) if isinstance(live, dict) else {}
        for key, value in applied.items():
            if value is None:
                continue
            result[key] = _merge_applied(result.get(key), value, names + (key,))
        return result
    if isinstance(applied, list):
        lt = list_type(names)
        if lt.kind == "map" and isinstance(live, list) and all(isinstance(i, dict) for i in applied):
            result_list = copy.deepcopy(live)
            for item in applied:
                key = item_key(item, lt)
                index = next((i for i, e in enumerate(result_list) if item_key(e, lt) == key), None)
                if index is None:
                    result_list.append(_merge_applied({}, item, names))
                else:
                    result_list[index] = _merge_applied(result_list[index], item, names)
            return result_list
        if lt.kind == "set" and isinstance(live, list):
            return live + [i for i in applied if i not in live]
        return copy.deepcopy(applied)
    return applied


def _delete_path(obj: dict[str, Any], path: Path) -> None:
    parent_path, last = path[:-1], path[-1]
    names = tuple(e[2:] for e in parent_path if e.startswith("f:"))
    parent = get_path(obj, parent_path)
    if parent is _MISSING:
        return
    prefix, _, rest = last.partition(":")
    if prefix == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif prefix == "k" and isinstance(parent, list):
        wanted = json.loads(rest)
        defaults = list_type(names).key_defaults
        parent[:] = [i for i in parent if not (isinstance(i, dict) and _matches_key(i, wanted, defaults))]
    elif prefix == "v" and isinstance(parent, list):
        value = json.loads(rest)
        parent[:] = [i for i in parent if i != value]


def _render_path(path: Path) -> str:
    out = []
    for element in path:
        prefix, _, rest = element.partition(":")
        if prefix == "f":
            out.append(f".{rest}")
        elif prefix == "k":
            keys = json.loads(rest)
            out.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        else:
            out.append(f"[={rest}]")
    return "".join(out)


@dataclass(frozen=True)
class ApplyResult:
    object: dict[str, Any]
    managed_fields: list[dict[str, Any]]


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    force: bool = False,
    subresource: str = "",
) -> ApplyResult:
    """Merge ``applied`` into ``live`` as ``manager``; raise ``Conflict`` (409) on ownership conflicts."""
    include_status = subresource == "status"
    applied_body = _strip_server_fields(applied, include_status)
    if include_status:
        applied_body = {"status": applied_body.get("status") or {}}
    applied_set = field_set(applied_body, include_status=True)
    entries = parse_managed_fields(live)
    identity = (manager, "Apply", subresource)
    previous = next((e.fields for e in entries if e.identity == identity), set())
    others = [e for e in entries if e.identity != identity]
    owned_by_others: set[Path] = set().union(*(e.fields for e in others)) if others else set()

    base = copy.deepcopy(live) if live else {}
    merged = _merge_applied(base, applied_body, ())
    for path in sorted(previous - applied_set, key=len, reverse=True):
        held = any(p[: len(path)] == path for p in owned_by_others)
        if not held:
            _delete_path(merged, path)

    changed = diff_paths(live, merged, include_status=include_status)
    conflicts: list[tuple[ManagerEntry, Path]] = []
    for entry in others:
        for path in sorted(entry.fields & applied_set & changed):
            conflicts.append((entry, path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    forced = {p for _, p in conflicts}
    removed = {p for p in changed if get_path(_strip_server_fields(merged, True), p) is _MISSING}
    for entry in others:
        entry.fields = {p for p in entry.fields if p not in forced and not _is_under(p, removed)}
    mine = _entry(entries, identity, api_version, now)
    mine.fields = set(applied_set)
    return ApplyResult(object=merged, managed_fields=_serialise(entries))


def _conflict_error(conflicts: list[tuple[ManagerEntry, Path]]) -> Conflict:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{entry.manager}" using {entry.api_version}',
            "field": _render_path(path),
        }
        for entry, path in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = (
            f'Apply failed with 1 conflict: conflict with "{entry.manager}" using {entry.api_version}: '
            f"{_render_path(path)}"
        )
    else:
        lines = [f'conflict with "{e.manager}" using {e.api_version}: {_render_path(p)}' for e, p in conflicts]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return Conflict(message, causes=causes)
