"""record: store a deployment record on the revision that backs a workload now (or follow its rollout first)."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from kubectl_rollback import applied, console, digests, interrupts, render, verdict
from kubectl_rollback.commands import configsnap, measure, wait, workload_history
from kubectl_rollback.commands.measure import Analysis, Verdict
from kubectl_rollback.decide import (
    Revision,
    deployed_since_last_record,
    merge_identity,
    missing_flags,
    other_deployment,
)
from kubectl_rollback.errors import InconclusiveError, Interrupted, RollbackError, UsageError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import IdentityFlags, RecordRequest, RollbackRequest
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import (
    STATUS,
    STATUS_REASON,
    Identity,
    Record,
    Status,
    now_rfc3339,
    read_record,
    record_annotations,
)
from kubectl_rollback.workloads.base import WorkloadKind, annotate, images_of, revision_digests


@dataclasses.dataclass(frozen=True)
class RollbackOutcome:
    """What --rollback-on-failure did: whether the template went back, to which revision, and its line."""

    rolled_back: bool
    to: Optional[int]
    message: str


@dataclasses.dataclass(frozen=True)
class RecordResult(Printed):
    display: str
    namespace: str
    revision: Revision
    annotations: dict
    failure_message: Optional[str] = None  # with follow: why the rollout was recorded Failed
    rollback: Optional[RollbackOutcome] = None  # with --rollback-on-failure: what the rollback did
    analysis: Optional[str] = None  # with --verify: the template run once the rollout completed ...
    verification: Optional[Verdict] = None  # ... and its verdict, every measurement

    def table(self, wide: bool) -> str:
        return render.record_line(self)

    def data(self) -> Any:
        return render.record_dict(self)

    def failure(self) -> Optional[RollbackError]:
        """A followed rollout that failed (or whose analysis failed) is recorded Failed, and the command then fails
        too (exit 4); an analysis that was Inconclusive or Error left it InProgress (exit 7)."""
        if self.failure_message is None:
            if self.verification is not None and self.verification.status is Status.IN_PROGRESS:
                return InconclusiveError(
                    f"{self.display} revision {self.revision.number}: analysis {self.analysis} "
                    f"{self.verification.phase.value}: {self.verification.message}; left recorded InProgress, "
                    "nothing rolled back")
            return None
        status = self.annotations[STATUS]
        reason = self.annotations.get(STATUS_REASON)
        message = f"{self.failure_message}; recorded revision {self.revision.number} {status}"
        if reason is not None:
            message += f" ({reason})"
        if self.rollback is not None:
            message += f"; {self.rollback.message}"
        return WaitFailedError(message)


def run(kube: Kube, kind: WorkloadKind, name: str, request: RecordRequest) -> RecordResult:
    # --verify's template is read (a file before any request) and checked before anything is written.
    result: Optional[RecordResult] = None
    try:  # nothing is written before the record: a Ctrl-C until then leaves nothing behind, and says so
        loaded = measure.load_template(kube, request.verify.spec) if request.verify is not None else None
        workload = wait.wait_observed(kube, kind, kind.get(kube, name))
        # the controller would overwrite the record with them (docs/annotations.md)
        kind.refuse_record_keys(workload, kube.command_flags())
        revisions = kind.revisions(kube, workload)
        revision = _meant(kind, workload, revisions, request)
        if not revision.live and request.follow:
            return _not_live(kube, kind, workload, revision, request)  # superseded before the follow even began
        if not revision.live:
            _refuse_unless_finishing(kind, workload, revisions, revision)
        prepared = None
        if loaded is not None and request.follow:
            assert request.verify is not None
            seen = workload_history.from_revisions(kube, kind, workload, revisions, request.flags)
            prepared = measure.prepare_for(kube, name, revision, seen, *loaded, request.verify.args)
        status = request.status if not request.follow else Status.IN_PROGRESS
        assert status is not None  # the CLI requires exactly one of --status and --follow
        with interrupts.deferred():  # the record is written whole or not at all, and said
            result = _write(kube, kind, workload, revision, request, status)
    except KeyboardInterrupt:
        if result is None:
            raise Interrupted(f"interrupted: nothing recorded on {kind.display(name)}") from None
        if request.follow:  # held during the write, raised after it: the InProgress record is there
            raise _interrupted(kube, result, request, "") from None
        raise Interrupted(f"interrupted: {render.record_line(result)}; its config snapshots were not taken",
                          result) from None
    if not request.follow:
        try:
            configsnap.take(kube, kind, revision, request.config_snapshot)  # config snapshots (config-rollback.md)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: {render.record_line(result)}; its config snapshots may be "
                              "incomplete", result) from None
        return result
    try:
        configsnap.take(kube, kind, revision, request.config_snapshot)  # config snapshots (docs/config-rollback.md)
        state = wait.wait_for_rollout(kube, kind, name, revision.name, request.timeout, followed=revision,
                                      from_pods=True)
    except wait.NotLiveError as exc:
        return _not_live(kube, kind, exc.workload, revision, request)
    except WaitFailedError as exc:
        result = _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.FAILED)
        result = dataclasses.replace(result, failure_message=exc.message)
        if request.rollback_on_failure:
            result = dataclasses.replace(result, rollback=_roll_back(kube, kind, name, revision, request))
        return result
    except KeyboardInterrupt:
        raise _interrupted(kube, result, request, "") from None
    if prepared is not None:
        return _verified(kube, kind, name, workload, result, request, prepared)
    return _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.SUCCEEDED,
                  state.reason)


def _verified(kube: Kube, kind: WorkloadKind, name: str, workload: dict, in_progress: RecordResult,
              request: RecordRequest, prepared: Analysis) -> RecordResult:
    """--verify, once the rollout completed: the analysis decides the record (record_verdict, the writer `verify`
    uses too), and a Failed one is rolled back as a failed rollout is, with --rollback-on-failure."""
    assert request.verify is not None
    revision = in_progress.revision
    try:
        found = measure.run_analysis(prepared, request.verify.inconclusive_fails,
                                    lambda progress: console.info(progress.line()))
    except KeyboardInterrupt:
        raise _interrupted(kube, in_progress, request, f" (its rollout completed; the analysis {prepared.source} "
                                                       "was interrupted)") from None
    result = record_verdict(kube, kind, workload, _reread(kube, kind, workload, revision), request, found)
    result = dataclasses.replace(result, analysis=prepared.source, verification=found)
    if found.status is not Status.FAILED:
        return result
    result = dataclasses.replace(result, failure_message=f"{kind.display(name)} revision {revision.number}: analysis "
                                                         f"{prepared.source} {found.phase.value}: {found.message}")
    if request.rollback_on_failure:
        result = dataclasses.replace(result, rollback=_roll_back(kube, kind, name, revision, request))
    return result


def _interrupted(kube: Kube, in_progress: RecordResult, request: RecordRequest, where: str) -> Interrupted:
    """Ctrl-C (issue 26): the InProgress record stays; say so, and how to finish it. With -o json|yaml, the document
    holds that record as it was written (issue 32)."""
    display, revision = in_progress.display, in_progress.revision
    return Interrupted(f"interrupted: {display} revision {revision.number} is left recorded InProgress for workflow "
                       f"{_workflow(request, revision)}{where}; record its outcome with: kubectl harness-rollback "
                       f"record {display} --revision {revision.number} --status Failed {kube.command_flags()} (or "
                       "--status Succeeded)", in_progress)


def _refuse_unless_finishing(kind: WorkloadKind, workload: dict, revisions: list, revision: Revision) -> None:
    """A record is written on the live revision only, but for one: a revision named by --revision (or --image) that
    is still InProgress may be given its outcome later, whatever runs now (the command an interrupted `record
    --follow` prints must work when it is run); the identity check of the write still applies."""
    if revision.record.status is Status.IN_PROGRESS:
        return
    live = _live_revision(kind, workload, revisions)
    raise RollbackError(
        f"{kind.display(workload['metadata']['name'])} revision {live.number} is live, not revision "
        f"{revision.number}: nothing recorded (a record is written on the live revision only, or finishes an "
        "InProgress one named by --revision)")


def _meant(kind: WorkloadKind, workload: dict, revisions: list, request: RecordRequest) -> Revision:
    """The revision the pipeline means: the one --revision and --image name, else the live one, provided it runs
    the images the last `kubectl apply` applied (when the workload says: its last-applied configuration). A record
    never lands on a revision another deploy or a hand edit made live meanwhile."""
    display = kind.display(workload["metadata"]["name"])
    if request.revision is None and not request.images:
        live = _live_revision(kind, workload, revisions)
        applied_images = _last_applied_images(kind, workload)
        if applied_images is not None and applied_images != live.images:
            raise RollbackError(
                f"{display} runs {', '.join(live.images)} (revision {live.number}), but its last kubectl apply "
                f"applied {', '.join(applied_images)}: it changed since (another deploy, kubectl set image, rollout "
                "undo?); nothing recorded. Name the revision you mean with --revision N or --image IMAGE")
        unclaimed = deployed_since_last_record(revisions)
        if len(unclaimed) > 1:  # another pipeline deployed after this one, before either recorded: whose is live?
            listed = ", ".join(f"{r.number} ({', '.join(r.images)})" for r in unclaimed[:-1])
            last = unclaimed[-1]
            raise RollbackError(
                f"{display} has revisions {listed} and {last.number} ({', '.join(last.images)}) deployed since the "
                "last record: it cannot tell which one is yours; nothing recorded. Name the revision you deployed "
                "with --image IMAGE or --revision N")
        return live
    named = [r for r in revisions if (request.revision is None or r.number == request.revision)
             and set(request.images) <= set(r.images)]
    if not named:
        wanted = " ".join(filter(None, (
            "revision" if request.revision is None else f"revision {request.revision}",
            f"running {', '.join(request.images)}" if request.images else "")))
        known = ", ".join(f"{r.number} ({', '.join(r.images)})" for r in sorted(revisions, key=lambda r: r.number))
        raise RollbackError(f"{display} has no {wanted} (revisions: {known or 'none'}); nothing recorded")
    return next((r for r in named if r.live), max(named, key=lambda r: r.number))


def _last_applied_images(kind: WorkloadKind, workload: dict) -> Optional[tuple]:
    """The images of the pod template in the workload's last-applied configuration, or None if it has none."""
    template = applied.applied_template(workload, kind.template_path)
    images = images_of(template) if template is not None else ()
    return images if images and all(images) else None


