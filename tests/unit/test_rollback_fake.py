"""rollback KIND/NAME through the fake API: the write, the book-keeping, and every race the retry loop handles."""

import pytest

from kubectl_rollback.commands import wait
from kubectl_rollback.errors import (
    ConflictError,
    Interrupted,
    NoTargetError,
    RollbackError,
    UsageError,
    WaitFailedError,
)
from kubectl_rollback.kube import DAEMONSETS, DEPLOYMENTS, EVENTS, PODS, REPLICASETS, STATEFULSETS
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import ROLLED_BACK_AT, ROLLED_BACK_FROM, STATUS, WORKFLOW_ID
from kubectl_rollback.workloads.daemonset import DaemonSetKind
from kubectl_rollback.workloads.deployment import DeploymentKind
from kubectl_rollback.workloads.statefulset import StatefulSetKind
from tests.fakekube import add_controller_revision_workload, add_deployment, pod_template, recorded
from tests.unit.entry_points import FLAGS, rollback_workload

DEPLOYMENT = DeploymentKind()


@pytest.fixture
def web(fake):
    """Revisions 1 and 2 Succeeded, revision 3 InProgress and live: the rollback goes to 2."""
    return add_deployment(fake, "web", ["img:1", "img:2", "img:3"],
                          annotations=[recorded("Succeeded"), recorded("Succeeded"), recorded("InProgress")])


def image(fake, name="web"):
    return fake.stored(DEPLOYMENTS, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def annotations(fake, rs_name):
    return fake.stored(REPLICASETS, rs_name)["metadata"].get("annotations") or {}


def events(fake):
    return [(e["reason"], e["involvedObject"]["name"], e["message"]) for e in fake.list(EVENTS)]


def roll_back_template(server):
    """Another client's rollback of web to revision 2, as kubectl rollout undo writes it."""
    server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"template": pod_template({"app": "web"}, "img:2")}})


def test_the_target_template_comes_back_and_the_books_are_kept(fake, web):
    deployment, _ = web
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.changed and (result.source.number, result.target.number) == (3, 2)
    stored = fake.stored(DEPLOYMENTS, "web")
    assert stored["spec"]["template"] == pod_template({"app": "web"}, "img:2")  # without pod-template-hash
    assert stored["metadata"]["generation"] == deployment["metadata"]["generation"] + 1
    assert annotations(fake, "web-h3")[STATUS] == "Failed" and annotations(fake, "web-h3")[WORKFLOW_ID] == "wf1"
    assert annotations(fake, "web-h2")[ROLLED_BACK_FROM] == "3" and annotations(fake, "web-h2")[ROLLED_BACK_AT]
    assert events(fake) == [("HarnessRollback", "web", "rolled back from revision 3 to revision 2 (Succeeded) "
                                                       "by alice@example.test with kubectl-harness-rollback")]


def test_nothing_to_do_when_the_last_good_revision_is_live_writes_nothing(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), recorded("Succeeded")])
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert not result.changed and result.target.number == 2
    assert "already runs the template of revision 2" in result.message and "nothing to do" in result.message
    assert fake.writes() == []


def test_a_client_dry_run_shows_the_diff_and_writes_nothing(fake, web):
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode="client")
    assert not result.changed and result.target.number == 2
    assert "-  - image: img:3\n+  - image: img:2\n" in result.diff
    assert fake.writes(dry_runs=False) == [] and image(fake) == "img:3"


def test_a_server_dry_run_sends_the_patch_with_dry_run_and_keeps_no_books(fake, web):
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode="server")
    assert not result.changed
    # the pre-flight's two dry runs (the write, a pod of the target), then the write itself with dryRun=All
    assert [(c.verb, c.resource, c.dry_run) for c in fake.writes()] == [
        ("patch", DEPLOYMENTS, True), ("create", PODS, True), ("patch", DEPLOYMENTS, True)]
    assert image(fake) == "img:3" and annotations(fake, "web-h3")[STATUS] == "InProgress"
    assert ROLLED_BACK_FROM not in annotations(fake, "web-h2") and events(fake) == []


def test_a_lost_race_is_reported_and_leaves_the_books_to_the_winner(fake, web):
    fake.before("patch", roll_back_template, nth=2, resource=DEPLOYMENTS)  # 1: the pre-flight's dry run
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert not result.changed
    assert result.message.endswith("(another client rolled it back first)")
    assert image(fake) == "img:2"
    assert len(fake.writes(DEPLOYMENTS, dry_runs=False)) == 1  # ours, refused with 409; no second write
    assert annotations(fake, "web-h3")[STATUS] == "InProgress" and events(fake) == []


