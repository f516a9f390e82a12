"""The watcher's state machine (kubectl_rollback/watcher/reaction.py) and the lease rule, as pure functions."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from kubectl_rollback import records
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import IdentityFlags, WatchRequest, parse_address
from kubectl_rollback.records import RECORDED_BY, STATUS, Status, parse_record
from kubectl_rollback.watcher import reaction
from kubectl_rollback.watcher.lease import expired
from kubectl_rollback.watcher.reaction import WatchAction
from kubectl_rollback.workloads.base import RolloutState

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
IN_PROGRESS = RolloutState(False, "deployment/web: 0 updated: waiting")
DONE = RolloutState(True, "deployment/web: rolled out")
FAILED = RolloutState(False, "", failure="deployment/web exceeded its progress deadline")
SETTINGS = reaction.Settings(IdentityFlags(), "ctx-cluster", progress_deadline=60, auto_rollback=False)


def workload(annotations: dict = None, state: RolloutState = IN_PROGRESS, kind: str = "deployment",
             workload_annotations: dict = None, live: bool = True) -> reaction.Workload:
    annotations = annotations or {}
    revision = Revision(number=3, name="web-abc", record=parse_record(annotations), images=("web:3",),
                        created_at=None, live=True)
    return reaction.Workload(kind=kind, name="web", namespace="shop", annotations=workload_annotations or {},
                           live=revision if live else None, live_annotations=annotations, state=state,
                           has_deadline=kind == "deployment")


def ours(status: str, recorded_at: str = "2026-01-02T03:04:00Z") -> dict:
    return {STATUS: status, RECORDED_BY: "watch", "harness.io/workflow-id": "watch", "harness.io/service-id": "web",
            "harness.io/infra-id": "shop", "harness.io/cluster-name": "ctx-cluster",
            "harness.io/recorded-at": recorded_at}


def pipelines(status: str) -> dict:
    return {STATUS: status, "harness.io/workflow-id": "wf1", "harness.io/service-id": "svc",
            "harness.io/infra-id": "infra", "harness.io/cluster-name": "c1"}


@pytest.mark.parametrize("state, status", [(IN_PROGRESS, Status.IN_PROGRESS), (DONE, Status.SUCCEEDED),
                                           (FAILED, Status.FAILED)])
def test_an_unrecorded_revision_is_claimed_with_the_rollouts_state_and_the_default_identity(state, status):
    decision = reaction.decide(workload(state=state), SETTINGS, NOW)
    assert decision.action is WatchAction.RECORD and decision.status is status
    assert decision.annotations is not None
    assert decision.annotations[RECORDED_BY] == "watch"
    assert decision.annotations["harness.io/workflow-id"] == "watch"
    assert decision.annotations["harness.io/service-id"] == "web"
    assert decision.annotations["harness.io/infra-id"] == "shop"
    assert decision.annotations["harness.io/cluster-name"] == "ctx-cluster"
    assert decision.annotations["harness.io/recorded-at"] == "2026-01-02T03:04:05Z"
    assert decision.annotations["harness.io/artifact"] == "web:3"


def test_identity_comes_from_the_revision_then_the_manifest_then_the_flags_then_the_default():
    carried = {"harness.io/workflow-id": "from-rs"}  # keys without a status: e.g. copied from the Deployment
    manifest = {"harness.io/default-workflow-id": "from-manifest", "harness.io/default-service-id": "svc-manifest",
                "harness.io/infra-id": "a record key: not the watcher's default"}
    settings = reaction.Settings(IdentityFlags(service_id="svc-flag", infra_id="infra-flag"), "ctx", 60, False)
    decision = reaction.decide(workload(carried, workload_annotations=manifest), settings, NOW)
    assert decision.annotations is not None
    assert decision.annotations["harness.io/workflow-id"] == "from-rs"
    assert decision.annotations["harness.io/service-id"] == "svc-manifest"
    assert decision.annotations["harness.io/infra-id"] == "infra-flag"
    assert decision.annotations["harness.io/cluster-name"] == "ctx"


@pytest.mark.parametrize("state, status", [(DONE, Status.SUCCEEDED), (FAILED, Status.FAILED)])
def test_the_watchers_own_in_progress_record_is_completed(state, status):
    decision = reaction.decide(workload(ours("InProgress"), state=state), SETTINGS, NOW)
    assert decision.action is WatchAction.RECORD and decision.status is status
    assert reaction.precondition(workload(ours("InProgress")))(ours("InProgress"))


def test_a_rollout_still_going_is_left_in_progress():
    assert reaction.decide(workload(ours("InProgress")), SETTINGS, NOW).action is WatchAction.NOTHING


@pytest.mark.parametrize("status", ["InProgress", "Succeeded", "Failed"])
@pytest.mark.parametrize("state", [IN_PROGRESS, DONE, FAILED])
def test_a_pipelines_record_is_never_written(status, state):
    decision = reaction.decide(workload(pipelines(status), state=state), SETTINGS, NOW)
    assert decision.action is WatchAction.NOTHING


def test_a_status_nobody_can_read_is_someone_elses_and_left_alone():
    assert reaction.decide(workload({STATUS: "Bogus"}, state=DONE), SETTINGS, NOW).action is WatchAction.NOTHING


def test_statefulsets_fail_after_the_progress_deadline_counted_from_the_watchers_in_progress_record():
    early = workload(ours("InProgress", "2026-01-02T03:03:10Z"), kind="statefulset")  # 55s ago
    late = workload(ours("InProgress", "2026-01-02T03:03:00Z"), kind="statefulset")  # 65s ago
    assert reaction.decide(early, SETTINGS, NOW).action is WatchAction.NOTHING
    decision = reaction.decide(late, SETTINGS, NOW)
    assert decision.status is Status.FAILED and "--progress-deadline 60s" in decision.why


def test_deployments_ignore_the_progress_deadline_flag_they_have_their_own():
    old = workload(ours("InProgress", "2026-01-01T00:00:00Z"))
    assert reaction.decide(old, SETTINGS, NOW).action is WatchAction.NOTHING


def test_a_revision_without_status_yet_is_not_decided_before_the_controller_made_it():
    assert reaction.decide(workload(live=False), SETTINGS, NOW).action is WatchAction.NOTHING


def test_auto_rollback_acts_on_a_failed_live_revision_until_an_outcome_is_written():
    on = reaction.Settings(IdentityFlags(), "c", 60, auto_rollback=True)
    assert reaction.decide(workload(pipelines("Failed")), on, NOW).action is WatchAction.ROLLBACK
    # Marked but not done (the watcher was killed, or its rollback failed): still live, so it is (re)tried.
    marked = dict(pipelines("Failed"), **{records.AUTO_ROLLBACK_AT: "2026-01-02T03:00:00Z"})
    decision = reaction.decide(workload(marked), on, NOW)
    assert decision.action is WatchAction.ROLLBACK and "is not done" in decision.why
    assert not reaction.still_failed_unmarked(marked) and reaction.still_failed_unmarked(pipelines("Failed"))
    refused = dict(marked, **{records.AUTO_ROLLBACK_OUTCOME: "refused: no target"})
    assert reaction.decide(workload(refused), on, NOW).action is WatchAction.NOTHING
    assert reaction.still_failed_unfinished(marked) and not reaction.still_failed_unfinished(refused)


def test_a_revision_rolled_out_again_is_a_new_outcome():
    # Revision 3 is an old ReplicaSet scaled up again: the watcher's Succeeded record is about its rollout as 1.
    earlier = dict(ours("Succeeded"), **{records.RECORDED_REVISION: "1", records.AUTO_ROLLBACK_AT: "x"})
    decision = reaction.decide(workload(earlier), SETTINGS, NOW)
    assert decision.action is WatchAction.RECORD and decision.status is Status.IN_PROGRESS
    assert decision.annotations is not None
    assert decision.annotations[records.RECORDED_REVISION] == "3"
    assert decision.annotations[records.AUTO_ROLLBACK_AT] is None  # an earlier rollout's auto-rollback is history
    assert "revision 1 rolled out again as revision 3" in decision.why
    failed = reaction.decide(workload(earlier, state=FAILED), SETTINGS, NOW)
    assert failed.action is WatchAction.RECORD and failed.status is Status.FAILED
    # The same record, about this very rollout: nothing new. A record with no number (an older watcher's) too.
    assert reaction.decide(workload(dict(earlier, **{records.RECORDED_REVISION: "3"})), SETTINGS, NOW).action \
        is WatchAction.NOTHING
    assert reaction.decide(workload(ours("Succeeded")), SETTINGS, NOW).action is WatchAction.NOTHING
    # A pipeline's record is never written, whatever its revision.
    assert reaction.decide(workload(dict(pipelines("Succeeded"), **{records.RECORDED_REVISION: "1"})), SETTINGS,
                         NOW).action is WatchAction.NOTHING


def test_auto_rollback_per_workload_annotation_and_off_by_default():
    failed = pipelines("Failed")
    assert reaction.decide(workload(failed), SETTINGS, NOW).action is WatchAction.NOTHING
    annotated = workload(failed, workload_annotations={reaction.AUTO_ROLLBACK: "True"})
    assert reaction.decide(annotated, SETTINGS, NOW).action is WatchAction.ROLLBACK
    off = workload(failed, workload_annotations={reaction.AUTO_ROLLBACK: "false"})
    assert reaction.decide(off, SETTINGS, NOW).action is WatchAction.NOTHING


def test_preconditions_on_a_fresh_read():
    assert reaction.still_claimable({}) and not reaction.still_claimable(pipelines("InProgress"))
    still_ours = reaction.precondition(workload(ours("InProgress")))
    assert still_ours(ours("InProgress"))
    assert not still_ours(pipelines("InProgress"))  # a pipeline recorded over ours meanwhile
    assert not still_ours(ours("Succeeded"))
    earlier = dict(ours("Succeeded"), **{records.RECORDED_REVISION: "1"})
    assert reaction.precondition(workload(earlier))(earlier)
    assert not reaction.precondition(workload(earlier))(dict(earlier, **{records.RECORDED_REVISION: "3"}))


def lease(holder, renewed: str, duration: int = 15) -> dict:
    return {"spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": duration}}


def test_a_lease_expires_after_its_duration_without_renewal_or_when_released():
    assert not expired(lease("a", "2026-01-02T03:03:55.000000Z"), NOW)  # renewed 10s ago
    assert expired(lease("a", "2026-01-02T03:03:45.000000Z"), NOW)  # 20s ago
    assert expired(lease(None, "2026-01-02T03:04:04.000000Z"), NOW)  # released
    assert expired({"spec": {"holderIdentity": "a"}}, NOW)  # never renewed


@pytest.mark.parametrize("text, address", [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9", ("127.0.0.1", 9))])
def test_health_address(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["8080", "foo", ":http", ":70000", ""])
def test_a_bad_health_address_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--health-address"):
        parse_address(text)


@pytest.mark.parametrize("request_, message", [
    (WatchRequest(log_format="xml"), "--log-format"),
    (WatchRequest(flags=IdentityFlags(any_workflow=True)), "--any-workflow"),
    (WatchRequest(lease_name="Bad_Name"), "--lease-name"),
    (WatchRequest(lease_duration=1), "--lease-duration"),
])
def test_watch_flags_are_checked_before_any_request(request_, message):
    with pytest.raises(UsageError, match=message):
        request_.validate()


def test_a_record_copied_from_another_revision_is_judged_afresh_unless_the_workload_carries_it():
    """`kubectl rollout undo` copies a ReplicaSet's record onto the Deployment, its controller onto the next
    ReplicaSet: there, recorded-on names another object, and the watcher decides from the rollout, not the copy."""
    on = records.written_on("ReplicaSet", "web-abc", "uid-9")
    copy = dict(pipelines("Succeeded"), **{records.RECORDED_ON: "ReplicaSet/web-old/uid-1",
                                           records.AUTO_ROLLBACK_OUTCOME: "rolled back to revision 1"})
    revision = Revision(number=3, name="web-abc", record=records.read_record(on, copy), images=("web:3",),
                        created_at=None, live=True, uid="uid-9")
    view = dataclasses.replace(workload(copy, state=FAILED), live=revision)
    decision = reaction.decide(view, SETTINGS, NOW)
    assert decision.action is WatchAction.RECORD and decision.status is Status.FAILED, decision
    assert decision.annotations is not None and decision.annotations[records.RECORDED_ON] == on
    assert decision.annotations[records.AUTO_ROLLBACK_OUTCOME] is None and "copy of the record" in decision.why
    still = reaction.precondition(view)
    assert still(copy) and not still(dict(copy, **{records.RECORDED_ON: on, STATUS: "Failed"}))
    carried = dataclasses.replace(view, carried=(STATUS, records.AUTO_ROLLBACK_OUTCOME))
    taken_off = reaction.decide(carried, SETTINGS, NOW)
    assert taken_off.action is WatchAction.TAKE_OFF_KEYS, taken_off
    assert taken_off.annotations == {STATUS: None, records.AUTO_ROLLBACK_OUTCOME: None}
    assert "carries harness.io/status, harness.io/auto-rollback-outcome in its own annotations" in taken_off.why


def test_a_leader_whose_last_renewal_is_too_old_does_not_hold_the_lease():
    """A leader paused (SIGSTOP) past its lease still has `leader` set until its next try; `holds`, checked right
    before each write, says no from the moment another replica may have taken over (issue 29b)."""
    import time

    from kubectl_rollback.watcher.lease import Elector

    elector = Elector(None, "harness-rollback-watch", "me", 6.0, lambda leader: None)  # type: ignore[arg-type]
    elector.leader, elector._last_renewal = True, time.monotonic()
    assert elector.holds()
    elector._last_renewal = time.monotonic() - 4.1  # more than 2/3 of the lease duration ago
    assert not elector.holds()
    elector.leader, elector._last_renewal = False, time.monotonic()
    assert not elector.holds()
