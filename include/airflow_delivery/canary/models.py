"""Typed, validated views of Kayenta's JSON: canary config, MetricSetPair list and score thresholds.

Kayenta's JSON formats are our interface, so existing canary configs work unchanged. Kayenta reads its
config through stringly-typed maps with silent defaults (an unknown ``direction`` becomes ``either``); we
accept every value Kayenta documents and *reject* anything else with a :class:`RequestError` whose
``path`` names the bad field (``canaryConfig.metrics[2].analysisConfigurations.canary.direction``), because a
typo that silently changes the verdict is worse than a refused request. Unknown extra keys that Kayenta
itself ignores (``applications``, ``createdTimestamp``, ...) are ignored here too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

import numpy as np

JUDGE_NAME: Final = "NetflixACAJudge-v1.0"
# Kayenta hard-codes these in NetflixACAJudge; a config may override them via judge.judgeConfigurations.
DEFAULT_TOLERANCE: Final = 0.25
DEFAULT_CONFIDENCE_LEVEL: Final = 0.98
# Orca's defaults when a stage gives no thresholds (Kayenta's own API requires them).
DEFAULT_PASS_THRESHOLD: Final = 75.0
DEFAULT_MARGINAL_THRESHOLD: Final = 50.0

Direction = Literal["increase", "decrease", "either"]
NanStrategy = Literal["remove", "replace"]
OutlierStrategy = Literal["keep", "remove"]
EffectSizeMeasure = Literal["meanRatio", "cles"]

T = TypeVar("T")

# Accepted spellings -> canonical value. "none" is Kayenta's documented default for both strategies.
_DIRECTIONS: Final[dict[str, Direction]] = {
    "increase": "increase",
    "decrease": "decrease",
    "either": "either",
}
_NAN_STRATEGIES: Final[dict[str, NanStrategy]] = {"none": "remove", "remove": "remove", "replace": "replace"}
_OUTLIER_STRATEGIES: Final[dict[str, OutlierStrategy]] = {"none": "keep", "keep": "keep", "remove": "remove"}
_MEASURES: Final[dict[str, EffectSizeMeasure]] = {"meanRatio": "meanRatio", "cles": "cles"}
_JUDGE_CONFIGURATION_KEYS: Final = ("tolerance", "confidenceLevel")
# JSON has no NaN/Infinity; Jackson (Kayenta) writes them as these strings, and null means "no point".
_NON_FINITE_STRINGS: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class RequestError(ValueError):
    """A malformed judge request; ``path`` is the JSON path of the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --------------------------------------------------------------------------------------------------
# Parsed shapes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutlierConfig:
    strategy: OutlierStrategy = "keep"
    factor: float = 3.0


@dataclass(frozen=True)
class EffectSizeConfig:
    """Effect-size gate; the defaults depend on the measure (1.0 for meanRatio, 0.5 for CLES)."""

    measure: EffectSizeMeasure = "meanRatio"
    allowed_increase: float = 1.0
    allowed_decrease: float = 1.0
    critical_increase: float = 1.0
    critical_decrease: float = 1.0


@dataclass(frozen=True)
class MetricAnalysisConfig:
    """``metrics[i].analysisConfigurations.canary`` with Kayenta's defaults filled in."""

    direction: Direction = "either"
    nan_strategy: NanStrategy = "remove"
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_size: EffectSizeConfig = field(default_factory=EffectSizeConfig)


@dataclass(frozen=True)
class MetricConfig:
    name: str
    groups: tuple[str, ...]
    analysis: MetricAnalysisConfig
    query: Mapping[str, Any]
    scope_name: str = "default"


@dataclass(frozen=True)
class JudgeSettings:
    """The two numbers Kayenta hard-codes, overridable through ``judge.judgeConfigurations``."""

    name: str = JUDGE_NAME
    tolerance: float = DEFAULT_TOLERANCE
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL


