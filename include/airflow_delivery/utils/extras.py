"""Reading connection extras typed in by people: one spelling table for every hook."""

from __future__ import annotations

from typing import Any

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def flag(value: Any, *, default: bool) -> bool | None:
    """The boolean an extra spells (``default`` when empty), or None when it spells no boolean."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None