def _not_live(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision,
              request: RecordRequest) -> RecordResult:
    """The followed revision stopped being live before its rollout completed: it is not Succeeded. A rollback
    back to an older revision makes it Failed ("rolled back to revision N"); a newer template leaves it InProgress
    ("superseded by revision N"): it was never judged (docs/annotations.md). Exit 4 either way, no rollback."""
    display = kind.display(workload["metadata"]["name"])
    workload = wait.wait_observed(kube, kind, workload)
    revisions = kind.revisions(kube, workload)
    live = next((r for r in revisions if r.live), None)
    mine = next((r for r in revisions if r.name == revision.name), None)
    if live is not None and _went_back(live, revision):
        status, reason = Status.FAILED, f"rolled back to revision {live.number}"
        message = f"{display} revision {revision.number} was replaced by a rollback to revision {live.number}"
    else:
        status = Status.IN_PROGRESS
        reason = f"superseded by revision {live.number}" if live is not None else "superseded by a newer template"
        message = f"{display} revision {revision.number} was {reason} before its rollout completed"
    if mine is None:
        raise WaitFailedError(f"{message}; its revision object is gone, so nothing is recorded")
    finished = mine.record.status
    if finished is Status.SUCCEEDED or (finished is Status.FAILED and status is Status.IN_PROGRESS):
        # An outcome recorded earlier (a re-run naming an old revision, or another client meanwhile) stands.
        raise WaitFailedError(f"{message}; its record is left as it was ({finished.value})")
    result = _write(kube, kind, workload, mine, request, status, reason)
    rollback = (RollbackOutcome(False, None, f"not rolled back: revision {live.number if live else '?'} is live, not "
                                "the revision followed") if request.rollback_on_failure else None)
    return dataclasses.replace(result, failure_message=message, rollback=rollback)


