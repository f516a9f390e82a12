"""The workload kinds through the fake API: what each kind's rollback patch does to the stored object, how each
reads a rollout (kubectl's `rollout status` rules), and how the target is selected, from the command line's
arguments down to the revision."""

import pytest

from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import ConflictError, UsageError
from kubectl_rollback.kube import CONTROLLER_REVISIONS, DAEMONSETS, DEPLOYMENTS, REPLICASETS, STATEFULSETS
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import ROLLED_BACK_FROM, STATUS, Record, Status
from kubectl_rollback.workloads.base import CHANGE_CAUSE
from kubectl_rollback.workloads.daemonset import DaemonSetKind
from kubectl_rollback.workloads.deployment import REVISION_HISTORY, DeploymentKind
from kubectl_rollback.workloads.statefulset import StatefulSetKind
from tests.fakekube import add_controller_revision_workload, add_deployment, pod_template, recorded
from tests.unit.entry_points import FLAGS, history_of, rollback_workload, selection

DEPLOYMENT, STATEFULSET, DAEMONSET = DeploymentKind(), StatefulSetKind(), DaemonSetKind()


def revision(kind, kube, workload, number):
    return next(r for r in kind.revisions(kube, workload) if r.number == number)


def apply_rollback_patch(kind, kube, workload, number):
    patch_type, body = kind.rollback_patch(workload, revision(kind, kube, workload, number))
    return kube.patch(kind.resource, workload["metadata"]["name"], body, patch_type)


# -- rollback_patch ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("live_annotations, target_cause, expected", [
    ({}, "deploy 1", {CHANGE_CAUSE: "deploy 1"}),
    ({"team": "a"}, "deploy 1", {"team": "a", CHANGE_CAUSE: "deploy 1"}),
    ({"team": "a", CHANGE_CAUSE: "deploy 2"}, "deploy 1", {"team": "a", CHANGE_CAUSE: "deploy 1"}),
    ({"team": "a", CHANGE_CAUSE: "deploy 2"}, None, {"team": "a"}),
    ({"team": "a"}, None, {"team": "a"}),
])
def test_deployment_patch_restores_the_template_and_carries_only_the_change_cause(fake, live_annotations,
                                                                                 target_cause, expected):
    causes = [{CHANGE_CAUSE: target_cause} if target_cause else {}, {}]
    workload, _ = add_deployment(fake, "web", ["img:1", "img:2"], annotations=causes)
    workload = fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {"annotations": live_annotations or None}})
    patched = apply_rollback_patch(DEPLOYMENT, fake, workload, 1)
    assert patched["spec"]["template"] == pod_template({"app": "web"}, "img:1")
    assert (patched["metadata"].get("annotations") or {}) == expected
    assert patched["metadata"]["generation"] == workload["metadata"]["generation"] + 1


def test_deployment_patch_is_refused_when_the_workload_changed_since_it_was_read(fake):
    workload, _ = add_deployment(fake, "web", ["img:1", "img:2"])
    patch_type, body = DEPLOYMENT.rollback_patch(workload, revision(DEPLOYMENT, fake, workload, 1))
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"replicas": 4}})
    with pytest.raises(ConflictError):
        fake.patch(DEPLOYMENTS, "web", body, patch_type)
    assert fake.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "img:2"


@pytest.mark.parametrize("kind, resource", [(STATEFULSET, STATEFULSETS), (DAEMONSET, DAEMONSETS)])
def test_controller_revision_patch_replaces_the_whole_template(fake, kind, resource):
    workload, _ = add_controller_revision_workload(fake, resource, "db", ["img:1", "img:2"])
    extra = {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}
    workload = fake.server.patch(resource, "ns", "db", extra)  # live only: a merge would keep it
    patched = apply_rollback_patch(kind, fake, workload, 1)
    assert patched["spec"]["template"] == pod_template({"app": "db"}, "img:1")
    stale = dict(workload, metadata=dict(workload["metadata"], resourceVersion="1"))
    patch_type, body = kind.rollback_patch(stale, revision(kind, fake, workload, 2))
    with pytest.raises(ConflictError):
        fake.patch(resource, "db", body, patch_type)


