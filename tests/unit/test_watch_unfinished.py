"""watcher/unfinished.py: what became of a promised rollback whose failed revision is no longer live (pure)."""

from __future__ import annotations

from typing import Optional

from kubectl_rollback import records
from kubectl_rollback.decide import Revision
from kubectl_rollback.records import parse_record
from kubectl_rollback.watcher import reaction, unfinished
from kubectl_rollback.workloads.base import RolloutState
from tests.fakekube import recorded

MARK = {records.AUTO_ROLLBACK_AT: "2026-01-02T03:00:00Z"}


def revision(number: int, image: str, annotations: dict, live: bool = False, former: tuple = (),
             created_at: Optional[str] = None) -> Revision:
    return Revision(number=number, name=f"web-{image}", record=parse_record(annotations), images=(f"web:{image}",),
                    created_at=created_at, live=live, former_numbers=former, annotations=annotations)


def workload(*revisions: Revision, kind: str = "deployment") -> reaction.Workload:
    return reaction.Workload(kind=kind, name="web", namespace="infra", annotations={},
                           live=next((r for r in revisions if r.live), None), live_annotations={},
                           state=RolloutState(True, ""), has_deadline=True, revisions=revisions)


def find(*revisions: Revision, kind: str = "deployment") -> Optional[unfinished.Unfinished]:
    return unfinished.find(workload(*revisions, kind=kind), "test-cluster")


def test_the_target_running_again_under_a_new_number_is_the_rollback_done_and_named_by_its_number_then():
    left = find(revision(5, "1", recorded("Succeeded"), live=True, former=(1, 3)),
                revision(2, "2-broken", recorded("Failed")),
                revision(4, "4-broken", dict(recorded("Failed"), **MARK)))
    assert left is not None and left.target is not None and not left.audited
    assert (left.failed.number, left.target.number, left.target.name) == (4, 3, "web-1")
    assert left.outcome == ("rolled back to revision 3 (finished after the watcher that took it on at "
                            "2026-01-02T03:00:00Z stopped)")


def test_an_audit_from_the_failed_revision_since_the_mark_is_this_rollbacks_and_an_older_one_is_not():
    assert unfinished.audited(4, "2026-01-02T03:00:00Z", {
        "harness.io/rolled-back-from": "4", "harness.io/rolled-back-on": "web-1",
        "harness.io/rolled-back-at": "2026-01-02T03:00:00Z"})
    assert not unfinished.audited(4, "2026-01-02T03:00:00Z", {
        "harness.io/rolled-back-from": "2", "harness.io/rolled-back-on": "web-1",
        "harness.io/rolled-back-at": "2026-01-02T03:00:05Z"})
    assert not unfinished.audited(4, "2026-01-02T03:00:00Z", {
        "harness.io/rolled-back-from": "4", "harness.io/rolled-back-on": "web-1",
        "harness.io/rolled-back-at": "2026-01-01T00:00:00Z"})


def test_a_newer_deploy_or_another_rollback_target_running_is_said_as_it_is():
    newer = find(revision(1, "1", recorded("Succeeded")), revision(2, "2-broken", dict(recorded("Failed"), **MARK)),
                 revision(3, "3", {}, live=True))
    assert newer is not None and newer.target is None
    assert newer.outcome.startswith("replaced: deployment/web runs revision 3 (web:3) now, not "
                                    "revision 2 nor the revision its rollback chose; the watcher that took it on at ")
    # A person rolled back further than the rollback would have (to revision 1, past the good revision 2).
    elsewhere = find(revision(4, "1", recorded("Succeeded"), live=True, former=(1,)),
                     revision(2, "2", recorded("Succeeded")),
                     revision(3, "3-broken", dict(recorded("Failed"), **MARK)))
    assert elsewhere is not None and elsewhere.target is None


def test_a_controller_revision_rolled_out_again_keeps_its_number_now_having_lost_the_one_it_had():
    left = find(revision(3, "1", recorded("Succeeded"), live=True, created_at="2026-01-01T00:00:00Z"),
                revision(2, "2-broken", dict(recorded("Failed"), **MARK), created_at="2026-01-02T00:00:00Z"),
                kind="statefulset")
    assert left is not None and left.target is not None and left.target.number == 3
    made_after = find(revision(3, "3", recorded("Succeeded"), live=True, created_at="2026-01-03T00:00:00Z"),
                      revision(1, "1", recorded("Succeeded"), created_at="2026-01-01T00:00:00Z"),
                      revision(2, "2-broken", dict(recorded("Failed"), **MARK), created_at="2026-01-02T00:00:00Z"),
                      kind="statefulset")
    assert made_after is not None and made_after.target is None


def test_nothing_is_unfinished_without_a_mark_with_an_outcome_or_while_the_failed_revision_is_live():
    assert find(revision(1, "1", recorded("Succeeded")), revision(2, "2-broken", recorded("Failed"))) is None
    done = dict(recorded("Failed"), **MARK, **{records.AUTO_ROLLBACK_OUTCOME: "rolled back to revision 1"})
    assert find(revision(3, "1", recorded("Succeeded"), live=True, former=(1,)), revision(2, "2-broken", done)) is None
    assert find(revision(1, "1", recorded("Succeeded")),
                revision(2, "2-broken", dict(recorded("Failed"), **MARK), live=True)) is None