def _went_back(live: Revision, followed: Revision) -> bool:
    """Whether the live revision is an older one put back (a rollback, `kubectl rollout undo`, or an old manifest
    applied again) rather than a newer template: it says so, it held an older number, or it is an older object."""
    return (live.record.rolled_back_from == str(followed.number)
            or any(n < followed.number for n in live.former_numbers)
            or bool(live.created_at and followed.created_at and live.created_at < followed.created_at))


def _workflow(request: RecordRequest, revision: Revision) -> str:
    return request.flags.workflow_id or revision.record.workflow_id or "?"


def _roll_back(kube: Kube, kind: WorkloadKind, name: str, failed: Revision,
               request: RecordRequest) -> RollbackOutcome:
    """--rollback-on-failure: the failed rollout goes back through `rollback KIND/NAME` with the same identity, only
    while the failed revision is the live one (another pipeline's newer revision is left alone); the command still
    fails (exit 4), whatever the rollback did, so the pipeline shows the failed deployment."""
    from kubectl_rollback.commands.workload import WorkloadTarget

    rollback = RollbackRequest(flags=request.flags, only_from=failed.name)
    try:
        result = WorkloadTarget(kind, name).rollback(kube, rollback, lambda item: None)
    except RollbackError as exc:
        return RollbackOutcome(False, None, f"not rolled back: {exc.message}")
    return RollbackOutcome(result.changed, result.target.number if result.changed else None, result.message)


