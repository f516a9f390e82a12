"""record KIND/NAME through the fake API: the guard that keeps a late `record --status Failed` off the revision a
rollback restored, checked again when the write has to be retried."""

import json

import pytest

from kubectl_rollback.applied import LAST_APPLIED
from kubectl_rollback.commands import record
from kubectl_rollback.errors import RollbackError, UsageError, WaitFailedError
from kubectl_rollback.kube import DEPLOYMENTS, REPLICASETS
from kubectl_rollback.options import IdentityFlags, RecordRequest
from kubectl_rollback.records import (
    RECORDED_BY,
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM,
    STATUS,
    STATUS_REASON,
    WORKFLOW_ID,
    Status,
    now_rfc3339,
)
from kubectl_rollback.workloads.deployment import REVISION, REVISION_HISTORY, DeploymentKind
from tests.fakekube import add_deployment, pod_template, recorded
from tests.unit.entry_points import rollback_workload

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


def record_failed(fake, force: bool = False) -> record.RecordResult:
    return record.run(fake, DEPLOYMENT, "web", RecordRequest(IdentityFlags(), Status.FAILED, force=force))


def test_a_rollback_audit_landing_before_the_write_makes_record_refuse_on_its_retry(fake, restored):
    fake.before("patch", audit, resource=REPLICASETS, name="web-h2")
    with pytest.raises(RollbackError, match="is live because a rollback restored it") as refused:
        record_failed(fake)
    # a whole command, as `verify` (which has no --force) refuses through here too
    assert refused.value.message.endswith("If this one failed too: kubectl harness-rollback record deployment/web "
                                          f"--revision 2 --status Failed --force {fake.command_flags()}")
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


# -- a record names the revision it means, and never takes another identity's place (issues 26 and 27) --------

WF1, WF2 = IdentityFlags("wf1", "svc", "infra"), IdentityFlags("wf2", "svc", "infra")


def record_as(fake, flags, status=Status.SUCCEEDED, **options) -> record.RecordResult:
    return record.run(fake, DEPLOYMENT, "web", RecordRequest(flags, status, **options).validate())


def test_another_identitys_record_is_not_replaced_without_force(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), recorded("Succeeded")])
    with pytest.raises(RollbackError, match="recorded Succeeded for workflow wf1, service svc, infra infra, "
                                            "cluster test-cluster; refusing to replace it .* Pass --force"):
        record_as(fake, WF2)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][WORKFLOW_ID] == "wf1"
    record_as(fake, WF2, force=True)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][WORKFLOW_ID] == "wf2"


def test_a_record_of_the_same_identity_or_the_watchers_is_replaced(fake):
    watchers = dict(recorded("InProgress", workflow="watch"), **{RECORDED_BY: "watch"})
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), watchers])
    record_as(fake, WF2)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][WORKFLOW_ID] == "wf2"
    record_as(fake, IdentityFlags(), Status.FAILED)  # the identity recorded there, kept
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][STATUS] == "Failed"


def test_another_identitys_record_landing_before_the_write_is_refused_on_the_retry(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), {}])
    fake.before("patch", lambda server: server.patch(REPLICASETS, "ns", "web-h2", {"metadata": {
        "annotations": recorded("InProgress", workflow="wf-A")}}), resource=REPLICASETS, name="web-h2")
    with pytest.raises(RollbackError, match="recorded InProgress for workflow wf-A"):
        record_as(fake, WF2, Status.IN_PROGRESS)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][WORKFLOW_ID] == "wf-A"


def test_a_named_revision_that_is_not_live_is_refused(fake):
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"])
    for options in ({"revision": 2}, {"images": ("img:2",)}):
        with pytest.raises(RollbackError, match="revision 3 is live, not revision 2: nothing recorded"):
            record_as(fake, WF2, **options)
    with pytest.raises(RollbackError, match=r"has no revision 3 running img:9 \(revisions: 1 "):
        record_as(fake, WF2, revision=3, images=("img:9",))
    assert [rs["metadata"]["name"] for rs in fake.server.list(REPLICASETS, "ns", None, None)
            if STATUS in (rs["metadata"].get("annotations") or {})] == []
    assert record_as(fake, WF2, revision=3, images=("img:3",)).revision.number == 3


def test_the_live_revision_must_run_what_the_last_apply_applied(fake):
    add_deployment(fake, "web", ["img:1", "img:2"])
    applied = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "img:1"}]}}}}
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {"annotations": {LAST_APPLIED: json.dumps(applied)}}})
    with pytest.raises(RollbackError, match="runs img:2 .revision 2., but its last kubectl apply applied img:1"):
        record_as(fake, WF2)
    assert STATUS not in (fake.stored(REPLICASETS, "web-h2")["metadata"].get("annotations") or {})
    assert record_as(fake, WF2, revision=2).revision.number == 2  # named: the user says which


# -- record --follow judges the followed revision itself -------------------------------------------------------


