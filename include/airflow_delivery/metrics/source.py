"""What the canary stage needs from a metrics backend, independent of which backend it is.

A metrics source turns one metric of a Kayenta canary config plus a control and an experiment scope
into Kayenta ``MetricSetPair`` dicts, the judge's input. Sources never let a backend failure escape as
an exception: Prometheus down, a rejected query or missing samples come back as pairs whose
``status``/``reason`` say why, with values the judge can only classify as Nodata (never Pass). So a
canary whose data is missing fails safe and the report says why. Mistakes in the canary config itself
(an undefined ``${placeholder}``, a missing ``metricName``) do raise ``MetricQueryConfigError``: they
are deterministic and must be fixed, not judged.

MetricSetPair (Kayenta's shape, ``kayenta-core`` ``MetricSetPair.java``) plus three keys of ours:

``status``  ``"ok"`` | ``"nodata"`` (a side had no samples or only NaN) | ``"error"`` (backend failure)
``reason``  one line for people, present unless ``status == "ok"``
``error``   the same line, present only when ``status == "error"`` (values are then empty lists)

The reason is also written into Kayenta's per-side ``attributes`` (``attributes.<side>.error`` or
``attributes.<side>.reason``, next to ``attributes.<side>.query``), which judges keep as pass-through
data, so a report built from the judge's input still shows why a metric had no data.

This module imports nothing from Airflow; implementations are loaded lazily through the registry.
"""

from __future__ import annotations

import importlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

PairStatus = Literal["ok", "nodata", "error"]


class MetricSetScope(TypedDict):
    startTimeIso: str
    startTimeMillis: int
    stepMillis: int


class MetricSetPair(TypedDict, total=False):
    name: str
    id: str
    tags: dict[str, str]
    values: dict[str, list[float]]
    scopes: dict[str, MetricSetScope]
    attributes: dict[str, dict[str, str]]
    status: PairStatus
    reason: str
    error: str


class MetricQueryConfigError(ValueError):
    """A canary config metric cannot be turned into a query; the message names the metric and field."""


class UnknownMetricsSourceError(LookupError):
    """No metrics source is registered for a query ``type``."""


@dataclass(frozen=True)
class MetricScope:
    """One side (control or experiment) of a canary window, as Kayenta's ``CanaryScope``.

    ``scope`` and ``location`` fill ``${scope}``/``${location}`` in query templates (for Kubernetes,
    typically a pod-name prefix or a ``version`` label value, and the namespace); ``extended_params``
    fill any other ``${name}``. Samples are taken at ``start, start+step, ... <= end``.
    """

    scope: str
    start: datetime
    end: datetime
    step: int = 60
    location: str = ""
    extended_params: Mapping[str, str] = field(default_factory=dict)
    scope_name: str = "default"

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"MetricScope({self.scope!r}).{name} must be a timezone-aware datetime")
        if self.end <= self.start:
            raise ValueError(f"MetricScope({self.scope!r}): end {self.end} must be after start {self.start}")
        if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step <= 0:
            raise ValueError(f"MetricScope({self.scope!r}).step must be a positive number of seconds")
        for key, value in self.extended_params.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(
                    f"MetricScope({self.scope!r}).extended_params must map strings to strings, "
                    f"got {key!r}: {value!r}"
                )

    @property
    def start_ts(self) -> float:
        return self.start.timestamp()

    @property
    def end_ts(self) -> float:
        return self.end.timestamp()

    def grid(self) -> list[float]:
        """The evaluation timestamps (unix seconds), the same ones a Prometheus range query uses."""
        count = int(math.floor((self.end_ts - self.start_ts) / self.step + 1e-9)) + 1
        return [self.start_ts + i * self.step for i in range(count)]

    def kayenta_scope(self) -> MetricSetScope:
        return {
            "startTimeIso": self.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "startTimeMillis": int(round(self.start_ts * 1000)),
            "stepMillis": self.step * 1000,
        }


def _parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not an ISO-8601 time") from None
    else:
        raise ValueError(f"{where}: expected an ISO-8601 time, got {value!r}")
    if parsed.tzinfo is None:
        raise ValueError(f"{where}: {value!r} has no timezone; add 'Z' or an offset")
    return parsed