def _live_revision(kind: WorkloadKind, workload: dict, revisions: list) -> Revision:
    live = next((r for r in revisions if r.live), None)
    if live is None:
        raise RollbackError(
            f"{kind.display(workload['metadata']['name'])} has no revision for its current template yet "
            "(is it paused?); record again once the controller has created it"
        )
    return live


def _reread(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision) -> Revision:
    """The revision again after a rollout: its record now holds what the InProgress write stored."""
    return next((r for r in kind.revisions(kube, workload) if r.name == revision.name), revision)


def record_verdict(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, request: RecordRequest,
                   result: Verdict) -> RecordResult:
    """The verdict on the revision: its record through `record`'s own writer (identity, the refusal to mark a
    revision a rollback restored, the preconditioned write), then the verification annotations. The revision is
    read again first: the analysis took minutes, and a revision someone recorded Failed meanwhile (a rollback left
    it, a person saw it fail) is not made Succeeded by a measurement that started before."""
    current = next((r for r in kind.revisions(kube, workload) if r.name == revision.name), None)
    if current is None:
        raise RollbackError(f"{kind.display(workload['metadata']['name'])} revision {revision.number} is gone "
                            f"(pruned during the analysis); the {result.phase.value} verdict is not recorded")
    if (result.status is not Status.FAILED and current.record.status is Status.FAILED
            and revision.record.status is not Status.FAILED):
        raise RollbackError(f"{kind.display(workload['metadata']['name'])} revision {revision.number} was recorded "
                            f"Failed during the analysis; the {result.phase.value} verdict is not recorded over it")
    if verdict.replaces(result.status, current.record.status):
        written = _write(kube, kind, workload, current, request, result.status)
    else:  # the outcome recorded stays; only the verification annotations say what the analysis found
        written = RecordResult(kind.display(workload["metadata"]["name"]), kube.namespace, current,
                               dict(current.annotations or {}))
    annotate(kube, kind.revision_resource, current, measure.verification_annotations(result))
    return written


