"""record KIND/NAME through the fake API: the guard that keeps a late `record --status Failed` off the revision a
rollback restored, checked again when the write has to be retried."""

import pytest

from kubectl_rollback.commands import record
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import DEPLOYMENTS, REPLICASETS
from kubectl_rollback.options import IdentityFlags, RecordRequest
from kubectl_rollback.records import ROLLED_BACK_AT, ROLLED_BACK_FROM, STATUS, WORKFLOW_ID, Status, now_rfc3339
from kubectl_rollback.workloads.deployment import DeploymentKind
from tests.fakekube import add_deployment, recorded

DEPLOYMENT = DeploymentKind()


@pytest.fixture
def restored(fake):
    """Revision 2 (Succeeded) is live again: a rollback has just written its template back, not yet its audit."""
    return add_deployment(fake, "web", ["img:1", "img:2", "img:3"], live=1,
                          annotations=[recorded("Succeeded"), recorded("Succeeded"), recorded("Failed")])


def audit(server):
    """The rollback's audit of its target, landing between record's read and record's write."""
    server.patch(REPLICASETS, "ns", "web-h2",
                 {"metadata": {"annotations": {ROLLED_BACK_FROM: "3", ROLLED_BACK_AT: now_rfc3339()}}})


def record_failed(fake, force: bool = False) -> record.Result:
    return record.run(fake, DEPLOYMENT, "web", RecordRequest(IdentityFlags(), Status.FAILED, force=force))


def test_a_rollback_audit_landing_before_the_write_makes_record_refuse_on_its_retry(fake, restored):
    fake.before("patch", audit, resource=REPLICASETS, name="web-h2")
    with pytest.raises(RollbackError, match="is live because a rollback restored it"):
        record_failed(fake)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][STATUS] == "Succeeded"


def test_force_records_it_all_the_same(fake, restored):
    fake.before("patch", audit, resource=REPLICASETS, name="web-h2")
    result = record_failed(fake, force=True)
    assert result.revision.number == 2
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][STATUS] == "Failed"


def test_without_a_rollback_the_retry_writes_the_record(fake, restored):
    """A 409 for another reason (the controller's write) is retried, and the record lands."""
    fake.before("patch", lambda server: server.patch(REPLICASETS, "ns", "web-h2", {"spec": {"replicas": 1}}),
                resource=REPLICASETS, name="web-h2")
    record_failed(fake)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][STATUS] == "Failed"


def test_a_workload_carrying_record_keys_is_refused_and_nothing_is_written(fake):
    """The deployment controller copies the Deployment's annotations onto its live ReplicaSet at every sync, so a
    record written there would be overwritten by them a moment later."""
    add_deployment(fake, "web", ["img:1"], annotations=[recorded("Succeeded")])
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {"annotations": {WORKFLOW_ID: "wfM"}}})
    with pytest.raises(RollbackError) as refused:
        record.run(fake, DEPLOYMENT, "web", RecordRequest(IdentityFlags("wf1", "svc", "infra"), Status.FAILED))
    assert refused.value.message == (
        "refusing to write: deployment/web carries harness.io/workflow-id in its own annotations, and the deployment "
        "controller copies a Deployment's annotations onto its live ReplicaSet at every sync, over the records "
        "there; take them off the workload and its manifest: kubectl annotate deployment/web -n ns "
        "harness.io/workflow-id-")
    assert fake.writes() == []