def rolling(fake, images, annotations=None):
    """deployment/web on its last image, its rollout under way (no new replica ready)."""
    workload, _ = add_deployment(fake, "web", images, annotations=annotations)
    fake.server.set_status(DEPLOYMENTS, "ns", "web", dict(workload["status"], updatedReplicas=1, availableReplicas=0,
                                                          readyReplicas=0, replicas=2))


def make_live(number, image, former=None, rolled_back_from=None):
    """What the deployment controller (and a rollback's audit) does when `image` is the template again."""
    def writer(server):
        annotations = {REVISION: str(number)}
        if former:
            annotations[REVISION_HISTORY] = former
        if rolled_back_from:
            annotations[ROLLED_BACK_FROM] = rolled_back_from
        name = next(rs["metadata"]["name"] for rs in server.list(REPLICASETS, "ns")
                    if rs["spec"]["template"]["spec"]["containers"][0]["image"] == image)
        server.patch(REPLICASETS, "ns", name, {"metadata": {"annotations": annotations}})
        deployment = server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"template": pod_template({"app": "web"}, image)}})
        server.set_status(DEPLOYMENTS, "ns", "web", dict(deployment["status"],
                                                       observedGeneration=deployment["metadata"]["generation"]))
    return writer


def follow(fake, **options) -> record.RecordResult:
    return record.run(fake, DEPLOYMENT, "web", RecordRequest(IdentityFlags("wf1", "svc", "infra"), follow=True,
                                                             timeout=30, **options).validate())


def test_a_rollback_during_the_follow_makes_the_followed_revision_failed_at_once(fake):
    rolling(fake, ["img:1", "img:2"], annotations=[recorded("Succeeded"), {}])
    fake.before("get", make_live(3, "img:1", former="1", rolled_back_from="2"), nth=2, resource=DEPLOYMENTS)
    result = follow(fake)
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert (annotations[STATUS], annotations[STATUS_REASON]) == ("Failed", "rolled back to revision 3")
    assert result.failure().message == ("deployment/web revision 2 was replaced by a rollback to revision 3; "
                                        "recorded revision 2 Failed (rolled back to revision 3)")


def test_a_newer_template_during_the_follow_leaves_it_in_progress_and_is_not_rolled_back(fake):
    rolling(fake, ["img:1", "img:2", "img:3"], annotations=[recorded("Succeeded"), {}, {}])
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"template": pod_template({"app": "web"}, "img:2")}})
    fake.server.set_status(DEPLOYMENTS, "ns", "web", {"observedGeneration": 2, "updatedReplicas": 0, "replicas": 1})
    fake.before("get", make_live(3, "img:3"), nth=2, resource=DEPLOYMENTS)
    result = follow(fake, rollback_on_failure=True, revision=2)  # 3 exists already: name it
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert (annotations[STATUS], annotations[STATUS_REASON]) == ("InProgress", "superseded by revision 3")
    assert result.failure().exit_code == 4
    assert "not rolled back: revision 3 is live" in result.failure().message
    assert fake.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "img:3"


def test_rollback_on_failure_refuses_when_another_revision_became_live(fake):
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"], annotations=[recorded("Succeeded"), {}, {}])
    with pytest.raises(RollbackError, match="runs revision 3 now, not the revision this rollback was to replace"):
        rollback_workload(fake, DEPLOYMENT, "web", WF1, only_from="web-h2")
    assert fake.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "img:3"
    assert rollback_workload(fake, DEPLOYMENT, "web", WF1, only_from="web-h3").changed


def test_a_follow_naming_an_old_revision_leaves_its_outcome_as_it_was(fake):
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"],
                   annotations=[recorded("Succeeded"), recorded("Succeeded"), recorded("Failed")])
    with pytest.raises(WaitFailedError, match="revision 2 was superseded by revision 3 before its rollout "
                                              r"completed; its record is left as it was \(Succeeded\)"):
        follow(fake, revision=2)
    assert fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"][STATUS] == "Succeeded"


def test_without_identity_flags_it_says_the_revision_recorded_carries_no_record_and_what_to_pass(fake):
    """Earlier revisions are recorded, the live one (a new deploy) is not: the identity is not taken from them, and
    the refusal says so instead of claiming there is no earlier record."""
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"],
                   annotations=[recorded("Succeeded"), recorded("Failed"), {}])
    with pytest.raises(UsageError) as refused:
        record.run(fake, DEPLOYMENT, "web", RecordRequest(IdentityFlags(), Status.SUCCEEDED))
    assert refused.value.message == (
        "cannot record deployment/web revision 3: it carries no record of its own and --workflow-id, --service-id, "
        "--infra-id were not passed (the identity is never taken from another revision's record: it may be another "
        "pipeline's); pass --workflow-id, --service-id, --infra-id")
    assert STATUS not in (fake.stored(REPLICASETS, "web-h3")["metadata"].get("annotations") or {})
