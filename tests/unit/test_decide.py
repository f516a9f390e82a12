"""The target choice: pure rules, tested without a cluster."""

import dataclasses

import pytest

from kubectl_rollback.decide import (
    NoTargetLeft,
    Outcome,
    Revision,
    choose_target,
    deployed_since_last_record,
    exit_code_for,
    merge_identity,
    missing_flags,
    pruned_numbers,
    resolve_identity,
)
from kubectl_rollback.errors import ExitCode, NoTargetError, UsageError
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import Identity, InfraMapping, Record, Status

MAPPING = InfraMapping("svc", "infra", "c1", "ns")


def rev(number, status=Status.SUCCEEDED, workflow="wf1", live=False, service="svc", former=()):
    record = Record(status=status, workflow_id=workflow, service_id=service, infra_id="infra", cluster_name="c1")
    if status is Status.UNKNOWN and workflow is None:
        record = Record()
    return Revision(number, f"rs-{number}", record, (f"img:{number}",), None, live, former_numbers=former)


def identity(workflow="wf1", any_workflow=False):
    return Identity(None if any_workflow else workflow, MAPPING, any_workflow)


FIVE = [
    rev(1),
    rev(2),
    rev(3, Status.FAILED),
    rev(4, workflow="wf2"),
    rev(5, Status.FAILED, live=True),
]


def test_same_workflow_skips_failed_and_other_workflows():
    decision = choose_target(FIVE, identity())
    assert decision.target.number == 2
    assert [(s.revision, s.reason) for s in decision.skipped] == [
        (4, "another workflow (wf2)"),
        (3, "recorded Failed"),
    ]


def test_any_workflow_takes_the_newest_success_on_the_mapping():
    assert choose_target(FIVE, identity(any_workflow=True)).target.number == 4


def test_other_mapping_is_never_a_target():
    revisions = [rev(1), rev(2, service="other"), rev(3, Status.FAILED, live=True)]
    decision = choose_target(revisions, identity())
    assert decision.target.number == 1
    assert "another infrastructure mapping (service other)" in decision.skipped[0].reason


def test_a_live_success_is_nothing_to_do_so_rollback_is_idempotent():
    revisions = [rev(1), rev(2, live=True)]
    decision = choose_target(revisions, identity())
    assert decision.target.number == 2 and decision.target.live


def test_a_live_success_of_another_workflow_does_not_stop_the_rollback():
    revisions = [rev(1), rev(2, workflow="wf2", live=True)]
    assert choose_target(revisions, identity()).target.number == 1


def test_first_deployment():
    with pytest.raises(NoTargetError, match="first deployment"):
        choose_target([rev(1, Status.FAILED, live=True)], identity())


def test_a_lone_live_revision_after_others_were_pruned_is_not_the_first_deployment():
    with pytest.raises(NoTargetError) as raised:
        choose_target([rev(2, Status.FAILED, live=True)], identity())
    assert raised.value.message == ("nothing to roll back to: the only revision kept (2) is the live one; revision 1 "
                                    "was pruned (revisionHistoryLimit) and cannot be restored")


