"""Revisions marked bad and barriers: the annotations' parsing and the target choice they change (issue 22)."""

import dataclasses
import json

import pytest

from kubectl_rollback import marks
from kubectl_rollback.decide import Revision, choose_target, with_origin_marks
from kubectl_rollback.errors import NoTargetError, UsageError
from kubectl_rollback.records import Identity, InfraMapping, Record, Status

IDENTITY = Identity("wf1", InfraMapping("svc", "infra", "c1", "ns"))
STAMP = marks.Stamp("bad data", "jane", "2026-12-07T04:00:00Z")
SCHEMA = marks.Barrier(2, "hash-2", marks.Stamp("schema v2", "jane", "2026-12-07T04:00:00Z"))


def rev(number, status=Status.SUCCEEDED, live=False, bad=False, former=(), template_hash=None):
    record = Record(status=status, workflow_id="wf1", service_id="svc", infra_id="infra", cluster_name="c1")
    return Revision(number, f"web-hash-{number}", record, (), None, live, former_numbers=former,
                    template_hash=template_hash or f"hash-{number}", marked_bad=STAMP if bad else None)


# revisions 1, 2 (the barrier), 3 (marked bad) Succeeded, 4 Failed and live: the history
HISTORY = [rev(1), rev(2), rev(3, bad=True), rev(4, Status.FAILED, live=True)]


def test_a_revision_marked_bad_is_skipped_and_the_barrier_revision_itself_is_a_target():
    decision = choose_target(HISTORY, IDENTITY, barriers=[SCHEMA])
    assert decision.target.number == 2 and decision.crossed is None
    assert [(s.revision, s.reason) for s in decision.skipped] == [(3, "marked bad (bad data)")]


