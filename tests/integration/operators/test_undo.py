"""``UndoRolloutOperator`` against the sandbox, checked with the real ``kubectl rollout history``.

Aspects: N revisions back and a revision number roll the template back and wait until stable; the
revision history afterwards is what ``kubectl rollout undo`` would leave (the old ReplicaSet comes back
as the newest revision), and undoing again goes back to where we were; a revision that does not exist
and too many steps back fail naming the revisions that do; only Deployments are accepted.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.rollout import RolloutError
from airflow_delivery.operators._kubernetes import ManifestTargetError
from airflow_delivery.operators.undo import UndoRolloutOperator
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.operators.support import context, image_of, roll_out, run_dag

pytestmark = pytest.mark.integration

IMAGES = ["example.com/web:v1", "example.com/web:v2", "example.com/web:v3"]


def history(sandbox: SandboxHandle) -> list[str]:
    """Revision numbers listed by ``kubectl rollout history deployment/web``."""
    text = sandbox.kubectl("rollout", "history", "deployment/web").stdout
    return [line.split()[0] for line in text.splitlines() if line.strip() and line.split()[0].isdigit()]


def kubectl_image(sandbox: SandboxHandle, revision: str) -> str:
    text = sandbox.kubectl("rollout", "history", "deployment/web", f"--revision={revision}").stdout
    return next(line.split("Image:")[1].strip() for line in text.splitlines() if "Image:" in line)


def test_one_revision_back_agrees_with_kubectl(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                               hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", IMAGES)
    assert history(sandbox) == ["1", "2", "3"]
    run = run_dag(operator_dags, "undo_back", "undo", target="deployment web", back=1)
    assert run.task_state == "success", run
    value = run.value
    assert (value["from_revision"], value["to_revision"], value["changed"]) == (3, 2, True)
    assert value["images"] == ["example.com/web:v2"] and value["status"] == "success"
    assert [r["revision"] for r in value["revisions"]] == [1, 2, 3]
    live = hook.get("Deployment", "web")
    assert image_of(live) == "example.com/web:v2" and live["status"]["readyReplicas"] == 2
    # As after `kubectl rollout undo`: revision 2's ReplicaSet is now revision 4.
    assert history(sandbox) == ["1", "3", "4"]
    assert kubectl_image(sandbox, "4") == "example.com/web:v2"
    assert hook.get("ReplicaSet", value["replicaset"])["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "4"
    # Undo again goes back to what ran before the first undo (v3), like kubectl's toggling.
    again = run_dag(operator_dags, "undo_back", "undo", target="deployment web", back=1)
    assert (again.value["from_revision"], again.value["to_revision"]) == (4, 3)
    assert image_of(hook.get("Deployment", "web")) == "example.com/web:v3"
    assert history(sandbox) == ["1", "4", "5"]


def test_to_a_revision_number(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                              hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", IMAGES)
    run = run_dag(operator_dags, "undo_to_revision", "undo", target="deployment web", revision=1)
    assert run.task_state == "success", run
    assert (run.value["from_revision"], run.value["to_revision"]) == (3, 1)
    assert image_of(hook.get("Deployment", "web")) == "example.com/web:v1"
    assert history(sandbox) == ["2", "3", "4"] and kubectl_image(sandbox, "4") == "example.com/web:v1"


def test_undo_after_kubectl_set_image_restores_the_previous_template(operator_dags: dict[str, Any],
                                                                      sandbox: SandboxHandle,
                                                                      hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", IMAGES[:1])
    sandbox.kubectl("set", "image", "deployment/web", "app=example.com/web:hotfix")
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    run = run_dag(operator_dags, "undo_back", "undo", target="deployment web", back=1)
    assert run.task_state == "success", run
    assert image_of(hook.get("Deployment", "web")) == "example.com/web:v1"


def test_missing_revisions_fail_naming_the_ones_that_exist(operator_dags: dict[str, Any], k8s_conn: str,
                                                          hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", IMAGES)
    before = hook.get("Deployment", "web")["metadata"]["generation"]
    assert run_dag(operator_dags, "undo_to_revision", "undo", target="deployment web", revision=7).task_state == \
        "failed"
    with pytest.raises(RolloutError, match=r"u: Deployment default/web has no revision 7: the revisions it still has "
                                           r"are 1, 2, 3 \(current 3\)"):
        UndoRolloutOperator(task_id="u", kubernetes_conn_id=k8s_conn, target="deployment web",
                            revision=7).execute(context())
    with pytest.raises(RolloutError, match=r"cannot go 3 revisions back from revision 3: only 2 older revisions "
                                           r"exist \(revisions 1, 2, 3\)"):
        UndoRolloutOperator(task_id="u", kubernetes_conn_id=k8s_conn, target="deployment web",
                            revisions_back=3).execute(context())
    assert hook.get("Deployment", "web")["metadata"]["generation"] == before  # nothing was changed


def test_only_deployments_and_one_choice(k8s_conn: str) -> None:
    with pytest.raises(ManifestTargetError, match="u: cannot undo the rollout of a StatefulSet"):
        UndoRolloutOperator(task_id="u", kubernetes_conn_id=k8s_conn, target="statefulset db").execute(context())
    with pytest.raises(ValueError, match="give revisions_back \\(1\\) or revision \\(2\\), not both"):
        UndoRolloutOperator(task_id="u", target="deployment web", revisions_back=1, revision=2)
    with pytest.raises(ValueError, match="u: revision must be a whole number, got 'latest'"):
        UndoRolloutOperator(task_id="u", kubernetes_conn_id=k8s_conn, target="deployment web",
                            revision="latest").execute(context())
