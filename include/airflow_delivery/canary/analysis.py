"""The canary stage's schedule and decisions: Orca's multi-interval analysis, as pure functions.

Orca's ``kayentaCanary`` stage (and Kayenta's standalone analysis) split a canary's lifetime into
``n = floor(lifetime / interval)`` judgements, each on its own window (canary-judge.md section 9):

* window ``i`` ends at ``start + begin_after + i * interval`` (real time; a retrospective analysis,
  whose end time was given, ignores ``begin_after`` for the windows);
* without ``lookback`` the windows grow from the start, with it they slide (``[end - lookback, end]``);
* the control (baseline) window is the experiment window shifted back by ``baseline_offset``.

Decisions (section 9.2): an interval scoring at or below the marginal threshold ends the analysis at
once as failed; earlier intervals only need to stay above marginal; the last interval's score decides:
pass when it reaches the pass threshold, otherwise it is a marginal result which fails by default.
Beyond Orca, ``on_marginal`` can let the pipeline continue on a marginal result or hand it to a person
(``needs_judgment``), and missing data always fails safe: an interval where the metrics backend failed,
or (by default) any metric had no data, is labelled ``Nodata`` and ends the analysis with the reasons,
instead of Kayenta's silent "a group without data counts as 100".

Times are timezone-aware datetimes; durations are ``timedelta`` (Orca uses whole minutes, we allow
seconds so tests and short canaries can run). Everything here serialises to JSON with ``to_dict`` and
back with ``from_dict``, because the plan and the results travel in trigger kwargs and XCom.
No Airflow import: the operator and the trigger are thin shells around this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

OnMarginal = Literal["fail", "continue", "ask"]
OnMissingData = Literal["fail", "judge"]
IntervalLabel = Literal["Pass", "Marginal", "Fail", "Nodata", "Error"]
VerdictLabel = Literal["Pass", "Marginal", "Fail"]

ON_MARGINAL: tuple[str, ...] = get_args(OnMarginal)
ON_MISSING_DATA: tuple[str, ...] = get_args(OnMissingData)

DEFAULT_PASS = 75.0
DEFAULT_MARGINAL = 50.0
#: Kayenta/Orca warn when a control series has fewer points than this (canary-judge.md 9.3).
LOW_DATA_POINTS = 50
LOW_DATA_WARNING = (
    "One of the metrics returned fewer than 50 data points, which can reduce confidence in the final "
    "canary score."
)
_MISSING = ("Nodata", "NodataFailMetric")


class AnalysisConfigError(ValueError):
    """A canary analysis option is invalid; the message names the option and quotes its value."""


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise AnalysisConfigError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def parse_time(value: datetime | str, name: str) -> datetime:
    """An aware datetime from a datetime or an ISO-8601 string (``Z`` accepted)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)  # Python 3.11 reads a trailing "Z"
        except ValueError:
            raise AnalysisConfigError(f"{name} {value!r} is not an ISO-8601 time") from None
        if value.tzinfo is None:
            raise AnalysisConfigError(f"{name} {value.isoformat()!r} has no time zone; add 'Z' or an offset")
    return _aware(value, name)


