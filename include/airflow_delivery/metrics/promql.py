"""PromQL from Kayenta's Prometheus query config, exactly as Kayenta builds it, with strict templates.

Kayenta (``PrometheusMetricsService.buildQuery`` and ``QueryConfigUtils.expandCustomFilter``):

* ``customInlineTemplate`` (or the ``templates`` entry named by ``customFilterTemplate``) is expanded
  with ``${scope}``, ``${location}``, ``${project}``, ``${resourceType}`` and the scope's
  ``extendedScopeParams``. If the result starts with ``PromQL:``, the rest is the whole query.
* Otherwise the query is ``avg(<metricName>{<filters>}) by (<groupByFields>)``, where filters are the
  expanded template split on ``,`` followed by ``labelBindings``; without a template, ``resourceType``
  ``gce_instance`` or ``aws_ec2_instance`` builds the scope/zone filters, and anything else is an error.

Where we differ on purpose: FreeMarker renders an undefined ``${name}`` as an error at run time deep in
Kayenta; here every placeholder is checked before any query runs, and the error names the metric,
the placeholder and the names that are defined. Only plain ``${name}`` placeholders are supported
(FreeMarker built-ins such as ``${scope?lower_case}`` are rejected with a message).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_delivery.metrics.source import MetricQueryConfigError, MetricScope

PROMQL_PREFIX = "PromQL:"
#: Kayenta's ``scopeLabel`` default (``PrometheusConfigurationProperties``), used for gce_instance.
DEFAULT_SCOPE_LABEL = "instance"

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BASE_ATTRIBUTES = ("project", "resourceType", "scope", "location")


def template_bindings(scope: MetricScope, query_config: Mapping[str, Any]) -> dict[str, str]:
    """Values for ``${...}``, in Kayenta's precedence: scope, then query config, then extended params."""
    bindings: dict[str, str] = {}
    scope_values = {
        "project": scope.extended_params.get("project", ""),
        "resourceType": scope.extended_params.get("resourceType", ""),
        "scope": scope.scope,
        "location": scope.location,
    }
    for name in _BASE_ATTRIBUTES:
        if scope_values[name]:
            bindings[name] = scope_values[name]
    for name in _BASE_ATTRIBUTES:
        value = query_config.get(name)
        if isinstance(value, str) and value:
            bindings[name] = value
    bindings.update(scope.extended_params)
    return bindings


def expand_template(template: str, bindings: Mapping[str, str], *, where: str) -> str:
    """Substitute every ``${name}``; an undefined or unsupported placeholder raises naming it."""
    template = template.replace("$\\{", "${")  # Kayenta stores templates escaped (escapeTemplates)
    problems: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if not _NAME.fullmatch(name):
            problems.append(
                f"unsupported template expression '${{{match.group(1)}}}' (only ${{name}} placeholders are "
                "supported)"
            )
        elif name not in bindings:
            defined = ", ".join(sorted(bindings)) or "none"
            problems.append(f"placeholder '${{{name}}}' is not defined (defined: {defined})")
    if problems:
        raise MetricQueryConfigError(f"{where}: " + "; ".join(dict.fromkeys(problems)))
    return _PLACEHOLDER.sub(lambda m: bindings[m.group(1).strip()], template)