def test_all_failed_names_the_skipped():
    revisions = [rev(1, Status.FAILED), rev(2, Status.FAILED), rev(3, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError, match=r"failed \(skipped 2: recorded Failed; 1: recorded Failed\)"):
        choose_target(revisions, identity())


def test_no_target_keeps_what_it_skipped_and_why():
    """history shows them even when nothing is left (decide.NoTargetLeft)."""
    revisions = [rev(1, Status.FAILED), rev(2, workflow="wf2"), rev(3, Status.FAILED, live=True)]
    with pytest.raises(NoTargetLeft) as raised:
        choose_target(revisions, identity())
    assert [(s.revision, s.reason) for s in raised.value.skipped] == [(2, "another workflow (wf2)"),
                                                                      (1, "recorded Failed")]
    assert raised.value.exit_code is ExitCode.NO_TARGET


def test_pruned_revisions_are_reported():
    revisions = [rev(4, Status.FAILED), rev(5, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError, match=r"revisions 1-3 were pruned"):
        choose_target(revisions, identity())
    with pytest.raises(NoTargetError, match=r"revision 1 was pruned"):
        choose_target([rev(2, Status.FAILED), rev(3, Status.FAILED, live=True)], identity())


def test_renumbered_revisions_are_not_reported_as_pruned():
    revisions = [rev(1), rev(3), rev(4, former=(2,), live=True)]
    assert pruned_numbers(revisions) == []


def test_unrecorded_revisions_are_skipped():
    revisions = [rev(1), rev(2, Status.UNKNOWN, workflow=None), rev(3, Status.FAILED, live=True)]
    decision = choose_target(revisions, identity())
    assert decision.target.number == 1
    assert decision.skipped[0].reason == "no record"


def test_in_progress_is_not_a_target():
    revisions = [rev(1), rev(2, Status.IN_PROGRESS), rev(3, Status.FAILED, live=True)]
    assert choose_target(revisions, identity()).target.number == 1


def test_explicit_revision():
    assert choose_target(FIVE, identity(), to_revision=4).target.number == 4


def test_explicit_failed_revision_needs_force():
    with pytest.raises(UsageError, match="--force"):  # exit 2, as a missing flag
        choose_target(FIVE, identity(), to_revision=3)
    assert choose_target(FIVE, identity(), to_revision=3, force=True).target.number == 3


def test_explicit_revision_of_other_workflow_warns():
    decision = choose_target(FIVE, identity(), to_revision=4)
    assert "another workflow" in decision.warnings[0]


def test_explicit_missing_revision():
    with pytest.raises(NoTargetError, match="not in the history"):
        choose_target(FIVE, identity(), to_revision=9)


def test_explicit_renumbered_revision_follows_its_new_number():
    revisions = [rev(1), rev(3, live=True, former=(2,))]
    decision = choose_target(revisions, identity(), to_revision=2)
    assert decision.target.number == 3 and "now revision 3" in decision.warnings[0]


def test_explicit_revision_needs_no_identity():
    assert choose_target(FIVE, None, to_revision=1).target.number == 1
    with pytest.raises(UsageError):
        choose_target(FIVE, None)


def test_identity_from_live_record_then_flags():
    live = Record(Status.FAILED, "wf1", "svc", "infra", "c1")
    ident = resolve_identity(IdentityFlags(), "ns", live, "ctx-cluster", "deployment/web")
    assert ident == Identity("wf1", InfraMapping("svc", "infra", "c1", "ns"))
    ident = resolve_identity(IdentityFlags("wf9", infra_id="other"), "ns", live, "ctx-cluster", "deployment/web")
    assert ident.workflow_id == "wf9" and ident.mapping.infra_id == "other"


def test_identity_cluster_defaults_to_context():
    ident = resolve_identity(IdentityFlags("wf1", "svc", "infra"), "ns", None, "ctx-cluster", "deployment/web")
    assert ident.mapping.cluster_name == "ctx-cluster"


def test_identity_missing_is_usage_error():
    with pytest.raises(UsageError, match="statefulset/db without a deployment identity: .*--workflow-id .* "
                                         "--service-id, --infra-id"):
        resolve_identity(IdentityFlags(), "ns", None, "c", "statefulset/db")


def test_record_takes_the_same_identity_but_needs_all_four_values():
    recorded = Record(Status.IN_PROGRESS, "wf1", "svc", "infra", None)
    ident = merge_identity(IdentityFlags(service_id="svc2"), "ns", recorded, None)
    assert ident == Identity("wf1", InfraMapping("svc2", "infra", None, "ns"))
    assert missing_flags(ident, recording=True) == ["--cluster-name"]
    assert missing_flags(ident) == []
    assert missing_flags(merge_identity(IdentityFlags(), "ns", None, "c"), recording=True) == [
        "--workflow-id",
        "--service-id",
        "--infra-id",
    ]


def test_release_exit_code_failed_beats_no_target():
    assert exit_code_for([Outcome.ROLLED_BACK, Outcome.NOTHING_TO_DO]) is ExitCode.OK
    assert exit_code_for([Outcome.NO_TARGET, Outcome.ROLLED_BACK]) is ExitCode.NO_TARGET
    assert exit_code_for([Outcome.NO_TARGET, Outcome.FAILED]) is ExitCode.ERROR


def test_any_workflow_needs_no_workflow_id():
    ident = resolve_identity(IdentityFlags(service_id="svc", infra_id="infra", any_workflow=True), "ns", None, "c",
                             "deployment/web")
    assert ident.any_workflow and ident.workflow_id is None


def test_live_success_with_nothing_older_is_the_target_itself():
    revisions = [rev(1, Status.FAILED), rev(2, Status.FAILED), rev(3, live=True)]
    decision = choose_target(revisions, identity())
    assert decision.target.number == 3 and decision.target.live


def test_keys_without_a_status_are_no_other_identitys_record_to_keep():
    """What a controller leaves on a revision after copying the workload's harness.io/workflow-id (no status): no
    outcome of another pipeline, so `record` may write there without --force."""
    from kubectl_rollback.decide import other_deployment
    from kubectl_rollback.records import Identity, InfraMapping, Record, Status

    ours = Identity("wf1", InfraMapping("svc", "infra", "c", "ns"))
    assert other_deployment(Record(Status.UNKNOWN, workflow_id="wfM"), ours) is None
    assert other_deployment(Record(Status.SUCCEEDED, workflow_id="wfM"), ours) == (
        "workflow wfM, service unset, infra unset, cluster unset")


def unrecorded(number, live=False):
    return rev(number, Status.UNKNOWN, workflow=None, live=live)


def test_deployed_since_last_record_lists_the_unrecorded_revisions_after_the_newest_pipeline_record():
    two_deploys = [rev(1), unrecorded(2), unrecorded(3, live=True)]
    assert [r.number for r in deployed_since_last_record(two_deploys)] == [2, 3]
    one_deploy = [unrecorded(1), rev(2), unrecorded(3, live=True)]  # an unrecorded revision before a record: old
    assert [r.number for r in deployed_since_last_record(one_deploy)] == [3]
    assert deployed_since_last_record([rev(1), rev(2, Status.IN_PROGRESS, live=True)]) == []
    first = [unrecorded(1, live=True)]
    assert [r.number for r in deployed_since_last_record(first)] == [1]


def test_deployed_since_last_record_takes_the_watchers_records_for_none():
    watched = dataclasses.replace(rev(3, Status.IN_PROGRESS, live=True),
                                  record=Record(status=Status.IN_PROGRESS, workflow_id="watch", recorded_by="watch"))
    assert [r.number for r in deployed_since_last_record([rev(1), unrecorded(2), watched])] == [2, 3]
