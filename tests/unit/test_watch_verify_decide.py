"""The watcher's decisions for a workload annotated harness.io/verify (issue 31): a completed rollout waits for its
analysis instead of being Succeeded, the verdict is the outcome, and an Inconclusive or Error one is left alone."""

from __future__ import annotations

import pytest

from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import STATUS, Status
from kubectl_rollback.verdict import VERIFICATION, VERIFICATION_MESSAGE, VERIFIED_AT
from kubectl_rollback.watcher import reaction
from kubectl_rollback.watcher.reaction import WatchAction
from tests.unit.test_watch_decide import DONE, FAILED, IN_PROGRESS, NOW, SETTINGS, ours, workload

VERIFIED = {reaction.VERIFY: "analysistemplate/error-ratio"}


def test_a_completed_rollout_is_claimed_in_progress_when_an_analysis_comes_next():
    decision = reaction.decide(workload(state=DONE, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert decision.action is WatchAction.RECORD and decision.status is Status.IN_PROGRESS
    assert "its analysis comes next" in decision.why
    # a failed rollout is Failed at once: there is nothing to measure
    failed = reaction.decide(workload(state=FAILED, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert failed.status is Status.FAILED


def test_the_watchers_in_progress_record_is_verified_once_the_rollout_completes():
    assert reaction.decide(workload(ours("InProgress"), IN_PROGRESS, workload_annotations=VERIFIED), SETTINGS,
                         NOW).action is WatchAction.NOTHING
    assert reaction.decide(workload(ours("InProgress"), DONE, workload_annotations=VERIFIED), SETTINGS,
                         NOW).action is WatchAction.VERIFY
    # without the annotation, as before: Succeeded
    assert reaction.decide(workload(ours("InProgress"), DONE), SETTINGS, NOW).status is Status.SUCCEEDED


@pytest.mark.parametrize("phase", ["Inconclusive", "Error"])
def test_an_inconclusive_or_error_verdict_is_left_in_progress_and_never_rolled_back(phase):
    on = reaction.Settings(IdentityFlags(), "c", 60, auto_rollback=True)
    verdict = dict(ours("InProgress"), **{VERIFICATION: phase})
    decision = reaction.decide(workload(verdict, DONE, workload_annotations=VERIFIED), on, NOW)
    assert decision.action is WatchAction.NOTHING and phase in decision.why


def test_a_failed_verdict_is_rolled_back_as_any_failed_revision():
    on = reaction.Settings(IdentityFlags(), "c", 60, auto_rollback=True)
    failed = dict(ours("Failed"), **{VERIFICATION: "Failed"})
    decision = reaction.decide(workload(failed, DONE, workload_annotations=VERIFIED), on, NOW)
    assert decision.action is WatchAction.ROLLBACK


def test_the_verdict_is_the_watchers_record_and_a_new_claim_clears_an_earlier_verification():
    view = workload(ours("InProgress"), DONE, workload_annotations=VERIFIED)
    decision = reaction.verdict(view, SETTINGS, Status.FAILED, "analysis x Failed", NOW)
    assert decision.action is WatchAction.RECORD and decision.annotations is not None
    assert decision.annotations[STATUS] == "Failed" and decision.annotations[reaction.RECORDED_BY] == "watch"
    claim = reaction.decide(workload(state=IN_PROGRESS, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert claim.annotations is not None
    assert all(claim.annotations[key] is None for key in (VERIFICATION, VERIFICATION_MESSAGE, VERIFIED_AT))


def test_a_revision_a_rollback_restored_is_recorded_from_its_rollout_and_not_analysed_again():
    """Revision 2, the watcher's Succeeded record, rolled out again as revision 3 by a rollback: an analysis could
    only roll back further (README: never walks further back)."""
    restored = dict(ours("Succeeded"), **{reaction.RECORDED_REVISION: "2", "harness.io/rolled-back-at":
                                          "2026-01-02T03:05:00Z", "harness.io/rolled-back-from": "4"})
    waiting = reaction.decide(workload(restored, IN_PROGRESS, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert waiting.action is WatchAction.NOTHING and "restored by the rollback" in waiting.why
    done = reaction.decide(workload(restored, DONE, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert done.action is WatchAction.RECORD and done.status is Status.SUCCEEDED
    assert "not analysed again" in done.why
    # rolled out again with no rollback (a re-apply of the same template): analysed as any rollout
    reapplied = dict(ours("Succeeded"), **{reaction.RECORDED_REVISION: "2"})
    claim = reaction.decide(workload(reapplied, DONE, workload_annotations=VERIFIED), SETTINGS, NOW)
    assert claim.status is Status.IN_PROGRESS and "its analysis comes next" in claim.why