def test_a_concurrent_change_of_something_else_is_kept_and_the_rollback_decided_again(fake, web):
    fake.before("patch", lambda server: server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"replicas": 3}}),
                nth=2, resource=DEPLOYMENTS)  # 1: the pre-flight's dry run
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.changed and result.target.number == 2
    stored = fake.stored(DEPLOYMENTS, "web")
    assert stored["spec"]["replicas"] == 3 and image(fake) == "img:2"
    assert len(fake.writes(DEPLOYMENTS, dry_runs=False)) == 2
    assert annotations(fake, "web-h3")[STATUS] == "Failed"


def test_an_unanswered_write_is_confirmed_from_a_fresh_read_and_the_books_are_kept(fake, web):
    fake.lose_answer("patch", nth=2, resource=DEPLOYMENTS)  # 1: the pre-flight's dry run
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.changed and (result.source.number, result.target.number) == (3, 2)
    assert result.message.endswith("(the server applied it, but its answer was lost; confirmed from a fresh read)")
    assert image(fake) == "img:2"
    assert annotations(fake, "web-h3")[STATUS] == "Failed" and annotations(fake, "web-h2")[ROLLED_BACK_FROM] == "3"
    assert len(events(fake)) == 1


def test_a_dry_run_whose_answer_is_lost_writes_nothing_real_after(fake, web):
    """A server dry run's patch loses its answer and another client rolls web back before the retry (409, ambiguous):
    the fresh read finds the target live, which is not our doing; no audit, Event or canary delete is sent for real."""
    add_deployment(fake, "web-canary", ["img:3"], labels={"harness.io/track": "canary"})
    fake.lose_answer("patch", resource=DEPLOYMENTS, meanwhile=roll_back_template)
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode="server")
    writes = [(c.verb, c.name, c.dry_run) for c in fake.writes()]
    assert writes == [("patch", "web", True), ("delete", "web-canary", True)]
    assert not result.changed and result.dry_run.value == "server"
    assert fake.stored(DEPLOYMENTS, "web-canary") is not None and events(fake) == []
    assert ROLLED_BACK_FROM not in annotations(fake, "web-h2") and annotations(fake, "web-h3")[STATUS] == "InProgress"


def test_the_failed_mark_yields_to_a_record_written_meanwhile(fake, web):
    def racing_record(server):
        server.patch(REPLICASETS, "ns", "web-h3", {"metadata": {"annotations": recorded("Succeeded", "wf9")}})

    fake.before("patch", racing_record, resource=REPLICASETS, name="web-h3")
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.changed and image(fake) == "img:2"
    assert annotations(fake, "web-h3")[STATUS] == "Succeeded" and annotations(fake, "web-h3")[WORKFLOW_ID] == "wf9"
    assert annotations(fake, "web-h2")[ROLLED_BACK_FROM] == "3"


def test_the_failed_mark_is_written_again_after_an_unrelated_change(fake, web):
    def unrelated(server):
        server.patch(REPLICASETS, "ns", "web-h3", {"metadata": {"annotations": {"team": "payments"}}})

    fake.before("patch", unrelated, resource=REPLICASETS, name="web-h3")
    rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert annotations(fake, "web-h3")[STATUS] == "Failed" and annotations(fake, "web-h3")["team"] == "payments"
    assert len(fake.writes(REPLICASETS)) == 3  # the refused mark, the mark again, the target's audit


def test_a_workload_that_keeps_changing_is_given_up_after_five_conflicts(fake, web):
    for n in range(1, 6):
        fake.before("patch", lambda server, n=n: server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"replicas": n + 1}}),
                    nth=n, resource=DEPLOYMENTS)
    with pytest.raises(ConflictError) as gave_up:
        rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert "kept changing under us (5 conflicts in a row)" in gave_up.value.message
    assert image(fake) == "img:3" and annotations(fake, "web-h3")[STATUS] == "InProgress"


def test_a_book_keeping_failure_is_a_warning_not_an_undo(fake, web, capsys):
    fake.fail("patch", status=403, resource=REPLICASETS, name="web-h3")
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.changed and image(fake) == "img:2"
    assert annotations(fake, "web-h3")[STATUS] == "InProgress"
    assert "rolled back, but could not annotate revision 3" in capsys.readouterr().err
    assert annotations(fake, "web-h2")[ROLLED_BACK_FROM] == "3"


