"""The canary stage's trigger: wait for an interval's window to end, fetch its metrics, judge it.

Restart safety. A trigger's only durable state is its kwargs, and they change only when it yields
and the task defers again. So the analysis moves one interval (or one run of due intervals) per
deferral: the kwargs hold the plan with absolute times, the resolved canary config, the scopes, the
interval to judge next and the records of every interval judged before. A triggerer restart re-runs
the trigger from those kwargs, which re-judges only the interval(s) whose event was never delivered,
on the same window with the same seed, so the result is the one the lost run would have given: no
interval is lost, and none appears twice in the record.

Intervals due within ``min_deferral_seconds`` of each other are judged by the same run instead of
resuming a worker to defer again at once (Airflow 3.3 fails a task whose trigger fires before the
deferring worker has exited, see ``airflow_delivery.utils.deferral``). The decided analysis, and an
unexpected exception, end the task from the triggerer with the result (or the error message) as XCom;
under ``dag.test()`` they are plain events that ``execute_complete`` turns into the same outcome.

Metrics come through the metrics source (async); judging is CPU work and runs in a thread so the
triggerer's event loop keeps serving the other triggers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_delivery.canary.analysis import (
    AnalysisPlan,
    DataProblem,
    IntervalOutcome,
    analysis_result,
    assess_interval,
    decide,
)
from airflow_delivery.canary.judge import judge
from airflow_delivery.metrics.source import (
    MetricSetPair,
    MetricsSource,
    get_metrics_source_class,
    jsonable_pair,
    scopes_from_kayenta,
)
from airflow_delivery.utils.deferral import final_event

#: metrics source type -> the constructor argument that takes the Airflow connection id.
SOURCE_CONN_KWARG: dict[str, str] = {"prometheus": "prometheus_conn_id"}
#: metrics fetched at once per interval (each is a control and an experiment range query).
FETCH_CONCURRENCY = 8
_PAIR_ID_NAMESPACE = uuid.UUID("6c1f0f9e-0a51-4a51-9b1e-6b7d5e1c2a10")


class CanaryProgressEvent(TypedDict):
    """Some intervals were judged, the analysis goes on: defer ``CanaryIntervalTrigger(**trigger)``."""

    status: Literal["running"]
    judged: list[dict[str, Any]]
    next_interval: int
    reason: str
    trigger: dict[str, Any]


class CanaryErrorEvent(TypedDict):
    status: Literal["error"]
    message: str
    interval: int


def metric_scope_name(metric: Mapping[str, Any]) -> str:
    return str(metric.get("scopeName") or "default")


class CanaryIntervalTrigger(BaseTrigger):
    """Judge interval ``interval`` of an analysis (and any due right after it), then report.

    :param plan: ``AnalysisPlan.to_dict()``: absolute start, durations, thresholds, policies, seed.
    :param canary_config: the resolved Kayenta canary config.
    :param scopes: Kayenta scope entries by ``scopeName``.
    :param interval: the interval to judge (1-based); ``results`` holds the records of the ones before.
    :param metrics_source: metrics source type (``prometheus``); ``metrics_conn_id`` its connection.
    :param settle_seconds: wait this long after a window ends before querying (scrape lag).
    :param min_deferral_seconds: judge the next interval in this run when it is due sooner than this.
    :param end_from_trigger: end the task here when the analysis is decided (see ``utils.deferral``).
    """

    def __init__(
        self,
        *,
        plan: dict[str, Any],
        canary_config: dict[str, Any],
        scopes: dict[str, dict[str, Any]],
        interval: int,
        results: list[dict[str, Any]] | None = None,
        metrics_source: str = "prometheus",
        metrics_conn_id: str = "prometheus_default",
        settle_seconds: float = 0.0,
        min_deferral_seconds: float = 15.0,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.canary_config = canary_config
        self.scopes = scopes
        self.interval = interval
        self.results = list(results or [])
        self.metrics_source = metrics_source
        self.metrics_conn_id = metrics_conn_id
        self.settle_seconds = settle_seconds
        self.min_deferral_seconds = min_deferral_seconds
        self.end_from_trigger = end_from_trigger
        self._plan = AnalysisPlan.from_dict(plan)
        if not 1 <= interval <= self._plan.count:
            raise ValueError(f"interval {interval} is outside 1..{self._plan.count} of the plan")
        judged = [r.get("interval") for r in self.results]
        if judged != list(range(1, interval)):
            raise ValueError(
                f"results must hold intervals 1..{interval - 1} in order before judging interval {interval}, "
                f"got {judged}"
            )
        if metrics_source not in SOURCE_CONN_KWARG:
            raise ValueError(
                f"metrics_source {metrics_source!r} is not supported; valid: {', '.join(sorted(SOURCE_CONN_KWARG))}"
            )
        if settle_seconds < 0 or min_deferral_seconds < 0:
            raise ValueError(
                f"settle_seconds ({settle_seconds}) and min_deferral_seconds ({min_deferral_seconds}) "
                "must not be negative"
            )
        self._sources: dict[str, MetricsSource] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "plan": self.plan,
                "canary_config": self.canary_config,
                "scopes": self.scopes,
                "interval": self.interval,
                "results": self.results,
                "metrics_source": self.metrics_source,
                "metrics_conn_id": self.metrics_conn_id,
                "settle_seconds": self.settle_seconds,
                "min_deferral_seconds": self.min_deferral_seconds,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    def _next_kwargs(self, interval: int, results: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs = self.serialize()[1]
        kwargs.update(interval=interval, results=results)
        del kwargs["end_from_trigger"]  # decided by whoever defers next (dag.test() or not)
        return kwargs

    @property
    def _settle(self) -> timedelta:
        return timedelta(seconds=self.settle_seconds)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        number = self.interval
        records = list(self.results)
        try:
            while True:
                await _sleep_until(self._plan.due(number, self._settle))
                record = await self.judge_interval(number)
                records.append(record)
                verdict = decide([IntervalOutcome.from_record(r) for r in records], self._plan)
                self.log.info(
                    "Canary interval %d of %d: score %s (%s); running verdict: %s",
                    number,
                    self._plan.count,
                    f"{record['score']:g}",
                    record["classification"],
                    verdict.reason,
                )
                for reason in record["reasons"]:
                    self.log.info("  interval %d: %s", number, reason)
                if verdict.finished:
                    result = analysis_result(
                        records, self._plan, canary_config_name=self.canary_config.get("name")
                    )
                    log = self.log.info if verdict.succeeded else self.log.error
                    log("Canary analysis finished: %s (%s)", verdict.verdict, verdict.reason)
                    yield final_event(
                        end_from_trigger=self.end_from_trigger, succeeded=verdict.succeeded, result=result
                    )
                    return
                number += 1
                wait = (self._plan.due(number, self._settle) - datetime.now(UTC)).total_seconds()
                if self.min_deferral_seconds > 0 and wait < self.min_deferral_seconds:
                    continue  # due (almost) now: judging it here beats resuming a worker for a moment
                progress: CanaryProgressEvent = {
                    "status": "running",
                    "judged": [_summary(r) for r in records[len(self.results) :]],
                    "next_interval": number,
                    "reason": verdict.reason,
                    "trigger": self._next_kwargs(number, records),
                }
                yield TriggerEvent(dict(progress))
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("Canary interval %d failed", number)
            error: CanaryErrorEvent = {
                "status": "error",
                "message": f"canary interval {number} of {self._plan.count} failed: {type(exc).__name__}: {exc}",
                "interval": number,
            }
            # Ended here like any final event (the message is in this log and in the XCom); under
            # dag.test() it reaches execute_complete, which raises with it.
            yield final_event(end_from_trigger=self.end_from_trigger, succeeded=False, result=dict(error))

    async def judge_interval(self, number: int) -> dict[str, Any]:
        """Fetch and judge one interval now; the record goes into the stage's result as is."""
        window = self._plan.window(number)
        pairs = await self._fetch(window.start, window.end)
        problems = [
            DataProblem(
                str(p.get("name")), "error" if p.get("status") == "error" else "nodata", str(p.get("reason"))
            )
            for p in pairs
            if p.get("status") in ("error", "nodata")
        ]
        for problem in problems:
            self.log.warning("Canary interval %d: %s", number, problem.describe())
        wire = [_deterministic_id(jsonable_pair(p), number, i) for i, p in enumerate(pairs)]
        judge_result = await asyncio.to_thread(
            judge, self.canary_config, wire, self._plan.thresholds.to_dict(), seed=self._plan.seed
        )
        assessment = assess_interval(judge_result, problems, self._plan)
        return {
            "interval": number,
            "intervals": self._plan.count,
            "window": window.to_dict(),
            "score": assessment.score,
            "classification": assessment.label,
            "reasons": list(assessment.reasons),
            "warnings": list(assessment.warnings),
            "data_problems": [{"metric": p.metric, "status": p.status, "reason": p.reason} for p in problems],
            "judge_result": judge_result,
        }

    def _source(self) -> MetricsSource:
        source = self._sources.get(self.metrics_source)
        if source is None:
            cls = get_metrics_source_class(self.metrics_source)
            source = cls(**{SOURCE_CONN_KWARG[self.metrics_source]: self.metrics_conn_id})
            self._sources[self.metrics_source] = source
        return source

    async def _fetch(self, start: datetime, end: datetime) -> list[MetricSetPair]:
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)
        source = self._source()

        async def one(metric: Mapping[str, Any]) -> list[MetricSetPair]:
            name = metric_scope_name(metric)
            if name not in self.scopes:
                raise KeyError(
                    f"metric {metric.get('name')!r} uses scope {name!r}, but only "
                    f"{', '.join(sorted(self.scopes))} are defined"
                )
            control, experiment = scopes_from_kayenta(
                self.scopes[name], start=start, end=end, control_offset=self._plan.baseline_offset
            )
            async with limit:
                return await source.afetch_pairs(
                    metric, control, experiment, canary_config=self.canary_config
                )

        batches = await asyncio.gather(*(one(m) for m in self.canary_config.get("metrics") or []))
        return [pair for batch in batches for pair in batch]


async def _sleep_until(moment: datetime) -> None:
    while (remaining := (moment - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(remaining)  # re-checked: the wall clock may jump while we sleep


def _deterministic_id(pair: dict[str, Any], number: int, index: int) -> dict[str, Any]:
    """Sources give pairs random ids; a re-judged interval must produce the very same record."""
    key = f"{number}/{index}/{pair.get('name')}/{sorted((pair.get('tags') or {}).items())}"
    return {**pair, "id": str(uuid.uuid5(_PAIR_ID_NAMESPACE, key))}


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "interval": record["interval"],
        "intervals": record["intervals"],
        "score": record["score"],
        "classification": record["classification"],
        "reasons": record["reasons"],
        "warnings": record["warnings"],
        "window": record["window"],
    }