def to_duration(value: timedelta | float | None, name: str, *, allow_zero: bool = True) -> timedelta:
    """A ``timedelta`` from a timedelta or a number of seconds; negative (or zero) values are refused."""
    if value is None:
        return timedelta(0)
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise AnalysisConfigError(f"{name} must be a timedelta or a number of seconds, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise AnalysisConfigError(f"{name} must be finite, got {value!r}")
    duration = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if duration < timedelta(0):
        raise AnalysisConfigError(f"{name} must not be negative, got {value!r}")
    if not allow_zero and duration == timedelta(0):
        raise AnalysisConfigError(f"{name} must be more than zero, got {value!r}")
    return duration


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds (Orca's defaults: pass 75, marginal 50)."""

    pass_: float = DEFAULT_PASS
    marginal: float = DEFAULT_MARGINAL

    def __post_init__(self) -> None:
        for name, value in (("pass", self.pass_), ("marginal", self.marginal)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
                raise AnalysisConfigError(
                    f"score_thresholds.{name} must be a number from 0 to 100, got {value!r}"
                )
        if self.marginal > self.pass_:
            raise AnalysisConfigError(
                f"score_thresholds.marginal ({self.marginal:g}) must not exceed score_thresholds.pass "
                f"({self.pass_:g})"
            )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Thresholds:
        """``{"pass": .., "marginal": ..}``; numbers given as strings (as Deck saves them) are accepted."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise AnalysisConfigError(
                f"score_thresholds must be a mapping with pass and marginal, got {raw!r}"
            )
        unknown = sorted(set(raw) - {"pass", "marginal"})
        if unknown:
            raise AnalysisConfigError(
                f"score_thresholds has unknown keys {unknown}; only 'pass' and 'marginal' are allowed"
            )
        values: dict[str, float] = {}
        for key, default in (("pass", DEFAULT_PASS), ("marginal", DEFAULT_MARGINAL)):
            value = raw.get(key, default)
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise AnalysisConfigError(f"score_thresholds.{key} {value!r} is not a number") from None
            values[key] = value
        return cls(pass_=values["pass"], marginal=values["marginal"])

    def to_dict(self) -> dict[str, float]:
        return {"pass": self.pass_, "marginal": self.marginal}


@dataclass(frozen=True)
class IntervalWindow:
    """The experiment and control windows of one judgement; ``number`` counts from 1."""

    number: int
    count: int
    start: datetime
    end: datetime
    control_start: datetime
    control_end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": {"start": _iso(self.start), "end": _iso(self.end)},
            "control": {"start": _iso(self.control_start), "end": _iso(self.control_end)},
        }


@dataclass(frozen=True)
class AnalysisPlan:
    """When each interval is judged and how the results are decided.

    :param start: the analysis start (Orca: the scope's ``startTimeIso``, or when the stage started).
    :param lifetime: how long the canary runs (Orca ``lifetimeDuration``); for a retrospective analysis,
        the time from ``start`` to the scope's ``endTimeIso``.
    :param interval: the analysis interval (``canaryAnalysisIntervalMins``); zero or more than the
        lifetime means one judgement over the whole lifetime, as in Orca.
    :param begin_after: warm-up before the first window (``beginCanaryAnalysisAfterMins``).
    :param lookback: zero for growing windows, else the length of a sliding window (``lookbackMins``).
    :param baseline_offset: how far the control window lies before the experiment window
        (``baselineAnalysisOffsetInMins``).
    :param retrospective: the end time was given (Orca/Kayenta then do not apply ``begin_after`` to the
        windows; the stage still waits for it).
    :param on_marginal: what a final score above marginal but below pass does: ``fail`` (Orca),
        ``continue`` (the stage succeeds, verdict Marginal) or ``ask`` (the stage succeeds with
        ``needs_judgment`` so a manual-judgment stage decides).
    :param on_missing_data: ``fail`` (default): any non-muted metric without data fails the interval
        as Nodata; ``judge``: only Kayenta's own rules apply (50 % Nodata, ``mustHaveData``). A metrics
        backend failure always fails the interval, as it fails a Kayenta execution.
    :param seed: seed for the judge's tie-breaking noise, so a re-judged window gives the same result.
    """

    start: datetime
    lifetime: timedelta
    interval: timedelta = timedelta(0)
    begin_after: timedelta = timedelta(0)
    lookback: timedelta = timedelta(0)
    baseline_offset: timedelta = timedelta(0)
    retrospective: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)
    on_marginal: OnMarginal = "fail"
    on_missing_data: OnMissingData = "fail"
    seed: int = 0

    def __post_init__(self) -> None:
        _aware(self.start, "analysis start")
        for name in ("lifetime", "interval", "begin_after", "lookback", "baseline_offset"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                raise AnalysisConfigError(f"{name} must be a timedelta, got {value!r}")
            if value < timedelta(0):
                raise AnalysisConfigError(f"{name} must not be negative, got {value}")
        if self.lifetime <= timedelta(0):
            raise AnalysisConfigError(f"lifetime must be more than zero, got {self.lifetime}")
        if self.on_marginal not in ON_MARGINAL:
            raise AnalysisConfigError(
                f"on_marginal {self.on_marginal!r} is not one of {', '.join(repr(v) for v in ON_MARGINAL)}"
            )
        if self.on_missing_data not in ON_MISSING_DATA:
            raise AnalysisConfigError(
                f"on_missing_data {self.on_missing_data!r} is not one of "
                f"{', '.join(repr(v) for v in ON_MISSING_DATA)}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise AnalysisConfigError(f"seed must be an integer, got {self.seed!r}")

    @property
    def effective_interval(self) -> timedelta:
        """Orca: an interval of zero or longer than the lifetime becomes the lifetime."""
        if self.interval == timedelta(0) or self.interval > self.lifetime:
            return self.lifetime
        return self.interval

    @property
    def count(self) -> int:
        """Number of judgements; the remainder of the lifetime after the last whole interval is unused."""
        return int(self.lifetime // self.effective_interval)

    def window(self, number: int) -> IntervalWindow:
        if not 1 <= number <= self.count:
            raise AnalysisConfigError(f"interval {number} is outside 1..{self.count}")
        warmup = timedelta(0) if self.retrospective else self.begin_after
        end = self.start + warmup + number * self.effective_interval
        start = end - self.lookback if self.lookback > timedelta(0) else self.start + warmup
        return IntervalWindow(
            number=number,
            count=self.count,
            start=start,
            end=end,
            control_start=start - self.baseline_offset,
            control_end=end - self.baseline_offset,
        )

    def windows(self) -> tuple[IntervalWindow, ...]:
        return tuple(self.window(i) for i in range(1, self.count + 1))

    def due(self, number: int, settle: timedelta = timedelta(0)) -> datetime:
        """When interval ``number`` can be judged: its window is over (plus ``settle`` for scrape lag).

        Never before the warm-up is over, even for a retrospective analysis (Orca's warm-up wait).
        """
        return max(self.window(number).end, self.start + self.begin_after) + settle

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "lifetime_seconds": self.lifetime.total_seconds(),
            "interval_seconds": self.interval.total_seconds(),
            "begin_after_seconds": self.begin_after.total_seconds(),
            "lookback_seconds": self.lookback.total_seconds(),
            "baseline_offset_seconds": self.baseline_offset.total_seconds(),
            "retrospective": self.retrospective,
            "score_thresholds": self.thresholds.to_dict(),
            "on_marginal": self.on_marginal,
            "on_missing_data": self.on_missing_data,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AnalysisPlan:
        def seconds(key: str) -> timedelta:
            return timedelta(seconds=float(raw[key]))

        return cls(
            start=parse_time(raw["start"], "plan.start"),
            lifetime=seconds("lifetime_seconds"),
            interval=seconds("interval_seconds"),
            begin_after=seconds("begin_after_seconds"),
            lookback=seconds("lookback_seconds"),
            baseline_offset=seconds("baseline_offset_seconds"),
            retrospective=bool(raw["retrospective"]),
            thresholds=Thresholds.from_dict(raw["score_thresholds"]),
            on_marginal=raw["on_marginal"],
            on_missing_data=raw["on_missing_data"],
            seed=int(raw["seed"]),
        )


@dataclass(frozen=True)
class DataProblem:
    """A metric whose data could not be used: the metrics source's ``status``/``reason`` of a pair."""

    metric: str
    status: Literal["error", "nodata"]
    reason: str

    def describe(self) -> str:
        return f"{self.metric}: {self.reason}"


def interval_label(score: float, thresholds: Thresholds) -> Literal["Pass", "Marginal", "Fail"]:
    """Orca's reading of a score: at or below marginal fails (the judge itself says Marginal at equality)."""
    if score >= thresholds.pass_:
        return "Pass"
    if score > thresholds.marginal:
        return "Marginal"
    return "Fail"


@dataclass(frozen=True)
class IntervalAssessment:
    label: IntervalLabel
    score: float
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]


def _judge_score(judge_result: Mapping[str, Any]) -> float:
    raw: Any = (judge_result.get("score") or {}).get("score")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def assess_interval(
    judge_result: Mapping[str, Any],
    problems: Sequence[DataProblem],
    plan: AnalysisPlan,
) -> IntervalAssessment:
    """Label one judged interval, failing safe on missing data and saying why.

    ``problems`` are the pairs the metrics source could not fill (backend errors, no samples).
    Order of rules: a backend error -> Nodata; (``on_missing_data="fail"``) a non-muted metric the
    judge found no data for -> Nodata, one it could not compare -> Error; else the score decides.
    A Nodata or Error interval scores 0 whatever the judge said: Kayenta ignores Error and Nodata
    metrics and counts a group without data as 100, so with every fetch failed its score is 100.
    """
    score = _judge_score(judge_result)
    results = [r for r in judge_result.get("results", []) if isinstance(r, Mapping)]
    warnings = (
        (LOW_DATA_WARNING,)
        if any(_count(r.get("controlMetadata")) < LOW_DATA_POINTS for r in results)
        else ()
    )
    reason_of = {p.metric: p.reason for p in problems}
    errors = [p for p in problems if p.status == "error"]
    if errors:
        return IntervalAssessment(
            "Nodata", 0.0, tuple(f"metrics could not be fetched: {p.describe()}" for p in errors), warnings
        )
    if plan.on_missing_data == "fail":
        live = [r for r in results if not r.get("muted")]
        missing = [r for r in live if r.get("classification") in _MISSING]
        if missing:
            return IntervalAssessment(
                "Nodata",
                0.0,
                tuple(
                    f"no data for metric {r.get('name')!r}: "
                    f"{reason_of.get(str(r.get('name'))) or r.get('classificationReason') or 'no usable samples'}"
                    for r in missing
                ),
                warnings,
            )
        broken = [r for r in live if r.get("classification") == "Error"]
        if broken:
            return IntervalAssessment(
                "Error",
                0.0,
                tuple(
                    f"metric {r.get('name')!r} could not be judged: {r.get('classificationReason') or 'unknown error'}"
                    for r in broken
                ),
                warnings,
            )
    label = interval_label(score, plan.thresholds)
    reason = str((judge_result.get("score") or {}).get("classificationReason") or "")
    reasons = [reason] if reason else []
    reasons += [f"(ignored by on_missing_data='judge') {p.describe()}" for p in problems]
    return IntervalAssessment(label, score, tuple(reasons), warnings)


def _count(metadata: Any) -> float:
    try:
        return float(metadata["stats"]["count"])
    except (KeyError, TypeError, ValueError):
        return math.inf


@dataclass(frozen=True)
class IntervalOutcome:
    """What the decision rules need from a judged interval (the full record keeps more)."""

    number: int
    score: float
    label: IntervalLabel
    reasons: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IntervalOutcome:
        return cls(
            number=int(record["interval"]),
            score=float(record["score"]),
            label=record["classification"],
            reasons=tuple(record.get("reasons") or ()),
        )


@dataclass(frozen=True)
class Verdict:
    """The analysis so far: ``finished`` once a decision is made.

    ``verdict`` is the canary's quality (Pass / Marginal / Fail); ``succeeded`` is whether the stage
    succeeds (a Marginal verdict succeeds only with ``on_marginal`` ``continue`` or ``ask``).
    """

    finished: bool
    verdict: VerdictLabel | None
    succeeded: bool
    needs_judgment: bool
    stopped_early: bool
    score: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "finished": self.finished,
            "verdict": self.verdict,
            "succeeded": self.succeeded,
            "needs_judgment": self.needs_judgment,
            "stopped_early": self.stopped_early,
            "score": self.score,
            "reason": self.reason,
        }


def decide(outcomes: Sequence[IntervalOutcome], plan: AnalysisPlan) -> Verdict:
    """Apply Orca's fail-fast and final rules (plus ``on_marginal``) to the intervals judged so far."""
    count, thresholds = plan.count, plan.thresholds
    if not outcomes:
        return Verdict(False, None, False, False, False, None, f"no interval of {count} judged yet")
    last = outcomes[-1]
    where = f"interval {last.number} of {count}"
    early = last.number < count
    if last.label in ("Nodata", "Error"):
        detail = "; ".join(last.reasons) or "no usable data"
        return Verdict(True, "Fail", False, False, early, last.score, f"{where} failed safe: {detail}")
    if last.score <= thresholds.marginal:
        return Verdict(
            True,
            "Fail",
            False,
            False,
            early,
            last.score,
            f"canary score {last.score:g} of {where} is not above the marginal score threshold "
            f"{thresholds.marginal:g}",
        )
    if early:
        return Verdict(
            False,
            None,
            False,
            False,
            False,
            last.score,
            f"score {last.score:g} of {where} is above the marginal score threshold {thresholds.marginal:g}",
        )
    if last.score >= thresholds.pass_:
        return Verdict(
            True,
            "Pass",
            True,
            False,
            False,
            last.score,
            f"final canary score {last.score:g} met or exceeded the pass score threshold {thresholds.pass_:g}",
        )
    marginal = (
        f"final canary score {last.score:g} is between the marginal ({thresholds.marginal:g}) and pass "
        f"({thresholds.pass_:g}) score thresholds"
    )
    if plan.on_marginal == "continue":
        return Verdict(True, "Marginal", True, False, False, last.score, f"{marginal}; continuing as asked")
    if plan.on_marginal == "ask":
        return Verdict(
            True, "Marginal", True, True, False, last.score, f"{marginal}; a person has to judge it"
        )
    return Verdict(
        True, "Marginal", False, False, False, last.score, f"{marginal}; failing (on_marginal='fail')"
    )


def next_interval(outcomes: Sequence[IntervalOutcome], plan: AnalysisPlan) -> int | None:
    """The interval to judge next, or None when the analysis is decided."""
    if decide(outcomes, plan).finished:
        return None
    return len(outcomes) + 1


def analysis_result(
    records: Sequence[Mapping[str, Any]], plan: AnalysisPlan, *, canary_config_name: str | None = None
) -> dict[str, Any]:
    """The stage's XCom: every interval's record (with its full judge result) and the verdict."""
    verdict = decide([IntervalOutcome.from_record(r) for r in records], plan)
    reasons: list[str] = [verdict.reason]
    for record in records:
        reasons += [f"interval {record['interval']}: {r}" for r in record.get("reasons") or ()]
    return {
        "status": "success" if verdict.succeeded else "failed",
        "verdict": verdict.verdict,
        "succeeded": verdict.succeeded,
        "needs_judgment": verdict.needs_judgment,
        "score": verdict.score,
        "reason": verdict.reason,
        "reasons": list(dict.fromkeys(reasons)),
        "stopped_early": verdict.stopped_early,
        "intervals_judged": len(records),
        "intervals_planned": plan.count,
        "score_thresholds": plan.thresholds.to_dict(),
        "on_marginal": plan.on_marginal,
        "canary_config": canary_config_name,
        "plan": plan.to_dict(),
        "intervals": [dict(r) for r in records],
    }
