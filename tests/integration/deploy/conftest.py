"""The sandbox, a ``kubernetes`` connection to it, a hook (as in ``tests/integration/kubernetes``) and the DAGs."""

from __future__ import annotations

from tests.fixtures.sandbox import sandbox  # noqa: F401 - re-exported as a fixture
from tests.integration.deploy.dagtest import deploy_dags  # noqa: F401 - re-exported as a fixture
from tests.integration.kubernetes.conftest import hook, k8s_conn  # noqa: F401 - re-exported as fixtures
