"""Airflow Delivery: Spinnaker-style continuous delivery as an Airflow provider.

Importing the package stays cheap (no Airflow, Kubernetes or pandas import) because the
dag-processor and every worker import it while parsing pipelines.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
