"""Resolve a canary config given inline, as a path to a Kayenta JSON file, or by name from a folder.

Pipelines may say ``canary_config={...}``, ``canary_config="/etc/canary/checkout.json"`` or
``canary_config="latency"``; this module turns each into a validated Kayenta config dict. Names are
looked up in a folder (the packaged golden-signal configs by default: ``latency``, ``error-rate``,
``saturation``, ``golden-signals``). Errors say which file or name failed and what exists instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_delivery.canary.models import RequestError, parse_canary_config

PACKAGED_CONFIGS = Path(__file__).with_name("configs")


class CanaryConfigNotFound(LookupError):
    """No config file for the given path or name."""


def available(folder: Path | str = PACKAGED_CONFIGS) -> list[str]:
    """Config names (file stems) in ``folder``."""
    return sorted(p.stem for p in Path(folder).glob("*.json"))


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CanaryConfigNotFound(f"cannot read canary config {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(
            str(path), f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from exc
    try:
        parse_canary_config(data, "canaryConfig")
    except RequestError as exc:
        raise RequestError(f"{path}: {exc.path}", exc.message) from exc
    return data


def load_canary_config(
    spec: Mapping[str, Any] | str | Path, folder: Path | str | None = None
) -> dict[str, Any]:
    """Return the Kayenta canary config dict for ``spec``, validated.

    ``spec`` is a dict (used as is), a path to a ``.json`` file (absolute, relative, or containing a
    separator), or a bare name looked up as ``<folder>/<name>.json`` (``folder`` defaults to the
    packaged configs). Raises :class:`CanaryConfigNotFound` or :class:`RequestError` (bad content).
    """
    if isinstance(spec, Mapping):
        parse_canary_config(spec, "canaryConfig")
        return dict(spec)
    text = str(spec)
    path = Path(text)
    looks_like_path = path.suffix == ".json" or "/" in text or path.is_absolute()
    if looks_like_path:
        if not path.is_file():
            raise CanaryConfigNotFound(f"canary config file {path} does not exist")
        return _read(path)
    base = Path(folder) if folder is not None else PACKAGED_CONFIGS
    candidate = base / f"{text}.json"
    if not candidate.is_file():
        names = ", ".join(available(base)) or "none"
        raise CanaryConfigNotFound(f"no canary config named {text!r} in {base}; available: {names}")
    return _read(candidate)