def identity_for(kube: Kube, display: str, revision: Revision, flags: IdentityFlags, otherwise: str = "") -> Identity:
    """The identity a record on `revision` is written with: the flags, and where they are left out the record
    already on that revision (docs/annotations.md), never an earlier revision's, which may be another pipeline's.
    Else a UsageError saying what is missing and what to pass (`otherwise`: another way out, as verify's)."""
    identity = merge_identity(flags, kube.namespace, revision.record, kube.cluster_name)
    missing = ", ".join(missing_flags(identity, recording=True))
    if missing:
        own = "its record lacks them" if revision.record.recorded else "it carries no record of its own"
        raise UsageError(
            f"cannot record {display} revision {revision.number}: {own} and {missing} "
            f"{'were' if ',' in missing else 'was'} not passed (the identity is never taken from another revision's "
            f"record: it may be another pipeline's); pass {missing}{otherwise}"
        )
    return identity


def _write(
    kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, request: RecordRequest, status: Status,
    reason: Optional[str] = None,
) -> RecordResult:
    existing: Record = revision.record
    display = kind.display(workload["metadata"]["name"])
    identity = identity_for(kube, display, revision, request.flags)
    assert identity.workflow_id is not None  # missing_flags checked it

    def refuse_if_not_ours(record: Record) -> None:
        _refuse_if_restored(kube, kind, workload, revision, record, status, request.force)
        other = other_deployment(record, identity)
        if other is not None and not request.force:
            raise RollbackError(
                f"{display} revision {revision.number} is recorded {record.status.value} for {other}; refusing to "
                f"replace it with a record for workflow {identity.workflow_id} ({identity.mapping.describe()}). "
                "Pass --force to replace it")

    refuse_if_not_ours(existing)
    artifact = request.artifact or existing.artifact or ", ".join(revision.images) or None
    annotations = record_annotations(
        status,
        identity.workflow_id,
        identity.mapping,
        now_rfc3339(),
        kind.written_on(revision),
        request.release_number or existing.release_number,
        artifact,
        reason,
    )
    # Preconditioned on the resourceVersion listed with the revision: a copy of this write that reaches the server
    # late (after a timeout and a retry) is refused instead of overwriting a newer record.
    # With the record, what was applied for this revision (applied.py): rollback restores it for the next apply;
    # and the image digests its pods run.
    found, unknown = _digests(kube, kind, workload, revision, status)
    kept = dict(annotations, **applied.revision_annotations(workload, kind.template_path), **found)
    # A retry after a 409 looks again: the write that changed the revision may be a rollback's audit of it.
    def still_wanted(current: dict) -> bool:
        refuse_if_not_ours(read_record(kind.written_on(revision), current))
        return True

    annotate(kube, kind.revision_resource, revision, kept, still_wanted=still_wanted)
    for note in unknown:  # said once the record is written: a refused write is its one error line alone
        # Pods not started yet are no surprise right after an apply; the rest is worth a warning.
        say = console.info if note.endswith(digests.NOT_STARTED) else console.warn
        say(f"{kind.display(workload['metadata']['name'])} revision {revision.number}: no image digest recorded: "
            f"{note}")
    return RecordResult(display, kube.namespace, revision, annotations)


def _digests(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, status: Status) -> tuple:
    """The image digests the revision's pods run (docs/annotations.md), with an outcome only: an InProgress
    revision's pods may not run yet; and what could not be known (recorded in the note, said by the caller)."""
    if status is Status.IN_PROGRESS:
        return {}, []
    return revision_digests(kube, kind, workload, revision)


def _refuse_if_restored(
    kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, existing: Record, status: Status, force: bool
) -> None:
    if status is not Status.SUCCEEDED and existing.restored_by_rollback and not force:
        # The revision the pipeline deployed is no longer live: a rollback put this good one back meanwhile.
        # The hint is a whole command: `verify`, which writes through here too, has no --force.
        display = kind.display(workload["metadata"]["name"])
        raise RollbackError(
            f"{display} revision {revision.number} is live because a rollback restored it at "
            f"{existing.rolled_back_at}, and it is recorded Succeeded; refusing to record it {status.value} (the "
            f"revision you deployed is no longer live). If this one failed too: kubectl harness-rollback record "
            f"{display} --revision {revision.number} --status {status.value} --force {kube.command_flags()}"
        )