def test_no_target_writes_nothing(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Failed"), recorded("InProgress")])
    with pytest.raises(NoTargetError) as none:
        rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert "every other revision recorded for" in none.value.message and "failed" in none.value.message
    assert fake.writes() == []


def test_a_paused_deployment_is_refused_before_any_write(fake, web):
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"paused": True}})
    with pytest.raises(RollbackError) as refused:
        rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert "is paused" in refused.value.message and fake.writes(dry_runs=False) == []


def test_the_canary_goes_with_the_rollback_unless_kept(fake, web):
    canary, _ = add_deployment(fake, "web-canary", ["img:3"], labels={"harness.io/track": "canary"})
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    assert result.canaries == ("deployment/web-canary",)
    assert fake.stored(DEPLOYMENTS, "web-canary") is None
    deletes = [c for c in fake.writes() if c.verb == "delete"]
    assert [(c.name, c.body["uid"]) for c in deletes] == [("web-canary", canary["metadata"]["uid"])]


def test_a_kept_canary_and_a_dry_run_canary_stay(fake, web):
    add_deployment(fake, "web-canary", ["img:3"], labels={"harness.io/track": "canary"})
    assert rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode="client").canaries == ("deployment/web-canary",)
    assert rollback_workload(fake, DEPLOYMENT, "web", FLAGS, keep_canary=True).canaries == ()
    assert fake.stored(DEPLOYMENTS, "web-canary") is not None


def test_a_deployment_named_like_a_canary_without_the_track_label_is_not_deleted(fake, web):
    add_deployment(fake, "web-canary", ["img:3"])
    assert rollback_workload(fake, DEPLOYMENT, "web", FLAGS).canaries == ()
    assert fake.stored(DEPLOYMENTS, "web-canary") is not None


def test_a_rollback_reads_the_revisions_once(fake, web):
    before = len(fake.calls)
    rollback_workload(fake, DEPLOYMENT, "web", FLAGS)
    reads = [(c.verb, c.resource.plural) for c in fake.calls[before:] if c.verb in ("get", "list")]
    # kubectl rollout undo reads the same: the Deployment and its ReplicaSets; the plugin adds the canary check
    assert reads == [("get", "deployments"), ("list", "replicasets"), ("get", "deployments")], reads


@pytest.mark.parametrize("mode", ["none", "client", "server"])
def test_a_deployment_carrying_record_keys_is_not_rolled_back_even_in_a_dry_run(fake, web, mode):
    """`kubectl rollout undo` copies a ReplicaSet's record onto the Deployment; the controller would then copy it
    onto the revision the rollback restores, over its own record."""
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {"annotations": {STATUS: "Failed"}}})
    with pytest.raises(RollbackError, match=r"^refusing to write: deployment/web carries harness.io/status in its "
                                            r"own annotations.* deployment/web -n ns harness.io/status-$"):
        rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode=mode)
    assert fake.writes() == []


def test_the_controllers_of_controllerrevisions_copy_the_annotations_when_they_create_one():
    sts = {"metadata": {"name": "db", "namespace": "ns", "annotations": {"harness.io/config-snapshots": "{}"}}}
    problem = StatefulSetKind().carried_record_keys(sts, "-n ns")
    assert problem is not None and "annotations onto each ControllerRevision it creates" in problem
    assert StatefulSetKind().carried_record_keys({"metadata": {"name": "db", "annotations": {
        "harness.io/default-workflow-id": "wf1", "harness.io/auto-rollback": "true"}}}, "-n ns") is None


def test_ctrl_c_while_waiting_says_the_rollback_was_written_and_goes_on(fake, web, capsys, monkeypatch):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(wait, "wait_for_rollout", ctrl_c)
    with pytest.raises(Interrupted) as raised:
        rollback_workload(fake, DEPLOYMENT, "web", FLAGS, wait=True)
    assert image(fake) == "img:2"  # written before the wait
    assert raised.value.message == ("interrupted while waiting: deployment/web rolled back 3 -> 2; the rollout goes "
                                    "on; follow it with: kubectl rollout status deployment/web -n ns")
    assert int(raised.value.exit_code) == 130
    said_first = capsys.readouterr().err
    assert "deployment/web rolled back from revision 3" in said_first and "waiting for the rollout" in said_first


