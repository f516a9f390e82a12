"""`mark-bad KIND/NAME --revision N` and `barrier KIND/NAME --revision N` (their rules are marks.py and decide.py):
write, or with --clear take off, the mark on the revision object and, for a barrier, its entry on the workload."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, List, Optional, Tuple

from kubectl_rollback import marks, render
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import NoTargetError, UsageError
from kubectl_rollback.kube import Kube, retry_on_conflict
from kubectl_rollback.options import MarkRequest
from kubectl_rollback.output import Result
from kubectl_rollback.records import now_rfc3339
from kubectl_rollback.workloads.base import WorkloadKind, annotate


@dataclasses.dataclass(frozen=True)
class MarkResult(Result):
    verb: str  # "mark-bad" or "barrier"
    display: str
    namespace: str
    revision: int
    name: Optional[str]  # the revision object; None: a barrier cleared after its revision was pruned
    stamp: Optional[marks.Stamp]  # what was set; None: cleared
    changed: bool
    message: str

    def table(self, wide: bool) -> str:
        return self.message

    def data(self) -> Any:
        return render.mark_dict(self)


def mark_bad(kube: Kube, kind: WorkloadKind, name: str, request: MarkRequest) -> MarkResult:
    _, revisions = _read(kube, kind, name)
    revision = _find(revisions, request.revision)
    display = kind.display(name)
    where = f"{display} revision {revision.number} ({revision.name})"
    if request.clear:
        if revision.marked_bad is None:
            return MarkResult("mark-bad", display, kube.namespace, revision.number, revision.name, None, False,
                              f"{where} is not marked bad: nothing to do")
        annotate(kube, kind.revision_resource, revision, {marks.MARKED_BAD: None})
        return MarkResult("mark-bad", display, kube.namespace, revision.number, revision.name, None, True,
                          f"{where} is no longer marked bad (it was: {revision.marked_bad.reason})")
    assert request.reason is not None  # MarkRequest.validate: a reason or --clear
    if revision.marked_bad is not None and _kept(kube, revision.marked_bad, request, f"{where} is already marked bad",
                                                 "mark-bad", display):
        return MarkResult("mark-bad", display, kube.namespace, revision.number, revision.name, revision.marked_bad,
                          False, f"{where} is marked bad already, for the same reason: nothing to do")
    stamp = marks.Stamp(request.reason, kube.whoami(), now_rfc3339())
    annotate(kube, kind.revision_resource, revision, {marks.MARKED_BAD: marks.encode(marks.stamp_data(stamp))})
    live = " (the live revision: roll it back with rollback)" if revision.live else ""
    return MarkResult("mark-bad", display, kube.namespace, revision.number, revision.name, stamp, True,
                      f"{where} marked bad: {request.reason}; no rollback goes to it{live}")


def barrier(kube: Kube, kind: WorkloadKind, name: str, request: MarkRequest) -> MarkResult:
    workload, revisions = _read(kube, kind, name)
    display = kind.display(name)
    if request.clear:
        return _clear_barrier(kube, kind, name, revisions, request.revision)
    revision = _find(revisions, request.revision)
    assert request.reason is not None  # MarkRequest.validate: a reason or --clear
    barriers, _ = marks.standing(workload["metadata"].get("annotations"), (r.barrier for r in revisions))
    existing = next((b for b in barriers if b.revision == revision.number), None)
    if existing is not None and _kept(kube, existing.stamp, request, f"{display} has a barrier at revision "
                                      f"{revision.number} already", "barrier", display):
        return MarkResult("barrier", display, kube.namespace, revision.number, revision.name, existing.stamp, False,
                          f"{display} has a barrier at revision {revision.number} already, for the same reason: "
                          "nothing to do")
    behind = {h for r in revisions if min(r.first_numbers()) < revision.number for h in r.template_hashes()}
    placed = marks.Barrier(revision.number, revision.template_hash,
                           marks.Stamp(request.reason, kube.whoami(), now_rfc3339()),
                           tuple(sorted(behind - {revision.template_hash})))
    # The workload's list first: it is what outlives the revision object (pruning), so it must not be missing
    # when the revision's copy is there.
    _write_workload_barriers(kube, kind, name, lambda listed: [b for b in listed if b.revision != placed.revision]
                             + [placed])
    annotate(kube, kind.revision_resource, revision, {marks.BARRIER: marks.encode(placed.data())})
    return MarkResult("barrier", display, kube.namespace, revision.number, revision.name, placed.stamp, True,
                      f"{display}: barrier at revision {revision.number} ({revision.name}): {request.reason}; no "
                      f"rollback goes to an older revision without --override-barrier")


def _clear_barrier(kube: Kube, kind: WorkloadKind, name: str, revisions: List[Revision], number: int) -> MarkResult:
    display = kind.display(name)
    revision = next((r for r in revisions if r.barrier is not None and r.barrier.revision == number), None)
    if revision is not None:
        annotate(kube, kind.revision_resource, revision, {marks.BARRIER: None})
    removed = _write_workload_barriers(kube, kind, name,
                                       lambda listed: [b for b in listed if b.revision != number])
    changed = removed or revision is not None
    message = (f"{display}: the barrier at revision {number} is lifted" if changed
               else f"{display} has no barrier at revision {number}: nothing to do")
    return MarkResult("barrier", display, kube.namespace, number, revision.name if revision else None, None,
                      changed, message)


def _write_workload_barriers(kube: Kube, kind: WorkloadKind, name: str,
                             change: Callable[[List[marks.Barrier]], List[marks.Barrier]]) -> bool:
    """Read-modify-write of the workload's barrier list, preconditioned on its resourceVersion (a concurrent writer
    makes it read again). True when the list changed."""

    def attempt() -> bool:
        meta = kind.get(kube, name)["metadata"]
        listed, unreadable = marks.parse_workload_barriers(meta.get("annotations"))
        if unreadable is not None:
            listed = []  # replaced: the barriers the revisions keep are still read
        wanted = change(listed)
        if wanted == listed and unreadable is None:
            return False
        body = {"metadata": {"resourceVersion": meta["resourceVersion"],
                             "annotations": {marks.BARRIERS: marks.workload_barriers_value(wanted)}}}
        kube.patch(kind.resource, name, body, "merge")
        return True

    return retry_on_conflict(attempt, f"cannot write the barriers of {kind.display(name)}")


def _kept(kube: Kube, stamp: marks.Stamp, request: MarkRequest, already: str, verb: str, display: str) -> bool:
    """Whether the mark or barrier there already is this request's (the same reason: nothing to do). Another reason
    is refused: the first one is kept, as who set it and why it was set; replacing it is a --clear first."""
    if stamp.reason == request.reason:
        return True
    raise UsageError(f"{already} ({stamp.describe()}); to give another reason, take it off first: kubectl "
                     f"harness-rollback {verb} {display} --revision {request.revision} --clear {kube.command_flags()}")


def _read(kube: Kube, kind: WorkloadKind, name: str) -> Tuple[dict, List[Revision]]:
    """The workload and its revisions."""
    workload = kind.get(kube, name)
    # A mark on the workload itself would be copied onto its revisions: refused as record keys are.
    kind.refuse_record_keys(workload, kube.command_flags())
    return workload, kind.revisions(kube, workload)


def _find(revisions: List[Revision], number: int) -> Revision:
    """Revision `number` as it is numbered now (a mark by a number a rollback renumbered would land elsewhere)."""
    found = next((r for r in revisions if r.number == number), None)
    if found is None:
        known = ", ".join(str(r.number) for r in sorted(revisions, key=lambda r: r.number, reverse=True)) or "none"
        raise NoTargetError(f"revision {number} is not in the history (revisions kept: {known}); it may have been "
                            "pruned")
    return found
