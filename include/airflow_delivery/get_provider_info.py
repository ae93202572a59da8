"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

Connection forms are declared here (``conn-fields``/``ui-field-behaviour``, the Airflow 3.2+ way) so the
UI can render them without importing our hooks. Kubernetes and Slack keep their own providers' types.
"""

from __future__ import annotations

from typing import Any

from airflow_delivery import __version__

PACKAGE_NAME = "airflow-provider-delivery"

_INTEGRATIONS = {
    "registry": "Container Registry",
    "prometheus": "Prometheus",
    "kubernetes": "Kubernetes Delivery",
    "canary": "Canary Analysis",
    "pipelines": "Delivery Pipelines",
}


def _conn_field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "Airflow Delivery",
        "description": "Spinnaker-style continuous delivery: bake, deploy, canary analysis, manual judgment, "
        "rollback.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATIONS["registry"],
                "external-doc-url": "https://distribution.github.io/distribution/spec/api/",
                "tags": ["software"],
            },
            {
                "integration-name": _INTEGRATIONS["prometheus"],
                "external-doc-url": "https://prometheus.io/docs/prometheus/latest/querying/api/",
                "tags": ["software"],
            },
            {
                "integration-name": _INTEGRATIONS["pipelines"],
                "external-doc-url": "https://spinnaker.io/docs/guides/user/pipeline/",
                "tags": ["software"],
            },
            {
                "integration-name": _INTEGRATIONS["kubernetes"],
                "external-doc-url": "https://kubernetes.io/docs/reference/using-api/server-side-apply/",
                "tags": ["software"],
            },
            {
                "integration-name": _INTEGRATIONS["canary"],
                "external-doc-url": "https://spinnaker.io/docs/guides/user/canary/",
                "tags": ["software"],
            },
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATIONS["registry"],
                "python-modules": ["airflow_delivery.hooks.registry"],
            },
            {
                "integration-name": _INTEGRATIONS["prometheus"],
                "python-modules": ["airflow_delivery.hooks.prometheus"],
            },
            {
                "integration-name": _INTEGRATIONS["kubernetes"],
                "python-modules": ["airflow_delivery.hooks.kubernetes"],
            },
        ],
        "operators": [
            {
                "integration-name": _INTEGRATIONS["pipelines"],
                "python-modules": [
                    "airflow_delivery.operators.wait",
                    "airflow_delivery.operators.judgment",
                    "airflow_delivery.operators.webhook",
                    "airflow_delivery.operators.preconditions",
                    "airflow_delivery.operators.publish",
                ],
            },
            {
                "integration-name": _INTEGRATIONS["kubernetes"],
                "python-modules": [
                    "airflow_delivery.operators.bake",
                    "airflow_delivery.operators.deploy",
                    "airflow_delivery.operators.stable",
                    "airflow_delivery.operators.patch",
                    "airflow_delivery.operators.scale",
                    "airflow_delivery.operators.delete",
                    "airflow_delivery.operators.undo",
                    "airflow_delivery.operators.find_artifacts",
                    "airflow_delivery.operators.run_job",
                    "airflow_delivery.operators.traffic",
                ],
            },
            {
                "integration-name": _INTEGRATIONS["canary"],
                "python-modules": ["airflow_delivery.operators.canary"],
            },
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATIONS["registry"],
                "python-modules": ["airflow_delivery.sensors.registry"],
            },
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATIONS["pipelines"],
                "python-modules": ["airflow_delivery.triggers.wait", "airflow_delivery.triggers.webhook"],
            },
            {
                "integration-name": _INTEGRATIONS["kubernetes"],
                "python-modules": ["airflow_delivery.triggers.stable"],
            },
            {
                "integration-name": _INTEGRATIONS["registry"],
                "python-modules": ["airflow_delivery.triggers.registry", "airflow_delivery.triggers.git"],
            },
            {
                "integration-name": _INTEGRATIONS["canary"],
                "python-modules": ["airflow_delivery.triggers.canary"],
            },
        ],
        "config": {
            "delivery": {
                "description": "Airflow Delivery settings.",
                "options": {
                    "webhook_allowed_url_prefixes": {
                        "description": "URL prefixes the webhook stage may call (and poll), comma or newline "
                        "separated, matched on a boundary. Empty allows every URL.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://ci.example.com/,https://hooks.internal/",
                        "default": "",
                    },
                    "pipeline_cache": {
                        "description": "Cache built pipeline DAGs in a private folder under AIRFLOW_HOME, keyed "
                        "by file content, package sources and installed versions, so periodic re-parses are fast.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                },
            },
        },
        "connection-types": [
            {
                "hook-class-name": "airflow_delivery.hooks.registry.ContainerRegistryHook",
                "hook-name": "Container Registry (Docker Registry HTTP API v2)",
                "connection-type": "container_registry",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "Registry URL",
                        "login": "Username",
                        "password": "Password or access token",
                    },
                    "placeholders": {
                        "host": "https://registry-1.docker.io or http://127.0.0.1:5000",
                        "login": "leave empty for anonymous pulls",
                    },
                },
                "conn-fields": {
                    "verify_tls": _conn_field(
                        "Verify TLS",
                        "Verify the registry's TLS certificate. Turn off only for self-signed test registries.",
                        {"type": ["boolean", "null"], "default": True},
                    ),
                    "ca_bundle": _conn_field(
                        "CA bundle path",
                        "Path to a PEM file with the CA that signed the registry certificate.",
                        {"type": ["string", "null"]},
                    ),
                },
            },
            {
                "hook-class-name": "airflow_delivery.hooks.prometheus.PrometheusHook",
                "hook-name": "Prometheus",
                "connection-type": "prometheus",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "Prometheus URL",
                        "login": "Basic auth user",
                        "password": "Basic auth password",
                    },
                    "placeholders": {"host": "http://prometheus.monitoring:9090"},
                },
                "conn-fields": {
                    "bearer_token": _conn_field(
                        "Bearer token",
                        "Sent as 'Authorization: Bearer'. Leave empty to use basic auth or no auth.",
                        {"type": ["string", "null"], "format": "password"},
                    ),
                    "verify_tls": _conn_field(
                        "Verify TLS",
                        "Verify Prometheus' TLS certificate.",
                        {"type": ["boolean", "null"], "default": True},
                    ),
                    "timeout": _conn_field(
                        "Request timeout (s)",
                        "Timeout of one HTTP request to the Prometheus API.",
                        {"type": ["number", "null"], "default": 30},
                    ),
                },
            },
        ],
    }