@pytest.mark.parametrize("kind, resource", [(STATEFULSET, STATEFULSETS), (DAEMONSET, DAEMONSETS)])
def test_controller_revision_kinds_roll_back_with_their_books(fake, kind, resource):
    add_controller_revision_workload(fake, resource, "db", ["img:1", "img:2", "img:3"],
                                     annotations=[recorded("Succeeded"), recorded("Failed"), recorded("InProgress")])
    result = rollback_workload(fake, kind, "db", FLAGS)
    assert result.changed and (result.source.number, result.target.number) == (3, 1)
    assert fake.stored(resource, "db")["spec"]["template"] == pod_template({"app": "db"}, "img:1")
    assert fake.stored(CONTROLLER_REVISIONS, "db-r3")["metadata"]["annotations"][STATUS] == "Failed"
    assert fake.stored(CONTROLLER_REVISIONS, "db-r1")["metadata"]["annotations"][ROLLED_BACK_FROM] == "3"


def test_the_live_statefulset_revision_is_the_update_revision_once_observed(fake):
    workload, _ = add_controller_revision_workload(fake, STATEFULSETS, "db", ["img:1", "img:1"])
    assert [r.number for r in STATEFULSET.revisions(fake, workload) if r.live] == [2]  # same template, named one


# -- rollout_state -----------------------------------------------------------------------------------------------


def deployment(desired=3, observed=2, progressing=None, **status):
    """A Deployment at generation 2 that wants `desired` replicas, with `status` (its counts) as the controller
    left it."""
    conditions = [dict(progressing, type="Progressing")] if progressing else []
    spec = {} if desired is None else {"replicas": desired}
    return {"metadata": {"name": "web", "generation": 2}, "spec": spec,
            "status": dict(status, observedGeneration=observed, conditions=conditions)}


TIMED_OUT = {"reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "web-h3" has timed out progressing.'}


@pytest.mark.parametrize("workload, done, text", [
    (deployment(observed=1), False, "waiting for the controller to observe the change"),
    (deployment(updatedReplicas=1, replicas=3), False, "1 updated, 0 ready, 0 available of 3: waiting for new "
                                                       "replicas to be updated"),
    (deployment(updatedReplicas=3, replicas=4, availableReplicas=3), False, "1 old replicas terminating"),
    (deployment(updatedReplicas=3, replicas=3, availableReplicas=2), False, "waiting for replicas to become "
                                                                            "available"),
    (deployment(updatedReplicas=3, replicas=3, availableReplicas=3, readyReplicas=3), True,
     "3 updated, 3 ready, 3 available of 3: rolled out"),
    (deployment(desired=None, updatedReplicas=1, availableReplicas=1), True, "of 1: rolled out"),
    (deployment(progressing={"reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "web-h2" has timed out'},
                updatedReplicas=3, replicas=3, availableReplicas=3), True, "rolled out"),
])
def test_deployment_rollout_state(workload, done, text):
    state = DEPLOYMENT.rollout_state(workload, "web-h3")
    assert (state.done, state.failure) == (done, None)
    assert state.message.startswith("deployment/web: ") and text in state.message


def test_deployment_progress_deadline_of_this_revision_is_a_failure():
    state = DEPLOYMENT.rollout_state(deployment(progressing=TIMED_OUT, updatedReplicas=1), "web-h3")
    assert state.failure == "deployment/web exceeded its progress deadline" and not state.done


def statefulset(desired=3, observed=2, strategy=None, **status):
    spec = {"replicas": desired}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return {"metadata": {"name": "db", "generation": 2}, "spec": spec,
            "status": dict(status, observedGeneration=observed)}


PARTITION_1 = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}


@pytest.mark.parametrize("workload, done, text", [
    (statefulset(observed=0), False, "waiting for the controller to observe the change"),
    (statefulset(strategy={"type": "OnDelete"}), True, "OnDelete strategy"),
    (statefulset(readyReplicas=2), False, "0 updated, 2 ready of 3: waiting for pods to be ready"),
    (statefulset(strategy=PARTITION_1, readyReplicas=3, updatedReplicas=1), False, "waiting for the partitioned "
                                                                                   "update"),
    (statefulset(strategy=PARTITION_1, readyReplicas=3, updatedReplicas=2), True, "partitioned rollout complete"),
    (statefulset(readyReplicas=3, updatedReplicas=3, currentRevision="db-r1", updateRevision="db-r2"), False,
     "waiting for pods to reach the new revision"),
    (statefulset(readyReplicas=3, updatedReplicas=3, currentRevision="db-r2", updateRevision="db-r2"), True,
     "3 updated, 3 ready of 3: rolled out"),
])
def test_statefulset_rollout_state(workload, done, text):
    state = STATEFULSET.rollout_state(workload, "db-r2")
    assert state.done == done and state.message.startswith("statefulset/db: ") and text in state.message


def daemonset(observed=2, strategy=None, **status):
    spec = {"updateStrategy": strategy} if strategy else {}
    return {"metadata": {"name": "agent", "generation": 2}, "spec": spec,
            "status": dict(status, observedGeneration=observed)}


@pytest.mark.parametrize("workload, done, text", [
    (daemonset(observed=1), False, "waiting for the controller to observe the change"),
    (daemonset(desiredNumberScheduled=3, updatedNumberScheduled=2, numberAvailable=3), False,
     "2 updated, 3 available of 3: waiting for pods to be updated"),
    (daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=2), False,
     "waiting for pods to become available"),
    (daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3), True, "rolled out"),
    (daemonset(), True, "0 updated, 0 available of 0: rolled out"),
])
def test_daemonset_rollout_state(workload, done, text):
    state = DAEMONSET.rollout_state(workload, "agent-r2")
    assert state.done == done and state.message.startswith("daemonset/agent: ") and text in state.message