def test_nothing_good_above_the_barrier_is_no_target_naming_it():
    history = [rev(1), rev(2, bad=True), rev(3, bad=True), rev(4, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError) as raised:
        choose_target(history, IDENTITY, barriers=[SCHEMA])
    assert raised.value.message.startswith("the barrier at revision 2 (schema v2) stops the rollback: only rollback "
                                           "--override-barrier --reason TEXT goes behind it;")
    assert "1: behind the barrier at revision 2 (schema v2)" in raised.value.message


def test_override_barrier_crosses_it_and_names_it():
    history = [rev(1), rev(2, bad=True), rev(3, bad=True), rev(4, Status.FAILED, live=True)]
    decision = choose_target(history, IDENTITY, barriers=[SCHEMA], override_barrier="restore")
    assert decision.target.number == 1 and decision.crossed == marks.Crossing(SCHEMA, "restore")


def test_override_barrier_with_no_barrier_in_the_way_warns():
    decision = choose_target(HISTORY, IDENTITY, barriers=[SCHEMA], override_barrier="restore")
    assert decision.target.number == 2 and decision.crossed is None
    assert "nothing crossed" in decision.warnings[0]


def test_to_revision_behind_a_barrier_or_marked_bad_needs_its_flag():
    with pytest.raises(NoTargetError, match="revision 1 is behind the barrier at revision 2"):
        choose_target(HISTORY, IDENTITY, to_revision=1, barriers=[SCHEMA])
    with pytest.raises(UsageError, match=r"revision 3 is marked bad \(bad data\); pass --force"):
        choose_target(HISTORY, IDENTITY, to_revision=3, barriers=[SCHEMA])
    forced = choose_target(HISTORY, IDENTITY, to_revision=3, force=True, barriers=[SCHEMA])
    assert forced.target.number == 3 and "marked bad" in forced.warnings[0]
    crossed = choose_target(HISTORY, IDENTITY, to_revision=1, barriers=[SCHEMA], override_barrier="why")
    assert crossed.target.number == 1 and crossed.crossed.barrier == SCHEMA


def test_a_live_revision_marked_bad_is_rolled_back_from():
    history = [rev(1), rev(2, live=True, bad=True)]
    assert choose_target(history, IDENTITY).target.number == 1


def test_a_template_first_deployed_before_the_barrier_stays_behind_it_when_renumbered():
    # web:1 applied again after the barrier: its ReplicaSet is revision 4 now, revision 1 before
    history = [rev(3, bad=True), rev(4, former=(1,), template_hash="hash-1"), rev(5, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError, match="4: behind the barrier at revision 2"):
        choose_target(history, IDENTITY, barriers=[SCHEMA])
    # the barrier's own template, rolled back to and renumbered, is not behind it
    renumbered = [rev(1), rev(6, former=(2,), template_hash="hash-2"), rev(7, Status.FAILED, live=True)]
    assert choose_target(renumbered, IDENTITY, barriers=[SCHEMA]).target.number == 6


def test_parsing_keeps_marks_that_cannot_be_read():
    assert marks.parse_marked_bad({marks.MARKED_BAD: "oops"}).reason.startswith(marks.MARKED_BAD + " unreadable")
    assert marks.parse_marked_bad({}) is None
    own = marks.parse_revision_barrier({marks.BARRIER: "{"}, 7, "h7")
    assert (own.revision, own.template_hash) == (7, "h7")
    copied = marks.parse_revision_barrier({marks.BARRIER: marks.encode(SCHEMA.data())}, 5, "hash-5")
    assert copied is None  # another template's barrier, copied onto this revision
    assert marks.parse_revision_barrier({marks.BARRIER: marks.encode(SCHEMA.data())}, 2, "hash-2") == SCHEMA


def test_the_workload_list_round_trips_and_a_damaged_one_is_a_problem():
    value = marks.workload_barriers_value([SCHEMA])
    assert json.loads(value)[0]["templateHash"] == "hash-2"
    assert marks.parse_workload_barriers({marks.BARRIERS: value}) == ([SCHEMA], None)
    barriers, problem = marks.parse_workload_barriers({marks.BARRIERS: '[{"revision": "2"}]'})
    assert barriers == [] and "unreadable" in problem
    assert "unreadable" in marks.parse_workload_barriers({marks.BARRIERS: ""})[1]  # an empty value is no list
    assert marks.workload_barriers_value([]) is None


def test_merged_keeps_one_barrier_per_revision_newest_first():
    other = dataclasses.replace(SCHEMA, revision=5, template_hash="hash-5")
    assert marks.merged([SCHEMA, other, SCHEMA]) == [other, SCHEMA]


def test_a_pinned_copy_stands_where_its_origin_does():
    # revision 4 is revision 1 pinned to its digests (another template hash); 5 marked bad, 6 Failed and live
    copy = dataclasses.replace(rev(4), pinned_from=marks.PinnedOrigin(1, "hash-1"))
    history = [rev(1), rev(2, bad=True), rev(3, Status.FAILED), copy, rev(5, bad=True),
               rev(6, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError, match="4: behind the barrier at revision 2"):
        choose_target(history, IDENTITY, barriers=[SCHEMA])
    # a copy of the barrier's own revision is not behind it
    own = dataclasses.replace(rev(4), pinned_from=marks.PinnedOrigin(2, "hash-2"))
    assert choose_target([rev(1), own, rev(5, Status.FAILED, live=True)], IDENTITY, barriers=[SCHEMA]).target is own


def test_a_mark_on_the_origin_covers_its_pinned_copy():
    copy = dataclasses.replace(rev(4), pinned_from=marks.PinnedOrigin(1, "hash-1"))
    marked = with_origin_marks([rev(1, bad=True), copy, rev(5)])
    assert marked[1].marked_bad.reason == "bad data; on revision 1, whose recorded digests it pins"
    assert marked[2].marked_bad is None and with_origin_marks([rev(1), copy])[1].marked_bad is None


def test_pinned_from_is_read_only_on_the_copy_it_names():
    value = marks.encode(marks.PinnedOrigin(1, "hash-1").data("hash-4"))
    assert marks.parse_pinned_from({marks.PINNED_FROM: value}, "hash-4") == marks.PinnedOrigin(1, "hash-1")
    assert marks.parse_pinned_from({marks.PINNED_FROM: value}, "hash-9") is None  # copied by rollout undo
    assert marks.parse_pinned_from({marks.PINNED_FROM: "{"}, "hash-4") is None


def test_a_template_behind_the_barrier_when_it_was_set_stays_behind_it_renumbered_without_history():
    # a StatefulSet's ControllerRevision of revision 1, renumbered 4, keeps no former numbers
    barrier = dataclasses.replace(SCHEMA, behind=("hash-1",))
    history = [rev(3, Status.FAILED), rev(4, template_hash="hash-1"), rev(5, Status.FAILED, live=True)]
    with pytest.raises(NoTargetError, match="4: behind the barrier at revision 2"):
        choose_target(history, IDENTITY, barriers=[barrier])
    assert choose_target(history, IDENTITY, barriers=[SCHEMA]).target.number == 4  # a barrier set before `behind`
    value = marks.workload_barriers_value([barrier])
    assert marks.parse_workload_barriers({marks.BARRIERS: value}) == ([barrier], None)
    assert "behind" not in json.loads(marks.workload_barriers_value([SCHEMA]))[0]
