"""Put samples on the step grid and pair control with experiment series, as Kayenta's mixer does.

Alignment: every sample is placed at the grid index nearest to ``(t - start) / step``; grid points with
no sample are NaN, samples outside the window are dropped. So control and experiment always have
exactly one value per step from start to end, whatever Prometheus returned.

Several series per side: we follow Kayenta (``MetricSetMixerService.mixOneMetric``) rather than
summing. Series are keyed by their labels (without ``__name__``); each tag set becomes its own
MetricSetPair and the judge classifies each separately. A tag set found on one side only is paired with
an all-NaN side (so that pair is Nodata, with a reason naming the missing side); if one side has a
single untagged series and the other has tags, the untagged one is dropped and every tagged series is
paired with NaN, also as Kayenta does. Different label *keys* on the two sides are an error, as in
Kayenta. Kayenta's own query builder wraps queries in ``avg(...) by (groupByFields)`` so that control
and experiment share tag sets; write ``PromQL:`` templates the same way (aggregate away pod names).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from airflow_delivery.metrics.source import MetricScope, MetricSetPair


@dataclass(frozen=True)
class TaggedValues:
    """One series aligned on a scope's grid."""

    tags: Mapping[str, str]
    values: list[float]

    @property
    def has_data(self) -> bool:
        return any(not math.isnan(v) for v in self.values)


def align(samples: Iterable[tuple[float, float]], scope: MetricScope) -> list[float]:
    """Values on ``scope.grid()``; NaN where no sample falls on a grid point."""
    grid_len = len(scope.grid())
    values = [math.nan] * grid_len
    start, step = scope.start_ts, float(scope.step)
    for ts, value in samples:
        index = round((ts - start) / step)
        if 0 <= index < grid_len and abs(ts - (start + index * step)) <= step / 2:
            values[index] = float(value)
    return values


def tag_key(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items()))


def tagged(
    series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, float]]]], scope: MetricScope
) -> list[TaggedValues]:
    """Align each ``(labels, samples)``; labels lose ``__name__`` as in Kayenta's response converter."""
    return [
        TaggedValues({k: v for k, v in labels.items() if k != "__name__"}, align(samples, scope))
        for labels, samples in series
    ]


class TagMismatchError(ValueError):
    """Control and experiment series are labelled with different label names."""


def mix(
    name: str,
    control: MetricScope,
    experiment: MetricScope,
    control_sets: Sequence[TaggedValues],
    experiment_sets: Sequence[TaggedValues],
    *,
    queries: Mapping[str, str],
) -> list[MetricSetPair]:
    """Kayenta's ``mixOneMetric``: one pair per tag set, NaN where a side lacks that tag set.

    Each pair gets ``status``/``reason``: ``nodata`` when a side has no non-NaN value.
    """
    control_keys = {k for s in control_sets for k in s.tags}
    experiment_keys = {k for s in experiment_sets for k in s.tags}
    if control_keys and experiment_keys and control_keys != experiment_keys:
        raise TagMismatchError(
            f"control series have labels {sorted(control_keys)} but experiment series have "
            f"{sorted(experiment_keys)}; aggregate both to the same labels (e.g. avg(...) by (...))"
        )
    control_by_tags = {tag_key(s.tags): s for s in control_sets}
    experiment_by_tags = {tag_key(s.tags): s for s in experiment_sets}
    control_empty, experiment_empty = () in control_by_tags, () in experiment_by_tags
    if control_empty and not experiment_empty and experiment_by_tags:
        keys = list(experiment_by_tags)
        control_by_tags = {}
    elif experiment_empty and not control_empty and control_by_tags:
        keys = list(control_by_tags)
        experiment_by_tags = {}
    else:
        keys = list(dict.fromkeys([*control_by_tags, *experiment_by_tags]))
    if not keys:
        keys = [()]
    pairs: list[MetricSetPair] = []
    for key in keys:
        c = control_by_tags.get(key)
        e = experiment_by_tags.get(key)
        c_values = c.values if c else [math.nan] * len(control.grid())
        e_values = e.values if e else [math.nan] * len(experiment.grid())
        problems: dict[str, str] = {}
        for side, scope, found, values in (
            ("control", control, c, c_values),
            ("experiment", experiment, e, e_values),
        ):
            where = f"{side} scope {scope.scope!r} in {_window(scope)}, query {queries.get(side, '?')!r}"
            if found is None:
                problems[side] = f"no samples for {where}"
            elif not any(not math.isnan(v) for v in values):
                problems[side] = f"only NaN values for {where}"
        attributes = {
            side: {
                **({"query": queries[side]} if side in queries else {}),
                **({"reason": problems[side]} if side in problems else {}),
            }
            for side in ("control", "experiment")
        }
        pair: MetricSetPair = {
            "name": name,
            "id": str(uuid.uuid4()),
            "tags": dict(key),
            "values": {"control": c_values, "experiment": e_values},
            "scopes": {"control": control.kayenta_scope(), "experiment": experiment.kayenta_scope()},
            "attributes": attributes,
            "status": "nodata" if problems else "ok",
        }
        if problems:
            tags = f" (tags {dict(key)})" if key else ""
            pair["reason"] = "; ".join(problems.values()) + tags
        pairs.append(pair)
    return pairs


def _window(scope: MetricScope) -> str:
    return f"{scope.start.isoformat()}..{scope.end.isoformat()}"