def test_record_keys_on_the_workload_are_refused_before_nothing_to_do_or_a_missing_identity(fake):
    """After `kubectl rollout undo` the Deployment carries a revision's record; the controller copies it onto the
    next revision, which then reads Succeeded: neither "nothing to do" nor "pass --service-id" may hide that."""
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), recorded("Succeeded")])
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {"annotations": {STATUS: "Succeeded"}}})
    for flags in (FLAGS, IdentityFlags()):
        with pytest.raises(RollbackError, match="^refusing to write: deployment/web carries harness.io/status"):
            rollback_workload(fake, DEPLOYMENT, "web", flags)
    assert fake.writes() == []


def test_a_rollout_that_fails_after_the_rollback_is_the_results_failure_with_the_rollback_in_it(fake, web,
                                                                                                monkeypatch):
    def timed_out(kube, kind, name, revision, timeout, followed=None):
        raise WaitFailedError("gave up after --timeout 3s")

    monkeypatch.setattr(wait, "wait_for_rollout", timed_out)
    result = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, wait=True)
    # printed with -o json as the rollback it was, the exit code (4) after it
    assert result.changed and result.target.number == 2 and result.rolled_out is False
    failure = result.failure()
    assert isinstance(failure, WaitFailedError) and failure.message == (
        "deployment/web rolled back from revision 3 (InProgress; workflow wf1; img:3) to revision 2 (Succeeded; "
        "workflow wf1; img:2), but the rollout did not complete: gave up after --timeout 3s")
    assert image(fake) == "img:2"


@pytest.mark.parametrize("mode", ["server", "none"])
def test_a_server_dry_run_says_what_the_next_apply_would_do_and_a_run_what_it_will(fake, mode):
    """Revision 2 recorded without its applied template or field owners, the live template applied server-side by
    Helm (with a last-applied configuration too): a server dry run changed nothing, so each of its apply notes says
    "would"; the real run says what it did."""
    add_deployment(fake, "web", ["img:1", "img:2", "img:3"],
                   annotations=[recorded("Succeeded"), recorded("Succeeded"), recorded("Failed")])
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"metadata": {
        "annotations": {"meta.helm.sh/release-name": "shop",
                        "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}'},
        "managedFields": [{"manager": "helm", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:spec": {"f:template": {"f:spec": {}}}}}]}})
    notes = rollback_workload(fake, DEPLOYMENT, "web", FLAGS, mode=mode).apply_notes
    assert len(notes) == 3, notes  # the last-applied configuration, the field owners, the Helm release
    if mode == "server":
        assert all(" would " in note for note in notes), notes
        assert not [note for note in notes if " now holds " in note or " changed go to " in note], notes
    else:
        assert not [note for note in notes if " would " in note], notes


@pytest.mark.parametrize("resource, kind, name", [(STATEFULSETS, StatefulSetKind(), "db"),
                                                  (DAEMONSETS, DaemonSetKind(), "agent")])
def test_without_an_identity_the_refusal_names_the_workload_it_is_about(fake, resource, kind, name):
    """Not "which deployment": a StatefulSet or a DaemonSet is not one, and in Harness's words a deployment is a
    pipeline's run; the line names the workload and the deployment identity it lacks, as README calls it."""
    add_controller_revision_workload(fake, resource, name, ["img:1", "img:2"])
    with pytest.raises(UsageError) as refused:
        rollback_workload(fake, kind, name, IdentityFlags())
    assert refused.value.message == (
        f"cannot choose a rollback target for {kind.display(name)} without a deployment identity: the live revision "
        "carries no record; pass --workflow-id (or --any-workflow), --service-id, --infra-id")


def test_a_dry_run_whose_stuck_pods_cannot_be_listed_says_what_it_would_have_rolled_back(fake, capsys):
    """A server dry run of a StatefulSet that may not list its pods: the warning says the rollback would be done,
    not that it was."""
    add_controller_revision_workload(fake, STATEFULSETS, "db", ["img:1", "img:2"],
                                     annotations=[recorded("Succeeded"), recorded("Failed")])
    fake.fail("list", status=403, resource=PODS)
    result = rollback_workload(fake, StatefulSetKind(), "db", FLAGS, mode="server")
    assert result.would_change and not result.changed
    warned = capsys.readouterr().err
    assert "statefulset/db would be rolled back 2 -> 1 (dry run), but its pods not Ready on revision 2" in warned, \
        warned
