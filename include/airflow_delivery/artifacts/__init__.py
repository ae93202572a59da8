"""Container image artifacts without Airflow: references, tags, the Registry HTTP API v2 protocol, OCI documents.

Everything here is pure (no Airflow import, no network), so the hook, the triggers, the pipeline spec
and the tests share one definition of what ``registry/repo:tag@sha256:...`` means and how tags order.
"""