def test_an_on_delete_daemonset_is_not_waited_for_as_kubectl_and_the_statefulset_rule_say():
    """kubectl's DaemonSetStatusViewer ends at once for an OnDelete DaemonSet (its pods change only when deleted),
    and StatefulSetKind reports an OnDelete StatefulSet done; a DaemonSet must not wait for updates that never
    come (rollback --wait would run into --timeout and exit 4)."""
    workload = daemonset(strategy={"type": "OnDelete"}, desiredNumberScheduled=3, updatedNumberScheduled=0,
                         numberAvailable=3)
    state = DAEMONSET.rollout_state(workload, "agent-r2")
    assert state.done and "OnDelete" in state.message


# -- target selection --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, selected", [
    ({"workload": "deploy/web"}, ("workload", "deployment", "web")),
    ({"workload": "sts/db"}, ("workload", "statefulset", "db")),
    ({"workload": "svc/web"}, ("service", "web")),
    ({"workload": "services/web"}, ("service", "web")),
    ({"release_name": "r1"}, ("release", "r1")),
    ({"harness_release": "release-3f2a"}, ("harness-release", "release-3f2a")),
    ({"all_": True}, ("all",)),
])
def test_the_arguments_select_one_target(args, selected):
    assert selection(**args) == selected


@pytest.mark.parametrize("args, message", [
    ({}, "name exactly one of KIND/NAME, --release-name R or --harness-release R"),
    ({"all_": False}, "name exactly one of KIND/NAME, --all, --release-name R or --harness-release R"),
    ({"workload": "deploy/web", "release_name": "r1"}, "name exactly one of"),
    ({"workload": "svc/Web"}, "not a valid object name"),
    ({"workload": "pod/web"}, "supported kinds are"),
    ({"release_name": "R 1"}, "not a valid object name"),
])
def test_anything_but_one_target_is_a_usage_error(args, message):
    with pytest.raises(UsageError) as refused:
        selection(**args)
    assert message in refused.value.message


def test_the_identity_comes_from_the_live_record_when_the_flags_leave_it_out(fake):
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"],
                   annotations=[recorded("Succeeded"), recorded("Succeeded", "wf2"), recorded("Failed")])
    state = history_of(fake, DEPLOYMENT, "web", FLAGS)
    assert state.identity.workflow_id == "wf1" and state.identity.mapping.cluster_name == "test-cluster"
    assert state.target.number == 1 and [(s.revision, s.reason) for s in state.decision.skipped] == [
        (2, "another workflow (wf2)")]
    assert history_of(fake, DEPLOYMENT, "web", IdentityFlags(service_id="svc", infra_id="infra",
                                                             any_workflow=True)).target.number == 2


def test_without_a_record_or_flags_there_is_no_identity_unless_a_revision_is_named(fake):
    add_deployment(fake, "web", ["img:1", "img:2"])
    assert "pass --workflow-id (or --any-workflow), --service-id, --infra-id" in \
        history_of(fake, DEPLOYMENT, "web", IdentityFlags()).problem.message
    named = history_of(fake, DEPLOYMENT, "web", IdentityFlags(), to_revision=1)
    assert named.problem is None and named.identity is None and named.target.number == 1


