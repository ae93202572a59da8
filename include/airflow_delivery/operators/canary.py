"""The canary analysis stage (Spinnaker's ``kayentaCanary``): judge a canary interval by interval.

The operator only checks its inputs, plans the intervals and hands over to
:class:`~airflow_delivery.triggers.canary.CanaryIntervalTrigger`; schedule and decisions live in the
Airflow-free :mod:`airflow_delivery.canary.analysis`. Between intervals the task is deferred, so a
long canary holds no worker slot. The task's XCom (``return_value``) is the analysis result: the
verdict, final score and reasons, and every interval's record with its full Kayenta judge result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, cast

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_delivery.canary.analysis import (
    ON_MARGINAL,
    ON_MISSING_DATA,
    AnalysisConfigError,
    AnalysisPlan,
    OnMarginal,
    OnMissingData,
    Thresholds,
    parse_time,
    to_duration,
)
from airflow_delivery.canary.configs import CanaryConfigNotFound, load_canary_config
from airflow_delivery.canary.models import RequestError
from airflow_delivery.metrics.source import (
    MetricQueryConfigError,
    get_metrics_source_class,
    metric_query_type,
    scopes_from_kayenta,
)
from airflow_delivery.triggers.canary import SOURCE_CONN_KWARG, CanaryIntervalTrigger, metric_scope_name
from airflow_delivery.utils.deferral import ends_in_triggerer

Duration = timedelta | int | float
#: Below this, resuming a worker between intervals can race the deferring worker's exit (measured:
#: 1 run in 4 failed with min_deferral=0 and windows already over, under airflow standalone).
MIN_SAFE_DEFERRAL = timedelta(seconds=5)


class CanaryAnalysisOperator(BaseOperator):
    """Run an automated canary analysis (Kayenta's judge on metrics from Prometheus), deferred.

    :param canary_config: a Kayenta canary config: inline dict, path to a JSON file, or the name of a
        config in ``canary_configs_folder`` (default: the packaged golden-signal configs ``latency``,
        ``error-rate``, ``saturation``, ``golden-signals``).
    :param scopes: Kayenta scope entry or entries (``scopeName``, ``controlScope``, ``controlLocation``,
        ``experimentScope``, ``experimentLocation``, ``step`` seconds, ``extendedScopeParams``, optional
        ``startTimeIso``/``endTimeIso``). ``endTimeIso`` makes the analysis retrospective.
    :param lifetime: how long the canary is analysed (a timedelta or seconds); required unless the
        first scope has ``endTimeIso``.
    :param analysis_interval: length of each judged interval; default (or 0) one interval.
    :param begin_after: warm-up before the first window.
    :param lookback: zero for windows growing from the start, else a sliding window of this length.
    :param baseline_offset: shift the control window back by this much.
    :param score_thresholds: ``{"pass": 75, "marginal": 50}`` (the defaults).
    :param on_marginal: ``fail`` | ``continue`` | ``ask`` (see ``AnalysisPlan``).
    :param on_missing_data: ``fail`` (default: a metric without data fails the interval) | ``judge``.
    :param metrics_source: metrics backend (``prometheus``); every metric's ``query.type`` must match.
    :param metrics_conn_id: the Airflow connection of that backend.
    :param analysis_start: when the analysis starts (datetime or ISO-8601); default the first scope's
        ``startTimeIso``, else when the task starts. A past start judges the past windows at once.
    :param settle_delay: wait this long after each window before querying (scrape lag).
    :param min_deferral: intervals due sooner than this after the previous one are judged by the same
        trigger run instead of resuming a worker in between (Airflow 3.3 fails a task whose trigger
        fires before the deferring worker has exited; 0 is only safe under ``dag.test()``). A
        triggerer restart re-judges the intervals of the interrupted run, never recorded ones.
    :param seed: seed of the judge's tie-breaking noise (re-judging a window gives the same result).
    """

    template_fields: Sequence[str] = ("canary_config", "scopes", "analysis_start", "metrics_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"canary_config": "json", "scopes": "json"}
    ui_color = "#fde9c8"

    def __init__(
        self,
        *,
        canary_config: Mapping[str, Any] | str | Path,
        scopes: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        lifetime: Duration | None = None,
        analysis_interval: Duration | None = None,
        begin_after: Duration = timedelta(0),
        lookback: Duration = timedelta(0),
        baseline_offset: Duration = timedelta(0),
        score_thresholds: Mapping[str, Any] | None = None,
        on_marginal: str = "fail",
        on_missing_data: str = "fail",
        metrics_source: str = "prometheus",
        metrics_conn_id: str = "prometheus_default",
        canary_configs_folder: str | Path | None = None,
        analysis_start: datetime | str | None = None,
        settle_delay: Duration = timedelta(0),
        min_deferral: Duration = timedelta(seconds=15),
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            self.lifetime = None if lifetime is None else to_duration(lifetime, "lifetime", allow_zero=False)
            self.analysis_interval = to_duration(analysis_interval, "analysis_interval")
            self.begin_after = to_duration(begin_after, "begin_after")
            self.lookback = to_duration(lookback, "lookback")
            self.baseline_offset = to_duration(baseline_offset, "baseline_offset")
            self.settle_delay = to_duration(settle_delay, "settle_delay")
            self.min_deferral = to_duration(min_deferral, "min_deferral")
            self.score_thresholds = Thresholds.from_dict(score_thresholds)
        except AnalysisConfigError as exc:
            raise ValueError(f"{self.task_id}: {exc}") from None
        if on_marginal not in ON_MARGINAL:
            raise ValueError(
                f"{self.task_id}: on_marginal {on_marginal!r} is not one of {', '.join(map(repr, ON_MARGINAL))}"
            )
        if on_missing_data not in ON_MISSING_DATA:
            raise ValueError(
                f"{self.task_id}: on_missing_data {on_missing_data!r} is not one of "
                f"{', '.join(map(repr, ON_MISSING_DATA))}"
            )
        if metrics_source not in SOURCE_CONN_KWARG:
            raise ValueError(
                f"{self.task_id}: metrics_source {metrics_source!r} is not supported; valid: "
                f"{', '.join(sorted(SOURCE_CONN_KWARG))}"
            )
        if not isinstance(canary_config, Mapping | str | Path):
            raise ValueError(
                f"{self.task_id}: canary_config must be a dict, a path to a JSON file or a config name, "
                f"got {canary_config!r}"
            )
        if not isinstance(scopes, Mapping) and not (
            isinstance(scopes, Sequence) and not isinstance(scopes, str) and scopes
        ):
            raise ValueError(
                f"{self.task_id}: scopes must be a scope dict or a non-empty list of them, got {scopes!r}"
            )
        if analysis_start is not None and not isinstance(analysis_start, datetime | str):
            raise ValueError(
                f"{self.task_id}: analysis_start must be a datetime or an ISO-8601 string, got {analysis_start!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{self.task_id}: seed must be an integer, got {seed!r}")
        self.canary_config = canary_config
        self.scopes = scopes
        self.on_marginal = on_marginal
        self.on_missing_data = on_missing_data
        self.metrics_source = metrics_source
        self.metrics_conn_id = metrics_conn_id
        self.canary_configs_folder = canary_configs_folder
        self.analysis_start = analysis_start
        self.seed = seed

    # -- execute: validate templated inputs, plan, defer -----------------------------------------

    def execute(self, context: Context) -> None:
        # Templated fields are only known now: everything is checked before the first (possibly long)
        # wait, so a broken config fails in seconds, not after the warm-up.
        config = self._resolve_config()
        scopes = self._resolve_scopes()
        plan = self._plan(scopes)
        self._validate_metrics(config, scopes, plan)
        first = plan.window(1)
        if self.min_deferral < MIN_SAFE_DEFERRAL and ends_in_triggerer():
            self.log.warning(
                "min_deferral %s is below %s: an interval handed back to a worker right after the previous "
                "deferral can hit Airflow 3.3's deferral race and fail the task as 'state changed externally'",
                self.min_deferral,
                MIN_SAFE_DEFERRAL,
            )
        self.log.info(
            "Canary analysis with config %r: %d interval(s) of %s from %s (warm-up %s, %s windows, "
            "baseline offset %s), thresholds pass %g / marginal %g, on_marginal=%s; first window %s .. %s",
            config.get("name"),
            plan.count,
            plan.effective_interval,
            plan.start.isoformat(),
            plan.begin_after,
            f"sliding {plan.lookback}" if plan.lookback else "growing",
            plan.baseline_offset,
            plan.thresholds.pass_,
            plan.thresholds.marginal,
            plan.on_marginal,
            first.start.isoformat(),
            first.end.isoformat(),
        )
        self._defer(
            {
                "plan": plan.to_dict(),
                "canary_config": config,
                "scopes": scopes,
                "interval": 1,
                "results": [],
                "metrics_source": self.metrics_source,
                "metrics_conn_id": self.metrics_conn_id,
                "settle_seconds": self.settle_delay.total_seconds(),
                "min_deferral_seconds": self.min_deferral.total_seconds(),
            }
        )

    def _defer(self, trigger_kwargs: Mapping[str, Any]) -> None:
        trigger = CanaryIntervalTrigger(**trigger_kwargs, end_from_trigger=ends_in_triggerer())
        self.defer(trigger=trigger, method_name="execute_complete")

    def _resolve_config(self) -> dict[str, Any]:
        spec = self.canary_config
        try:
            return load_canary_config(spec, self.canary_configs_folder)
        except (CanaryConfigNotFound, RequestError) as exc:
            raise ValueError(f"{self.task_id}: canary_config: {exc}") from None

    def _resolve_scopes(self) -> dict[str, dict[str, Any]]:
        entries = [self.scopes] if isinstance(self.scopes, Mapping) else list(self.scopes)
        scopes: dict[str, dict[str, Any]] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ValueError(f"{self.task_id}: scopes[{index}] must be a dict, got {entry!r}")
            name = str(entry.get("scopeName") or "default")
            if name in scopes:
                raise ValueError(f"{self.task_id}: scopes: scopeName {name!r} is given twice")
            scopes[name] = dict(entry)
        return scopes

    def _plan(self, scopes: Mapping[str, Mapping[str, Any]]) -> AnalysisPlan:
        first_name, first = next(iter(scopes.items()))
        try:
            if self.analysis_start is not None:
                start = parse_time(self.analysis_start, "analysis_start")
            elif first.get("startTimeIso"):
                start = parse_time(first["startTimeIso"], f"scopes[{first_name}].startTimeIso")
            else:
                start = datetime.now(UTC)
            end = first.get("endTimeIso")
            if end and self.lifetime is not None:
                raise AnalysisConfigError(
                    f"give either lifetime ({self.lifetime}) or scopes[{first_name}].endTimeIso ({end!r}), not both"
                )
            if end:
                lifetime = parse_time(end, f"scopes[{first_name}].endTimeIso") - start
                if lifetime <= timedelta(0):
                    raise AnalysisConfigError(
                        f"scopes[{first_name}].endTimeIso {end!r} must be after the analysis start "
                        f"{start.isoformat()}"
                    )
            elif self.lifetime is None:
                raise AnalysisConfigError(
                    f"lifetime is required (or an endTimeIso in scopes[{first_name}] for a retrospective analysis)"
                )
            else:
                lifetime = self.lifetime
            return AnalysisPlan(
                start=start,
                lifetime=lifetime,
                interval=self.analysis_interval,
                begin_after=self.begin_after,
                lookback=self.lookback,
                baseline_offset=self.baseline_offset,
                retrospective=bool(end),
                thresholds=self.score_thresholds,
                on_marginal=cast(OnMarginal, self.on_marginal),  # checked in __init__
                on_missing_data=cast(OnMissingData, self.on_missing_data),
                seed=self.seed,
            )
        except AnalysisConfigError as exc:
            raise ValueError(f"{self.task_id}: {exc}") from None

    def _validate_metrics(
        self, config: Mapping[str, Any], scopes: Mapping[str, Mapping[str, Any]], plan: AnalysisPlan
    ) -> None:
        metrics = config.get("metrics") or []
        if not metrics:
            raise ValueError(f"{self.task_id}: canary config {config.get('name')!r} has no metrics to judge")
        window = plan.window(1)
        source = get_metrics_source_class(self.metrics_source)(
            **{SOURCE_CONN_KWARG[self.metrics_source]: self.metrics_conn_id}
        )
        for metric in metrics:
            name = metric.get("name")
            try:
                kind = metric_query_type(metric)
                if kind != self.metrics_source:
                    raise MetricQueryConfigError(
                        f"metric {name!r}: query.type is {kind!r} but this stage reads metrics from "
                        f"{self.metrics_source!r}"
                    )
                scope_name = metric_scope_name(metric)
                if scope_name not in scopes:
                    raise MetricQueryConfigError(
                        f"metric {name!r} uses scopeName {scope_name!r}, but scopes define only "
                        f"{', '.join(repr(s) for s in scopes)}"
                    )
                control, experiment = scopes_from_kayenta(
                    scopes[scope_name],
                    start=window.start,
                    end=window.end,
                    control_offset=plan.baseline_offset,
                )
                build_queries = getattr(source, "build_queries", None)
                if build_queries is not None:
                    build_queries(metric, control, experiment, canary_config=config)
            except (MetricQueryConfigError, ValueError) as exc:
                raise ValueError(f"{self.task_id}: canary config {config.get('name')!r}: {exc}") from None
        hook = getattr(source, "hook", None)
        if hook is not None and hasattr(hook, "connection_config"):
            hook.connection_config  # noqa: B018 - raises, naming the connection, when it is not defined

    # -- resumed between intervals and at the end -------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or "status" not in event:
            raise RuntimeError(f"{self.task_id}: canary trigger ended without an event: {event!r}")
        status = event["status"]
        if status == "error":
            raise RuntimeError(f"{self.task_id}: {event.get('message')}")
        if status == "running":
            for judged in event["judged"]:
                self._log_interval(judged)
            self.log.info("Running verdict: %s; next: interval %d", event["reason"], event["next_interval"])
            self._defer(event["trigger"])
        if status not in ("success", "failed"):
            raise RuntimeError(f"{self.task_id}: unexpected canary event status {status!r}")
        for record in event["intervals"]:
            self._log_interval(record)
        if status == "success":
            self.log.info("Canary verdict %s: %s", event["verdict"], event["reason"])
            return event
        # The result is still published, so the failed analysis can be reported on.
        context["ti"].xcom_push(key="return_value", value=event)
        raise AirflowFailException(f"{self.task_id}: canary verdict {event['verdict']}: {event['reason']}")

    def _log_interval(self, record: Mapping[str, Any]) -> None:
        self.log.info(
            "Interval %d of %d: score %s (%s)%s",
            record["interval"],
            record["intervals"],
            f"{record['score']:g}",
            record["classification"],
            "".join(f"\n  {r}" for r in record.get("reasons") or ()),
        )
