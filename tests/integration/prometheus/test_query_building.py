"""Pure parts of the Prometheus metrics source (no server): PromQL building, templates, alignment, pairing.

Expected queries are the strings Kayenta's ``PrometheusMetricsService.buildQuery`` produces for the same
config. These tests need no Prometheus, so they carry no ``integration`` marker; they live next to the
real-Prometheus tests of the same source.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from airflow_delivery.metrics.promql import build_prometheus_query, expand_template, template_bindings
from airflow_delivery.metrics.series import TaggedValues, TagMismatchError, align, mix
from airflow_delivery.metrics.source import (
    METRICS_SOURCES,
    MetricQueryConfigError,
    MetricScope,
    UnknownMetricsSourceError,
    failed_pair,
    get_metrics_source_class,
    jsonable_pair,
    metrics_source_for,
    scopes_from_kayenta,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def scope(name: str = "demo-canary", location: str = "shop", **params: str) -> MetricScope:
    return MetricScope(
        scope=name,
        start=T0,
        end=T0 + timedelta(minutes=5),
        step=60,
        location=location,
        extended_params=params,
    )


def metric(**query: object) -> dict[str, object]:
    return {"name": "cpu", "query": {"type": "prometheus", **query}}


# -- query building -------------------------------------------------------------------------------


def test_custom_filter_then_label_bindings_then_avg_and_group_by():
    query = build_prometheus_query(
        metric(
            metricName="container_cpu_usage_seconds_total",
            labelBindings=['container="app"'],
            groupByFields=["pod", "namespace"],
            customInlineTemplate='pod=~"${scope}-.*",namespace="${location}"',
        ),
        scope(),
    )
    assert query == (
        'avg(container_cpu_usage_seconds_total{pod=~"demo-canary-.*",namespace="shop",container="app"})'
        " by (pod,namespace)"
    )


def test_promql_prefix_is_used_verbatim():
    query = build_prometheus_query(
        metric(customInlineTemplate='PromQL:sum(rate(http_requests_total{app="${scope}"}[5m]))'), scope()
    )
    assert query == 'sum(rate(http_requests_total{app="demo-canary"}[5m]))'


def test_named_template_and_kayenta_escaping():
    config = {"templates": {"t": 'PromQL:up{job="$\\{scope}",zone="${region}"}'}}
    assert build_prometheus_query(metric(customFilterTemplate="t"), scope(region="eu"), config) == (
        'up{job="demo-canary",zone="eu"}'
    )


def test_inline_template_wins_over_named_template():
    config = {"templates": {"t": "PromQL:named"}}
    assert (
        build_prometheus_query(
            metric(customInlineTemplate="PromQL:inline", customFilterTemplate="t"), scope(), config
        )
        == "inline"
    )


def test_gce_instance_filters():
    query = build_prometheus_query(
        metric(metricName="cpu", resourceType="gce_instance"),
        scope("myapp-v010", "us-central1", project="p1"),
    )
    assert query == 'avg(cpu{instance=~"myapp-v010-.{4}",zone=~".+/projects/p1/zones/us-central1-.{1}"})'


def test_aws_ec2_instance_filters_with_resource_type_from_scope():
    query = build_prometheus_query(
        metric(metricName="cpu"), scope("myapp-v010", "us-east-1", resourceType="aws_ec2_instance")
    )
    assert query == 'avg(cpu{asg_groupName="myapp-v010",zone=~"us-east-1.{1}"})'


@pytest.mark.parametrize(
    ("query", "canary_config", "fragment"),
    [
        ({"metricName": "cpu"}, None, "a resourceType or a custom filter template"),
        ({"metricName": "cpu", "resourceType": "k8s_pod"}, None, "resourceType 'k8s_pod' is not supported"),
        ({"metricName": "cpu", "resourceType": "gce_instance"}, None, "location .* is required"),
        ({"customInlineTemplate": 'pod="${scope}"'}, None, "metricName is required"),
        ({"customFilterTemplate": "t"}, None, "defines no templates"),
        (
            {"customFilterTemplate": "t"},
            {"templates": {"u": "x"}},
            "'t', which is not in templates .defined: u",
        ),
        ({"customFilter": "a=b", "metricName": "cpu"}, None, "customFilter is deprecated"),
        (
            {"metricName": "cpu", "labelBindings": "a=b", "customInlineTemplate": "x"},
            None,
            "labelBindings must be a list",
        ),
    ],
)
def test_config_errors_name_metric_and_field(query, canary_config, fragment):
    location = "" if query.get("resourceType") == "gce_instance" else "shop"
    with pytest.raises(MetricQueryConfigError, match=fragment) as info:
        build_prometheus_query(metric(**query), scope(location=location), canary_config)
    assert "metric 'cpu'" in str(info.value)


def test_wrong_query_type():
    with pytest.raises(
        MetricQueryConfigError, match=r"metric 'cpu'.query.type is 'datadog', expected 'prometheus'"
    ):
        build_prometheus_query({"name": "cpu", "query": {"type": "datadog"}}, scope())


def test_undefined_placeholders_are_all_named():
    with pytest.raises(MetricQueryConfigError) as info:
        build_prometheus_query(
            metric(customInlineTemplate='PromQL:up{a="${cluster}",b="${team}",c="${scope}"}'),
            scope(env="prod"),
        )
    message = str(info.value)
    assert "metric 'cpu'.query.customInlineTemplate" in message
    assert "'${cluster}' is not defined" in message and "'${team}' is not defined" in message
    assert "(defined: env, location, scope)" in message


def test_freemarker_expressions_are_rejected():
    with pytest.raises(
        MetricQueryConfigError, match=r"unsupported template expression '\$\{scope\?lower_case\}'"
    ):
        expand_template("${scope?lower_case}", {"scope": "x"}, where="t")


def test_binding_precedence_scope_then_query_config_then_extended_params():
    assert template_bindings(scope(location="a"), {}) == {"scope": "demo-canary", "location": "a"}
    assert (
        template_bindings(scope(location="scope-loc"), {"location": "query-loc"})["location"] == "query-loc"
    )
    assert template_bindings(scope(scope="from-params"), {"scope": "from-query"})["scope"] == "from-params"


# -- alignment and pairing ------------------------------------------------------------------------


def test_align_places_samples_on_the_grid_and_fills_nan():
    s = scope()
    t0 = T0.timestamp()
    values = align([(t0 + 0.4, 1.0), (t0 + 120, 3.0), (t0 + 400, 9.0), (t0 - 60, 7.0), (t0 + 300, 6.0)], s)
    assert len(values) == 6
    assert values[0] == 1.0 and values[2] == 3.0 and values[5] == 6.0
    assert math.isnan(values[1]) and math.isnan(values[3]) and math.isnan(values[4])


def _nan(n: int) -> list[float]:
    return [math.nan] * n


def test_mix_untagged_side_is_dropped_when_the_other_side_has_tags():
    c, e = scope("base"), scope("canary")
    pairs = mix(
        "m",
        c,
        e,
        [TaggedValues({}, [1.0] * 6)],
        [TaggedValues({"zone": "a"}, [2.0] * 6)],
        queries={"control": "qc", "experiment": "qe"},
    )
    assert [(p["tags"], p["status"]) for p in pairs] == [({"zone": "a"}, "nodata")]
    assert all(math.isnan(v) for v in pairs[0]["values"]["control"])
    assert "no samples for control scope 'base'" in pairs[0]["reason"] and "'qc'" in pairs[0]["reason"]
    assert pairs[0]["attributes"]["control"]["reason"] in pairs[0]["reason"]
    assert pairs[0]["attributes"]["experiment"] == {"query": "qe"}


def test_mix_matching_tags_and_only_nan():
    c, e = scope("base"), scope("canary")
    pairs = mix(
        "m",
        c,
        e,
        [TaggedValues({"zone": "a"}, [1.0] * 6)],
        [TaggedValues({"zone": "a"}, _nan(6))],
        queries={},
    )
    assert (
        pairs[0]["status"] == "nodata"
        and "only NaN values for experiment scope 'canary'" in pairs[0]["reason"]
    )


def test_mix_different_label_names_is_an_error():
    with pytest.raises(TagMismatchError, match=r"\['zone'\] but experiment series have \['pod'\]"):
        mix(
            "m",
            scope(),
            scope(),
            [TaggedValues({"zone": "a"}, [1.0])],
            [TaggedValues({"pod": "p"}, [1.0])],
            queries={},
        )


def test_failed_pair_shapes():
    error = failed_pair("m", scope(), scope(), reason="boom", queries={"control": "q"})
    assert (error["status"], error["error"], error["values"]) == (
        "error",
        "boom",
        {"control": [], "experiment": []},
    )
    assert error["attributes"] == {
        "control": {"query": "q", "error": "boom"},
        "experiment": {"error": "boom"},
    }
    nodata = failed_pair("m", scope(), scope(), reason="none", status="nodata")
    assert "error" not in nodata and len(nodata["values"]["control"]) == 6
    assert all(math.isnan(v) for v in nodata["values"]["experiment"])


# -- scopes and registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"start": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"end": T0}, "must be after start"),
        ({"step": 0}, "step must be a positive"),
        ({"extended_params": {"a": 1}}, "must map strings to strings"),
    ],
)
def test_metric_scope_validation(kwargs, fragment):
    args = {"scope": "s", "start": T0, "end": T0 + timedelta(minutes=1), **kwargs}
    with pytest.raises(ValueError, match=fragment):
        MetricScope(**args)


def test_scopes_from_kayenta():
    control, experiment = scopes_from_kayenta(
        {
            "scopeName": "default",
            "controlScope": "demo-prod",
            "controlLocation": "default",
            "experimentScope": "demo-canary",
            "experimentLocation": "canary-ns",
            "startTimeIso": "2025-01-01T00:00:00Z",
            "endTimeIso": "2025-01-01T00:30:00Z",
            "step": "60",
            "extendedScopeParams": {"env": "prod"},
        }
    )
    assert (control.scope, control.location, experiment.scope, experiment.location) == (
        "demo-prod",
        "default",
        "demo-canary",
        "canary-ns",
    )
    assert control.end - control.start == timedelta(minutes=30) and len(control.grid()) == 31
    assert experiment.extended_params == {"env": "prod"}


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"experimentScope": "c"}, r"scopes\[default\].controlScope is required"),
        (
            {"controlScope": "b", "experimentScope": "c", "startTimeIso": "yesterday"},
            "startTimeIso: 'yesterday' is not",
        ),
        (
            {"controlScope": "b", "experimentScope": "c", "startTimeIso": "2025-01-01T00:00:00"},
            "has no timezone",
        ),
        (
            {
                "controlScope": "b",
                "experimentScope": "c",
                "startTimeIso": "2025-01-01T00:00:00Z",
                "endTimeIso": "2025-01-01T00:10:00Z",
                "step": "1m",
            },
            "step must be whole seconds",
        ),
    ],
)
def test_scopes_from_kayenta_errors_name_the_field(entry, fragment):
    with pytest.raises(ValueError, match=fragment):
        scopes_from_kayenta(entry)


def test_registry_rejects_unknown_types_listing_valid_ones():
    with pytest.raises(UnknownMetricsSourceError, match="'datadog'; valid types: prometheus"):
        METRICS_SOURCES["datadog"]
    with pytest.raises(UnknownMetricsSourceError, match="valid types: prometheus"):
        metrics_source_for({"name": "x", "query": {"type": "datadog"}})
    with pytest.raises(MetricQueryConfigError, match="metric 'x': query.type is required"):
        metrics_source_for({"name": "x", "query": {}})
    assert get_metrics_source_class("prometheus").__name__ == "PrometheusMetricsSource"


def test_jsonable_pair_is_strict_json():
    import json

    pair = failed_pair("m", scope(), scope(), reason="none", status="nodata")
    pair["values"]["control"][:3] = [1.5, math.inf, -math.inf]
    text = json.dumps(jsonable_pair(pair), allow_nan=False)
    assert json.loads(text)["values"]["control"][:4] == [1.5, "Infinity", "-Infinity", "NaN"]
    assert math.isnan(pair["values"]["control"][3])  # the original is untouched