def test_a_named_revision_that_was_renumbered_is_found_with_a_warning(fake):
    workload, sets = add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), {}])
    fake.server.patch(REPLICASETS, "ns", sets[0]["metadata"]["name"], {"metadata": {"annotations": {
        "deployment.kubernetes.io/revision": "3", REVISION_HISTORY: "1"}}})
    state = history_of(fake, DEPLOYMENT, "web", FLAGS, to_revision=1)
    assert state.target.number == 3
    assert state.decision.warnings == ("revision 1 is now revision 3 (an earlier rollback renumbered it)",)


def test_a_named_failed_revision_needs_force(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Failed"), recorded("Succeeded")])
    refused = history_of(fake, DEPLOYMENT, "web", FLAGS, to_revision=1)
    assert isinstance(refused.problem, UsageError) and "pass --force" in refused.problem.message
    forced = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, to_revision=1, force=True)
    assert forced.changed and forced.target.number == 1
    assert fake.stored(DEPLOYMENTS, "web")["spec"]["template"] == pod_template({"app": "web"}, "img:1")


# -- OnDelete judged from the pods, partitioned rollouts said as such (issue 27) ---------------------------------


def pod(label, ready=True):
    return {"metadata": {"name": "p", "labels": {"controller-revision-hash": label}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def on_delete(kind_name, replicas=1):
    return {"metadata": {"name": "odb", "generation": 2},
            "spec": {"replicas": replicas, "updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 2, "desiredNumberScheduled": replicas}}


@pytest.mark.parametrize("kind, label", [(STATEFULSET, "odb-7c9"), (DAEMONSET, "7c9")])
@pytest.mark.parametrize("pods, done, counts", [
    ([], False, "0 of 1"),
    ([("odb-old", True)], False, "0 of 1"),
    ([("new", False)], False, "0 of 1"),
    ([("new", True)], True, "1 of 1"),
])
def test_on_delete_is_done_when_every_pod_runs_the_revision_and_is_ready(kind, label, pods, done, counts):
    workload = on_delete(kind)
    assert kind.judged_by_pods(workload)
    listed = [pod(label if name == "new" else name, ready) for name, ready in pods]
    state = kind.rollout_state(workload, "odb-7c9", listed)
    assert state.done is done and f"{counts} pods on this revision ready" in state.message
    # without the pods (the watcher), kubectl's rule: done at once
    assert kind.rollout_state(workload, "odb-7c9").done


def partitioned_set(partition, updated):
    return {"metadata": {"name": "part", "generation": 1},
            "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate",
                                                       "rollingUpdate": {"partition": partition}}},
            "status": {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": updated,
                       "currentRevision": "part-1", "updateRevision": "part-2"}}


def test_a_partitioned_rollout_is_done_with_its_reason_and_a_wider_rollback_warns():
    state = STATEFULSET.rollout_state(partitioned_set(2, 1), "part-2")
    assert (state.done, state.reason) == (True, "partitioned: 1 of 3 pods")
    assert STATEFULSET.rollout_state(partitioned_set(0, 3), "part-2").reason is None
    target = Revision(2, "part-2", Record(Status.SUCCEEDED, status_reason=state.reason), (), None, live=False)
    assert STATEFULSET.rollback_warnings(partitioned_set(0, 3), target) == [
        "revision 2 ran on 1 of 3 pods only (partitioned); this rollback takes it to all 3 pods"]
    assert STATEFULSET.rollback_warnings(partitioned_set(1, 3), target) == [
        "revision 2 ran on 1 of 3 pods only (partitioned); this rollback takes it to 2 of 3 pods"]
    assert STATEFULSET.rollback_warnings(partitioned_set(2, 3), target) == []


@pytest.mark.parametrize("value, number", [
    ("7", 7), ("+7", 7), (str(2 ** 63 - 1), 2 ** 63 - 1),
    (str(2 ** 63), None), ("99999999999999999999999", None),  # beyond int64: the controller cannot read it either
    (" 7", None), ("1_000", None), ("0", None), ("-3", None), ("abc", None),
])
def test_revision_numbers_are_read_as_the_deployment_controller_reads_them(value, number):
    rs = {"metadata": {"name": "web-h", "annotations": {"deployment.kubernetes.io/revision": value}},
          "spec": {"template": {}}}
    parsed = DeploymentKind().parse_revision_object(rs)
    assert (parsed[0] if parsed else None) == number