@dataclass(frozen=True)
class CanaryConfig:
    name: str
    metrics: tuple[MetricConfig, ...]
    group_weights: Mapping[str, float]
    judge: JudgeSettings

    def metric(self, name: str) -> MetricConfig | None:
        """First metric with this name, as Kayenta's ``classifyMetric`` looks it up."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        return None


@dataclass(frozen=True)
class MetricSetPair:
    name: str
    id: str | None
    tags: Mapping[str, str]
    control: np.ndarray
    experiment: np.ndarray
    raw_extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreThresholds:
    pass_: float = DEFAULT_PASS_THRESHOLD
    marginal: float = DEFAULT_MARGINAL_THRESHOLD


# --------------------------------------------------------------------------------------------------
# Field readers: each names the path it failed on
# --------------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestError(path, f"expected a JSON object, got {_type_name(value)}")
    return value


def _optional_object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return {} if value is None else _object(value, f"{path}.{key}")


def _array(value: object, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise RequestError(path, f"expected a JSON array, got {_type_name(value)}")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise RequestError(path, f"expected a non-empty string, got {_type_name(value)}")
    return value


def _number(parent: Mapping[str, Any], key: str, path: str, default: float, *, minimum: float = 0.0) -> float:
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"{path}.{key}", f"expected a finite number, got {value!r}")
    if value < minimum:
        raise RequestError(f"{path}.{key}", f"must be >= {minimum:g}, got {value!r}")
    return float(value)


def _boolean(parent: Mapping[str, Any], key: str, path: str) -> bool:
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        # Kayenta casts raw, so a JSON string "true" fails there too; say how to fix it.
        raise RequestError(f"{path}.{key}", f"expected true or false (a JSON boolean), got {value!r}")
    return value


def _choice(parent: Mapping[str, Any], key: str, path: str, choices: Mapping[str, T], default: str) -> T:
    value = parent.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise RequestError(f"{path}.{key}", f"unknown value {value!r}; use one of {valid}")
    return choices[value]


# --------------------------------------------------------------------------------------------------
# Canary config
# --------------------------------------------------------------------------------------------------


def _parse_effect_size(canary: Mapping[str, Any], path: str) -> EffectSizeConfig:
    raw = _optional_object(canary, "effectSize", path)
    path = f"{path}.effectSize"
    measure = _choice(raw, "measure", path, _MEASURES, "meanRatio")
    default = 0.5 if measure == "cles" else 1.0
    return EffectSizeConfig(
        measure=measure,
        allowed_increase=_number(raw, "allowedIncrease", path, default),
        allowed_decrease=_number(raw, "allowedDecrease", path, default),
        critical_increase=_number(raw, "criticalIncrease", path, default),
        critical_decrease=_number(raw, "criticalDecrease", path, default),
    )


def parse_metric_analysis(raw_metric: Mapping[str, Any], path: str) -> MetricAnalysisConfig:
    """Read ``analysisConfigurations.canary`` (every key optional, Kayenta defaults)."""
    analysis = _optional_object(raw_metric, "analysisConfigurations", path)
    path = f"{path}.analysisConfigurations"
    canary = _optional_object(analysis, "canary", path)
    path = f"{path}.canary"
    outliers_raw = _optional_object(canary, "outliers", path)
    outliers_path = f"{path}.outliers"
    return MetricAnalysisConfig(
        direction=_choice(canary, "direction", path, _DIRECTIONS, "either"),
        nan_strategy=_choice(canary, "nanStrategy", path, _NAN_STRATEGIES, "none"),
        outliers=OutlierConfig(
            strategy=_choice(outliers_raw, "strategy", outliers_path, _OUTLIER_STRATEGIES, "none"),
            factor=_number(outliers_raw, "outlierFactor", outliers_path, 3.0),
        ),
        critical=_boolean(canary, "critical", path),
        must_have_data=_boolean(canary, "mustHaveData", path),
        muted=_boolean(canary, "muted", path),
        effect_size=_parse_effect_size(canary, path),
    )


def _parse_metric(raw: object, path: str) -> MetricConfig:
    metric = _object(raw, path)
    groups_raw = metric.get("groups")
    groups: tuple[str, ...] = ()
    if groups_raw is not None:
        groups = tuple(
            _string(g, f"{path}.groups[{i}]") for i, g in enumerate(_array(groups_raw, f"{path}.groups"))
        )
    query = metric.get("query")
    return MetricConfig(
        name=_string(metric.get("name"), f"{path}.name"),
        groups=groups,
        analysis=parse_metric_analysis(metric, path),
        query=_object(query, f"{path}.query") if query is not None else {},
        scope_name=_string(metric.get("scopeName", "default"), f"{path}.scopeName"),
    )


def _parse_judge(config: Mapping[str, Any], path: str) -> JudgeSettings:
    judge = _optional_object(config, "judge", path)
    path = f"{path}.judge"
    name = judge.get("name", JUDGE_NAME)
    if name != JUDGE_NAME:
        raise RequestError(f"{path}.name", f"unsupported judge {name!r}; only {JUDGE_NAME!r} is implemented")
    settings = _optional_object(judge, "judgeConfigurations", path)
    path = f"{path}.judgeConfigurations"
    for key in settings:
        if key not in _JUDGE_CONFIGURATION_KEYS:
            raise RequestError(
                f"{path}.{key}", f"unknown setting; use {' or '.join(_JUDGE_CONFIGURATION_KEYS)}"
            )
    confidence = _number(settings, "confidenceLevel", path, DEFAULT_CONFIDENCE_LEVEL)
    if not 0.0 < confidence < 1.0:
        raise RequestError(f"{path}.confidenceLevel", f"must be strictly between 0 and 1, got {confidence!r}")
    return JudgeSettings(
        name=JUDGE_NAME,
        tolerance=_number(settings, "tolerance", path, DEFAULT_TOLERANCE),
        confidence_level=confidence,
    )


def parse_canary_config(raw: object, path: str = "canaryConfig") -> CanaryConfig:
    """Validate a Kayenta canary config; raise :class:`RequestError` naming the first bad field."""
    config = _object(raw, path)
    metrics_raw = config.get("metrics")
    if metrics_raw is None:
        raise RequestError(f"{path}.metrics", "missing; a canary config needs at least one metric")
    metrics = tuple(
        _parse_metric(m, f"{path}.metrics[{i}]") for i, m in enumerate(_array(metrics_raw, f"{path}.metrics"))
    )
    if not metrics:
        raise RequestError(f"{path}.metrics", "empty; a canary config needs at least one metric")
    classifier = _optional_object(config, "classifier", path)
    weights_raw = _optional_object(classifier, "groupWeights", f"{path}.classifier")
    weights_path = f"{path}.classifier.groupWeights"
    weights = {str(group): _number(weights_raw, group, weights_path, 0.0) for group in weights_raw}
    name = config.get("name")
    return CanaryConfig(
        name=name if isinstance(name, str) else "",
        metrics=metrics,
        group_weights=weights,
        judge=_parse_judge(config, path),
    )


# --------------------------------------------------------------------------------------------------
# MetricSetPairs
# --------------------------------------------------------------------------------------------------


def _parse_values(raw: object, path: str) -> np.ndarray:
    values = _array(raw, path)
    # Fast path: a list of plain numbers becomes a float/int array in C. Anything else (null, "NaN",
    # junk) yields an object/str/bool array and is checked value by value, naming the bad index.
    # (numpy turns a boolean *mixed with numbers* into 1.0/0.0; Jackson would coerce it too.)
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):  # ragged nested lists
        array = np.asarray(values, dtype=object)
    if array.ndim == 1 and array.dtype.kind in "fiu":
        return array.astype(float, copy=False)
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        if v is None:
            out[i] = math.nan
        elif isinstance(v, str) and v in _NON_FINITE_STRINGS:
            out[i] = _NON_FINITE_STRINGS[v]
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = float(v)
        else:
            raise RequestError(f"{path}[{i}]", f'expected a number, null or "NaN", got {v!r}')
    return out


def parse_metric_set_pair(raw: object, path: str) -> MetricSetPair:
    pair = _object(raw, path)
    values = _object(pair.get("values"), f"{path}.values")
    sides = {}
    for side in ("control", "experiment"):
        if side not in values:
            raise RequestError(f"{path}.values.{side}", "missing; give a list of numbers (empty if no data)")
        sides[side] = _parse_values(values[side], f"{path}.values.{side}")
    tags_raw = pair.get("tags")
    tags = (
        {str(k): str(v) for k, v in _object(tags_raw, f"{path}.tags").items()} if tags_raw is not None else {}
    )
    pair_id = pair.get("id")
    # "status"/"reason" are set by our metrics sources when a fetch failed or found no samples.
    extra = {k: v for k, v in pair.items() if k in ("attributes", "scopes", "status", "reason")}
    return MetricSetPair(
        name=_string(pair.get("name"), f"{path}.name"),
        id=str(pair_id) if pair_id is not None else None,
        tags=tags,
        control=sides["control"],
        experiment=sides["experiment"],
        raw_extra=extra,
    )


def parse_metric_set_pairs(
    raw: object, config: CanaryConfig, path: str = "metricSetPairList"
) -> tuple[MetricSetPair, ...]:
    """Validate the pairs; each must name a metric of ``config`` (else Kayenta fails the whole judgment)."""
    pairs = tuple(parse_metric_set_pair(p, f"{path}[{i}]") for i, p in enumerate(_array(raw, path)))
    known = [m.name for m in config.metrics]
    for i, pair in enumerate(pairs):
        if config.metric(pair.name) is None:
            raise RequestError(
                f"{path}[{i}].name", f"no metric {pair.name!r} in the canary config; known metrics: {known}"
            )
    return pairs


# --------------------------------------------------------------------------------------------------
# Score thresholds
# --------------------------------------------------------------------------------------------------


def parse_score_thresholds(raw: object, path: str = "scoreThresholds") -> ScoreThresholds:
    """``{pass, marginal}``; absent means Orca's defaults (75 / 50)."""
    if raw is None:
        return ScoreThresholds()
    thresholds = _object(raw, path)
    pass_ = _number(thresholds, "pass", path, DEFAULT_PASS_THRESHOLD)
    marginal = _number(thresholds, "marginal", path, DEFAULT_MARGINAL_THRESHOLD)
    if marginal > pass_:
        raise RequestError(f"{path}.marginal", f"marginal ({marginal:g}) must not exceed pass ({pass_:g})")
    return ScoreThresholds(pass_=pass_, marginal=marginal)