def scopes_from_kayenta(
    scope: Mapping[str, Any],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    control_offset: timedelta = timedelta(0),
) -> tuple[MetricScope, MetricScope]:
    """Build (control, experiment) from an Orca/Kayenta canary-stage scope entry.

    ``scope`` is one item of ``canaryConfig.scopes`` (``scopeName``, ``controlScope``,
    ``controlLocation``, ``experimentScope``, ``experimentLocation``, ``startTimeIso``, ``endTimeIso``,
    ``step``, ``extendedScopeParams``). ``start``/``end`` override the ISO times (the canary stage passes
    each interval's window); ``control_offset`` shifts the control window back in time
    (``baselineAnalysisOffsetInMins``).
    """
    name = scope.get("scopeName") or "default"
    where = f"scopes[{name}]"
    for key in ("controlScope", "experimentScope"):
        if not isinstance(scope.get(key), str) or not scope.get(key):
            raise ValueError(f"{where}.{key} is required (a non-empty string)")
    win_start = start or _parse_time(scope.get("startTimeIso"), f"{where}.startTimeIso")
    win_end = end or _parse_time(scope.get("endTimeIso"), f"{where}.endTimeIso")
    raw_step = scope.get("step", 60)
    try:
        step = int(raw_step)
    except (TypeError, ValueError):
        raise ValueError(f"{where}.step must be whole seconds, got {raw_step!r}") from None
    params = scope.get("extendedScopeParams") or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"{where}.extendedScopeParams must be an object of strings")
    params = {str(k): str(v) for k, v in params.items()}
    control = MetricScope(
        scope=scope["controlScope"],
        location=str(scope.get("controlLocation") or ""),
        start=win_start - control_offset,
        end=win_end - control_offset,
        step=step,
        extended_params=params,
        scope_name=name,
    )
    experiment = MetricScope(
        scope=scope["experimentScope"],
        location=str(scope.get("experimentLocation") or ""),
        start=win_start,
        end=win_end,
        step=step,
        extended_params=params,
        scope_name=name,
    )
    return control, experiment


def failed_pair(
    name: str,
    control: MetricScope,
    experiment: MetricScope,
    *,
    reason: str,
    status: Literal["nodata", "error"] = "error",
    queries: Mapping[str, str] | None = None,
) -> MetricSetPair:
    """A pair that carries ``reason`` and cannot be judged Pass.

    For ``error`` both value lists are empty (the judge sees no data at all); for ``nodata`` they are
    all-NaN on the step grid, as Kayenta pads a side without data.
    """
    key = "error" if status == "error" else "reason"
    if status == "error":
        values: dict[str, list[float]] = {"control": [], "experiment": []}
    else:
        values = {
            "control": [math.nan] * len(control.grid()),
            "experiment": [math.nan] * len(experiment.grid()),
        }
    pair: MetricSetPair = {
        "name": name,
        "id": str(uuid.uuid4()),
        "tags": {},
        "values": values,
        "scopes": {"control": control.kayenta_scope(), "experiment": experiment.kayenta_scope()},
        "attributes": {
            side: {**({"query": queries[side]} if queries and side in queries else {}), key: reason}
            for side in ("control", "experiment")
        },
        "status": status,
        "reason": reason,
    }
    if status == "error":
        pair["error"] = reason
    return pair


@runtime_checkable
class MetricsSource(Protocol):
    """A backend that fetches control and experiment series for one canary-config metric."""

    source_type: str

    def fetch_pairs(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        *,
        canary_config: Mapping[str, Any] | None = None,
    ) -> list[MetricSetPair]:
        """One pair per tag set (usually exactly one); failures come back as pairs, not exceptions."""
        ...

    async def afetch_pairs(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        *,
        canary_config: Mapping[str, Any] | None = None,
    ) -> list[MetricSetPair]:
        """Async :meth:`fetch_pairs`, for triggers."""
        ...


class _SourceRegistry(dict[str, str]):
    """Query ``type`` -> import path of the source class; unknown types raise listing the known ones."""

    def __missing__(self, key: str) -> str:
        raise UnknownMetricsSourceError(
            f"no metrics source for query type {key!r}; valid types: {', '.join(sorted(self))}"
        )


#: Kayenta ``metrics[].query.type`` -> source class. Strings keep this module free of Airflow imports.
METRICS_SOURCES: dict[str, str] = _SourceRegistry(
    {"prometheus": "airflow_delivery.metrics.prometheus.PrometheusMetricsSource"}
)


def get_metrics_source_class(source_type: str) -> type[MetricsSource]:
    module_name, _, class_name = METRICS_SOURCES[source_type].rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def metric_query_type(metric: Mapping[str, Any]) -> str:
    """``metric.query.type`` with an error naming the metric when it is missing."""
    name = metric.get("name", "<unnamed>")
    query = metric.get("query")
    if not isinstance(query, Mapping) or not isinstance(query.get("type"), str):
        raise MetricQueryConfigError(
            f"metric {name!r}: query.type is required (one of {', '.join(sorted(METRICS_SOURCES))})"
        )
    return str(query["type"])


def metrics_source_for(metric: Mapping[str, Any], **kwargs: Any) -> MetricsSource:
    """Instantiate the source for ``metric.query.type`` (``kwargs`` go to its constructor)."""
    return get_metrics_source_class(metric_query_type(metric))(**kwargs)


def jsonable_pair(pair: MetricSetPair) -> dict[str, Any]:
    """A copy safe for strict JSON (XCom, files): NaN/Inf values written as Kayenta/Jackson does.

    The judge reads ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` back as numbers.
    """

    def number(value: float) -> float | str:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value

    out: dict[str, Any] = dict(pair)
    out["values"] = {side: [number(v) for v in values] for side, values in pair.get("values", {}).items()}
    return out


def pairs_status(pairs: Sequence[MetricSetPair]) -> list[str]:
    """The reasons of every non-ok pair, for logs and reports."""
    return [f"{p.get('name')}: {p.get('reason')}" for p in pairs if p.get("status", "ok") != "ok"]
