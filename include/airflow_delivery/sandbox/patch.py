"""The three PATCH flavours of the Kubernetes API: JSON patch, JSON merge patch, strategic merge patch.

JSON patch (RFC 6902) is delegated to the ``jsonpatch`` library. JSON merge patch (RFC 7386) is a few
lines. Strategic merge patch follows Kubernetes' rules: maps merge recursively, ``null`` deletes, lists
of known types merge by their ``patchMergeKey`` (see ``schema.py``), other lists are replaced, and the
directives ``$patch: replace|delete|merge``, ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and
``$setElementOrder/<field>`` are honoured.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jsonpatch

from airflow_delivery.sandbox.errors import BadRequest, Invalid
from airflow_delivery.sandbox.schema import list_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_DELETE = object()


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 patch; a malformed patch is 400, a failing ``test`` or bad path is 422."""
    if not isinstance(operations, list):
        raise BadRequest(
            "a JSON patch (application/json-patch+json) must be a list of operations, got "
            f"{type(operations).__name__}; send a merge patch content type for an object body"
        )
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise BadRequest(f"invalid JSON patch: {exc}") from exc
    try:
        return patch.apply(copy.deepcopy(document))
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPatchTestFailed, jsonpatch.JsonPointerException) as exc:
        raise Invalid(f"the JSON patch could not be applied: {exc}") from exc
    except jsonpatch.JsonPatchException as exc:
        raise BadRequest(f"invalid JSON patch: {exc}") from exc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` removes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to ``original`` (which is not modified)."""
    if not isinstance(patch, dict):
        raise BadRequest(f"a strategic merge patch must be a JSON object, got {type(patch).__name__}")
    result = _merge_map(original if isinstance(original, dict) else {}, patch, ())
    return {} if result is _DELETE else result


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"}, path)
    if directive not in (None, "merge"):
        raise BadRequest(f"unknown $patch directive {directive!r} at {_dotted(path)}; use replace, delete or merge")
    result = copy.deepcopy(original)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field_name = key.split("/", 1)[1]
            current = result.get(field_name)
            if isinstance(current, list):
                result[field_name] = [item for item in current if item not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
            continue
        child = path + (key,)
        if isinstance(value, dict):
            merged = _merge_map(result.get(key) if isinstance(result.get(key), dict) else {}, value, child)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, child)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise BadRequest(f"$retainKeys at {_dotted(path)} must be a list of field names")
        for key in [k for k in result if k not in retain]:
            del result[key]
    for field_name, order in orders.items():
        if isinstance(result.get(field_name), list):
            result[field_name] = _apply_order(result[field_name], order, path + (field_name,))
    return result


def _merge_list(original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    lt = list_type(path)
    current = copy.deepcopy(original) if isinstance(original, list) else []
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(i, path) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if lt.kind == "set":
        merged = list(current)
        for item in patch:
            if item not in merged:
                merged.append(item)
        return merged
    if lt.kind != "map" or lt.patch_merge_key is None:
        return [_strip_directives(i, path) for i in patch]
    key = lt.patch_merge_key
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"list {_dotted(path)} merges by {key!r}: every item must be an object")
        if key not in item:
            raise Invalid(f"{_dotted(path)}: every item must have the merge key {key!r}")
        index = next((i for i, existing in enumerate(current) if existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            current = [e for e in current if e.get(key) != item[key]]
            continue
        if index is None:
            merged = _merge_map({}, item, path)
            if merged is not _DELETE:
                current.append(merged)
        else:
            merged = _merge_map(current[index], item, path)
            if merged is _DELETE:
                del current[index]
            else:
                current[index] = merged
    return current


def _apply_order(items: list[Any], order: list[Any], path: tuple[str, ...]) -> list[Any]:
    """``$setElementOrder``: items named in ``order`` come first in that order, the rest keep theirs."""
    lt = list_type(path)
    key = lt.patch_merge_key

    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [identity(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (wanted.index(identity(pair[1])) if identity(pair[1]) in wanted else len(wanted), pair[0]),
    )
    return [item for _, item in ranked]


def _strip_directives(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v, path + (k,))
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v, path) for v in value]
    return value


def _dotted(path: Sequence[str]) -> str:
    return "." + ".".join(path) if path else "<root>"


def apply_patch(content_type: str, original: dict[str, Any], body: Any) -> dict[str, Any]:
    """Dispatch on the request's Content-Type (without parameters)."""
    if content_type == JSON_PATCH:
        result = json_patch(original, body)
    elif content_type == MERGE_PATCH:
        if not isinstance(body, dict):
            raise BadRequest("a JSON merge patch must be a JSON object")
        result = merge_patch(original, body)
    elif content_type == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(original, body)
    else:
        raise BadRequest(f"unsupported patch type {content_type!r}")
    if not isinstance(result, dict):
        raise Invalid("the patched object is not a JSON object")
    return result
