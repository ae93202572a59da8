"""``canary``: Kayenta-style automated canary analysis of a canary against its baseline."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import Duration, Model, StageBase, parse_duration


class CanaryScopes(Model):
    """Which series are the baseline (control) and which the canary (experiment), as Kayenta scopes."""

    control: str = Field(..., min_length=1, description="Control scope, e.g. the baseline pods' label value.")
    experiment: str = Field(..., min_length=1, description="Experiment scope, e.g. the canary pods' label value.")
    location: str = Field("", description="Location (namespace, region) substituted as ${location}.")
    control_location: str | None = None
    experiment_location: str | None = None
    step: int = Field(60, ge=1, le=3600, description="Seconds between data points.")
    extended: dict[str, str] = Field(default_factory=dict, description="Extra ${placeholders} for queries.")

    def kayenta(self) -> dict[str, Any]:
        return {
            "scopeName": "default",
            "controlScope": self.control,
            "controlLocation": self.control_location or self.location,
            "experimentScope": self.experiment,
            "experimentLocation": self.experiment_location or self.location,
            "step": self.step,
            "extendedScopeParams": dict(self.extended),
        }


class CanaryThresholds(Model):
    pass_: float = Field(75, alias="pass", ge=0, le=100)
    marginal: float = Field(50, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> CanaryThresholds:
        if self.marginal > self.pass_:
            raise ValueError(f"marginal ({self.marginal:g}) must not exceed pass ({self.pass_:g})")
        return self


class CanaryMetrics(Model):
    source: Literal["prometheus"] = "prometheus"
    connection: str = Field("prometheus_default", description="Airflow connection of the metrics source.")


class CanaryStage(StageBase):
    """Judge the canary interval by interval; deferred between intervals (no worker slot held)."""

    type: Literal["canary"]
    config: str | dict[str, Any] = Field(
        ..., description="A Kayenta canary config: inline, a path to its JSON file, or a packaged name "
        "(latency, error-rate, saturation, golden-signals)."
    )
    scopes: CanaryScopes
    metrics: CanaryMetrics = Field(default_factory=CanaryMetrics)
    lifetime: Duration = Field(..., description="How long the analysis runs, e.g. '30m'.")
    interval: Duration | None = Field(None, description="Length of each judged interval (default: lifetime).")
    begin_after: Duration = Field(0, description="Warm-up before the first interval starts.")
    lookback: Duration = Field(0, description="Sliding window length; 0 means windows grow from the start.")
    baseline_offset: Duration = Field(0, description="Shift of the control window back in time.")
    thresholds: CanaryThresholds = Field(default_factory=CanaryThresholds)
    on_marginal: Literal["fail", "continue", "ask"] = "fail"
    on_missing_data: Literal["fail", "judge"] = "fail"
    settle_delay: Duration = Field(0, description="Wait after a window ends before querying (scrape lag).")

    @field_validator("lifetime", "interval", "begin_after", "lookback", "baseline_offset", "settle_delay")
    @classmethod
    def _check_duration(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _check_interval(self) -> CanaryStage:
        if parse_duration(self.lifetime).total_seconds() <= 0:
            raise ValueError("lifetime must be longer than 0s")
        if self.interval is not None:
            interval = parse_duration(self.interval)
            if interval.total_seconds() <= 0 or interval > parse_duration(self.lifetime):
                raise ValueError(f"interval {self.interval!r} must be positive and at most the lifetime")
        return self


MODEL = CanaryStage


def build(stage: CanaryStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.canary import CanaryAnalysisOperator

    return CanaryAnalysisOperator(
        canary_config=stage.config,
        scopes=stage.scopes.kayenta(),
        lifetime=parse_duration(stage.lifetime),
        analysis_interval=parse_duration(stage.interval) if stage.interval is not None else None,
        begin_after=parse_duration(stage.begin_after),
        lookback=parse_duration(stage.lookback),
        baseline_offset=parse_duration(stage.baseline_offset),
        score_thresholds={"pass": stage.thresholds.pass_, "marginal": stage.thresholds.marginal},
        on_marginal=stage.on_marginal,
        on_missing_data=stage.on_missing_data,
        metrics_source=stage.metrics.source,
        metrics_conn_id=stage.metrics.connection,
        settle_delay=parse_duration(stage.settle_delay),
        **common,
    )
