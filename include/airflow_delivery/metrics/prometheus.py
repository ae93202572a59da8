"""The Prometheus metrics source: Kayenta query config -> PromQL -> range queries -> MetricSetPairs.

Failures of Prometheus itself (down, overloaded, a rejected query) become one ``status: "error"``
pair naming the side, the query and the cause; missing samples become ``status: "nodata"`` pairs. The
judge can classify neither as Pass, so the canary stage fails safe and its report says why. Config
mistakes (undefined placeholder, no metricName) raise :class:`MetricQueryConfigError` before any query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_delivery.metrics.promql import DEFAULT_SCOPE_LABEL, build_prometheus_query
from airflow_delivery.metrics.series import TagMismatchError, mix, tagged
from airflow_delivery.metrics.source import MetricScope, MetricSetPair, failed_pair

if TYPE_CHECKING:
    from airflow_delivery.hooks.prometheus import PrometheusHook, PrometheusSeries

log = logging.getLogger(__name__)


class PrometheusMetricsSource:
    """Fetch canary metrics from Prometheus through the ``prometheus`` connection ``prometheus_conn_id``.

    :param scope_label: label holding the instance name for ``resourceType: gce_instance`` (Kayenta's
        ``scopeLabel`` setting, default ``instance``).
    :param hook: an existing hook to reuse (e.g. one with a custom retry policy); by default one is made
        from ``prometheus_conn_id``.
    """

    source_type = "prometheus"

    def __init__(
        self,
        *,
        prometheus_conn_id: str = "prometheus_default",
        scope_label: str = DEFAULT_SCOPE_LABEL,
        hook: PrometheusHook | None = None,
    ) -> None:
        self.prometheus_conn_id = prometheus_conn_id
        self.scope_label = scope_label
        self._hook = hook

    @cached_property
    def hook(self) -> PrometheusHook:
        if self._hook is not None:
            return self._hook
        from airflow_delivery.hooks.prometheus import PrometheusHook

        return PrometheusHook(prometheus_conn_id=self.prometheus_conn_id)

    def build_queries(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        *,
        canary_config: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """The control and experiment PromQL; raises ``MetricQueryConfigError`` on config mistakes.

        The canary stage can call this for every metric before the first interval to reject a broken
        config at once instead of after the begin-after delay.
        """
        return {
            side: build_prometheus_query(metric, scope, canary_config, scope_label=self.scope_label)
            for side, scope in (("control", control), ("experiment", experiment))
        }

    def fetch_pairs(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        *,
        canary_config: Mapping[str, Any] | None = None,
    ) -> list[MetricSetPair]:
        queries = self.build_queries(metric, control, experiment, canary_config=canary_config)
        results: dict[str, list[PrometheusSeries] | BaseException] = {}
        for side, scope in (("control", control), ("experiment", experiment)):
            try:
                results[side] = self.hook.query_range(queries[side], scope.start, scope.end, scope.step)
            except Exception as exc:  # noqa: BLE001 - becomes an error pair with the reason
                results[side] = exc
        return self._pairs(metric, control, experiment, queries, results)

    async def afetch_pairs(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        *,
        canary_config: Mapping[str, Any] | None = None,
    ) -> list[MetricSetPair]:
        queries = self.build_queries(metric, control, experiment, canary_config=canary_config)
        outcomes = await asyncio.gather(
            self.hook.aquery_range(queries["control"], control.start, control.end, control.step),
            self.hook.aquery_range(queries["experiment"], experiment.start, experiment.end, experiment.step),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, asyncio.CancelledError):  # never swallow cancellation
                raise outcome
        results = dict(zip(("control", "experiment"), outcomes, strict=True))
        return self._pairs(metric, control, experiment, queries, results)

    def _pairs(
        self,
        metric: Mapping[str, Any],
        control: MetricScope,
        experiment: MetricScope,
        queries: dict[str, str],
        results: Mapping[str, Any],
    ) -> list[MetricSetPair]:
        name = str(metric.get("name"))
        errors = [
            f"{side} scope {scope.scope!r}: {_describe(results[side])}"
            for side, scope in (("control", control), ("experiment", experiment))
            if isinstance(results[side], BaseException)
        ]
        if errors:
            reason = f"metric {name!r} could not be fetched from Prometheus: " + "; ".join(errors)
            log.warning("%s", reason)
            return [failed_pair(name, control, experiment, reason=reason, status="error", queries=queries)]
        try:
            pairs = mix(
                name,
                control,
                experiment,
                tagged(((s.labels, s.samples) for s in results["control"]), control),
                tagged(((s.labels, s.samples) for s in results["experiment"]), experiment),
                queries=queries,
            )
        except TagMismatchError as exc:
            reason = f"metric {name!r}: {exc}"
            log.warning("%s", reason)
            return [failed_pair(name, control, experiment, reason=reason, status="error", queries=queries)]
        for pair in pairs:
            if pair.get("status") != "ok":
                log.warning("metric %r: %s", name, pair.get("reason"))
        return pairs


def _describe(exc: BaseException) -> str:
    # Hook errors already name the connection and the query and carry no secrets; anything else is
    # unexpected, so say what kind of error it was.
    from airflow_delivery.hooks.prometheus import PrometheusError

    if isinstance(exc, PrometheusError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