def _string_list(query_config: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = query_config.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetricQueryConfigError(f"{where}.query.{key} must be a list of strings, got {value!r}")
    return list(value)


def _custom_filter(
    metric: Mapping[str, Any], scope: MetricScope, canary_config: Mapping[str, Any] | None, where: str
) -> str | None:
    query_config = metric["query"]
    if query_config.get("customFilter"):
        raise MetricQueryConfigError(
            f"{where}.query.customFilter is deprecated in Kayenta; use customInlineTemplate instead"
        )
    inline = query_config.get("customInlineTemplate")
    template_name = query_config.get("customFilterTemplate")
    if inline:
        template, what = str(inline), f"{where}.query.customInlineTemplate"
    elif template_name:
        templates = (canary_config or {}).get("templates") or {}
        if not templates:
            raise MetricQueryConfigError(
                f"{where}.query.customFilterTemplate refers to template {template_name!r}, but the canary "
                "config defines no templates"
            )
        if template_name not in templates:
            raise MetricQueryConfigError(
                f"{where}.query.customFilterTemplate refers to template {template_name!r}, which is not in "
                f"templates (defined: {', '.join(sorted(templates))})"
            )
        template, what = str(templates[template_name]), f"templates.{template_name} (used by {where})"
    else:
        return None
    return expand_template(template, template_bindings(scope, query_config), where=what)


def build_prometheus_query(
    metric: Mapping[str, Any],
    scope: MetricScope,
    canary_config: Mapping[str, Any] | None = None,
    *,
    scope_label: str = DEFAULT_SCOPE_LABEL,
) -> str:
    """The PromQL Kayenta would run for ``metric`` (a ``canaryConfig.metrics[]`` entry) and ``scope``."""
    name = metric.get("name") or "<unnamed>"
    where = f"metric {name!r}"
    query_config = metric.get("query")
    if not isinstance(query_config, Mapping):
        raise MetricQueryConfigError(f"{where}: query is required (an object with type 'prometheus')")
    if query_config.get("type") != "prometheus":
        raise MetricQueryConfigError(
            f"{where}.query.type is {query_config.get('type')!r}, expected 'prometheus'"
        )
    custom_filter = _custom_filter(metric, scope, canary_config, where)
    if custom_filter and custom_filter.startswith(PROMQL_PREFIX):
        return custom_filter[len(PROMQL_PREFIX) :]

    metric_name = query_config.get("metricName")
    if not isinstance(metric_name, str) or not metric_name:
        raise MetricQueryConfigError(
            f"{where}.query.metricName is required unless a template expands to 'PromQL:<query>'"
        )
    filters = _string_list(query_config, "labelBindings", where)
    if custom_filter:
        filters = custom_filter.split(",") + filters
    else:
        resource_type = query_config.get("resourceType") or scope.extended_params.get("resourceType")
        filters += _resource_filters(resource_type, scope, scope_label, where)
    query = metric_name
    if filters:
        query += "{" + ",".join(filters) + "}"
    query = f"avg({query})"
    group_by = _string_list(query_config, "groupByFields", where)
    if group_by:
        query += " by (" + ",".join(group_by) + ")"
    return query


def _resource_filters(resource_type: Any, scope: MetricScope, scope_label: str, where: str) -> list[str]:
    location = scope.location
    if resource_type == "gce_instance":
        if not location:
            raise MetricQueryConfigError(
                f"{where}: location (region) is required when resourceType is 'gce_instance'"
            )
        filters = [f'{scope_label}=~"{scope.scope}-.{{4}}"'] if scope.scope else []
        project = scope.extended_params.get("project")
        zone = ".+/" + (f"projects/{project}/" if project else "") + f"zones/{location}-.{{1}}"
        return [*filters, f'zone=~"{zone}"']
    if resource_type == "aws_ec2_instance":
        if not location:
            raise MetricQueryConfigError(
                f"{where}: location (region) is required when resourceType is 'aws_ec2_instance'"
            )
        filters = [f'asg_groupName="{scope.scope}"'] if scope.scope else []
        return [*filters, f'zone=~"{location}.{{1}}"']
    if resource_type:
        raise MetricQueryConfigError(
            f"{where}: resourceType {resource_type!r} is not supported (supported: aws_ec2_instance, "
            "gce_instance); build the filter with customInlineTemplate/customFilterTemplate instead"
        )
    raise MetricQueryConfigError(
        f"{where}: a resourceType or a custom filter template (customInlineTemplate or "
        "customFilterTemplate) is required"
    )
