"""Pure decisions: which revision is live, which identity applies, and which revision to roll back to.

Nothing here talks to the API server; every function takes plain data and returns plain data, so the rules can be
unit-tested exhaustively and `history` and `rollback` are guaranteed to agree on the target.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from kubectl_rollback import configrefs
from kubectl_rollback.errors import ExitCode, NoTargetError, UsageError
from kubectl_rollback.marks import Barrier, Crossing, PinnedOrigin, Stamp
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import Identity, InfraMapping, Record, Status


@dataclasses.dataclass(frozen=True)
class Revision:
    """One revision of a workload, whatever object stores it (ReplicaSet or ControllerRevision)."""

    number: int
    name: str
    record: Record
    images: tuple
    created_at: Optional[str]
    live: bool
    resource_version: str = ""
    # The pod template this revision holds, as the revision object stores it.
    template: Any = dataclasses.field(default=None, compare=False, repr=False)
    # Revision numbers this object held before the controller renumbered it (deployment.kubernetes.io/revision-history).
    former_numbers: tuple = ()
    change_cause: Optional[str] = None
    # The revision object's uid and annotations: config snapshots are owned by it and mapped in its annotations.
    uid: str = ""
    annotations: Any = dataclasses.field(default=None, compare=False, repr=False)
    # The pod-template hash that names the revision object (NAME-HASH), which a barrier keeps (marks.py).
    template_hash: str = ""
    marked_bad: Optional[Stamp] = None  # `mark-bad`: never a rollback target without --to-revision N --force
    barrier: Optional[Barrier] = None  # `barrier` set at this revision, as its own object keeps it
    # Made by `rollback --pin-digests` from this revision: it stands where its origin does (marks.py).
    pinned_from: Optional[PinnedOrigin] = None

    def first_numbers(self) -> tuple:
        """The numbers this template was deployed under: its own, those a rollback renumbered it from, its origin's."""
        return (self.number, *self.former_numbers, *((self.pinned_from.revision,) if self.pinned_from else ()))

    def template_hashes(self) -> tuple:
        return (self.template_hash, *((self.pinned_from.template_hash,) if self.pinned_from else ()))


def with_origin_marks(revisions: Sequence[Revision]) -> list:
    """`revisions`, a pinned copy (`rollback --pin-digests`) not marked bad itself taking its origin's mark: the
    same revision, so a mark-bad of the origin keeps rollbacks away from both."""
    marked = {r.template_hash: r for r in revisions if r.marked_bad is not None}
    result = []
    for revision in revisions:
        origin = marked.get(revision.pinned_from.template_hash) if revision.pinned_from else None
        if revision.marked_bad is None and origin is not None and origin.marked_bad is not None:
            stamp = dataclasses.replace(origin.marked_bad, reason=f"{origin.marked_bad.reason}; on revision "
                                        f"{origin.number}, whose recorded digests it pins")
            revision = dataclasses.replace(revision, marked_bad=stamp)
        result.append(revision)
    return result


def snapshots_of(revision: Revision) -> Tuple[configrefs.Entry, ...]:
    """The snapshots a revision's record maps; none on a copy of another revision's record (docs/annotations.md):
    its map names that revision's snapshots, and contributes nothing here."""
    return () if revision.record.copied_from is not None else tuple(configrefs.parse_snapshots(revision.annotations))


@dataclasses.dataclass(frozen=True)
class Skip:
    revision: int
    reason: str


class NoTargetLeft(NoTargetError):
    """No rollback target by the rule, and the revisions it passed over, each with why (history still shows them)."""

    def __init__(self, message: str, skipped: Sequence[Skip]):
        super().__init__(message)
        self.skipped = tuple(skipped)


@dataclasses.dataclass(frozen=True)
class Decision:
    target: Optional[Revision]
    skipped: tuple  # of Skip, newest first: the revisions passed over on the way to the target
    warnings: tuple = ()
    crossed: Optional[Crossing] = None  # the barrier the target lies behind, which --override-barrier crosses


def merge_identity(
    flags: IdentityFlags, namespace: str, recorded: Optional[Record], context_cluster_name: Optional[str]
) -> Identity:
    """The one identity rule, for `record` and for `history`/`rollback`: flags first; where a flag is omitted, the
    value recorded on the revision (the live one); the cluster name last falls back to the kubeconfig context's
    cluster. Whether the result is complete enough is `missing_flags`."""
    recorded = recorded or Record()
    workflow_id = flags.workflow_id or (None if flags.any_workflow else recorded.workflow_id)
    return Identity(
        workflow_id=workflow_id,
        mapping=InfraMapping(
            service_id=flags.service_id or recorded.service_id,
            infra_id=flags.infra_id or recorded.infra_id,
            cluster_name=flags.cluster_name or recorded.cluster_name or context_cluster_name,
            namespace=namespace,
        ),
        any_workflow=flags.any_workflow,
    )


def missing_flags(identity: Identity, recording: bool = False) -> List[str]:
    """The flags an identity still lacks. Matching revisions needs the workflow (or --any-workflow), the service and
    the infrastructure; a record stores the cluster name as well, and always one workflow."""
    workflow = "--workflow-id" if recording else "--workflow-id (or --any-workflow)"
    needed = [
        (workflow, identity.workflow_id or (identity.any_workflow and not recording)),
        ("--service-id", identity.mapping.service_id),
        ("--infra-id", identity.mapping.infra_id),
    ]
    if recording:
        needed.append(("--cluster-name", identity.mapping.cluster_name))
    return [flag for flag, value in needed if not value]


def resolve_identity(
    flags: IdentityFlags, namespace: str, live_record: Optional[Record], context_cluster_name: Optional[str],
    display: str,
) -> Identity:
    """The identity whose revisions history and rollback match (merge_identity on the live revision's record), or a
    UsageError naming the workload (`display`, KIND/NAME: not only Deployments roll back) and the flags to pass."""
    identity = merge_identity(flags, namespace, live_record, context_cluster_name)
    missing = missing_flags(identity)
    if missing:
        recorded = live_record is not None and live_record.recorded
        where = "the live revision's record lacks it" if recorded else "the live revision carries no record"
        # "deployment identity", as README calls it: in Harness's words a deployment is a pipeline's run
        raise UsageError(f"cannot choose a rollback target for {display} without a deployment identity: {where}; "
                         f"pass {', '.join(missing)}")
    return identity


def mismatch(revision: Revision, identity: Identity) -> Optional[str]:
    """Why a revision does not belong to the identity's deployments, or None when it does."""
    record = revision.record
    if not record.recorded:
        return "no record"
    mapping = identity.mapping
    for label, ours, theirs in (
        ("service", mapping.service_id, record.service_id),
        ("infra", mapping.infra_id, record.infra_id),
        ("cluster", mapping.cluster_name, record.cluster_name),
    ):
        if ours != theirs:
            return f"another infrastructure mapping ({label} {theirs or 'unset'})"
    if not identity.any_workflow and record.workflow_id != identity.workflow_id:
        return f"another workflow ({record.workflow_id or 'unset'})"
    return None


def other_deployment(record: Record, identity: Identity) -> Optional[str]:
    """The deployment another identity's record on a revision names ("workflow wf1, service svc, ..."), or None when
    the record is this identity's, has no status we can read (no outcome to keep: keys a controller copied from the
    workload, or a damaged record), or is the watcher's (recorded-by: only the watcher sets it; a pipeline's record
    replaces it). `record` refuses to replace another identity's record without --force."""
    if record.status is Status.UNKNOWN or record.recorded_by is not None:
        return None
    mapping = identity.mapping
    ours = (identity.workflow_id, mapping.service_id, mapping.infra_id, mapping.cluster_name)
    theirs = (record.workflow_id, record.service_id, record.infra_id, record.cluster_name)
    if ours == theirs:
        return None
    return ", ".join(f"{label} {value or 'unset'}"
                     for label, value in zip(("workflow", "service", "infra", "cluster"), theirs))


def deployed_since_last_record(revisions: Sequence[Revision]) -> List[Revision]:
    """The revisions newer than the newest one a pipeline recorded (a readable status, not the watcher's) that no
    pipeline recorded, oldest first. More than one: several deploys since the last record, and the live one may be
    any of them's; `record` without --revision or --image cannot tell whose it is (README, pipelines)."""
    def claimed(revision: Revision) -> bool:
        return revision.record.status is not Status.UNKNOWN and revision.record.recorded_by is None

    newest = max((r.number for r in revisions if claimed(r)), default=0)
    return sorted((r for r in revisions if r.number > newest and not claimed(r)), key=lambda r: r.number)


def choose_target(
    revisions: Sequence[Revision],
    identity: Optional[Identity],
    to_revision: Optional[int] = None,
    force: bool = False,
    barriers: Sequence[Barrier] = (),
    override_barrier: Optional[str] = None,
) -> Decision:
    """The revision a rollback goes to, and the ones it passed over (newest first).

    Default: the live revision itself if it is recorded Succeeded for the identity and not marked bad (nothing to
    do), else the newest other revision recorded Succeeded for the identity, not marked bad and not behind a barrier
    (`override_barrier`, the reason given for it, crosses barriers: the decision names the one crossed). With
    `to_revision`, that revision; one recorded Failed or marked bad needs `force`, one behind a barrier
    `override_barrier`; the identity may then be None. Raises NoTargetError with the reason when there is none.
    """
    ordered = sorted(revisions, key=lambda r: r.number, reverse=True)
    if to_revision is not None:
        return _explicit_target(ordered, identity, to_revision, force, barriers, override_barrier)
    if identity is None:
        raise UsageError("cannot choose a rollback target without an identity")
    live = next((r for r in ordered if r.live), None)
    if (live is not None and live.record.status is Status.SUCCEEDED and live.marked_bad is None
            and mismatch(live, identity) is None):
        # The last good revision runs already: nothing to do. This keeps a repeated or concurrent rollback from
        # walking further back through the history (kubectl's undo toggles); --to-revision goes further on purpose.
        return Decision(target=live, skipped=())
    skipped: List[Skip] = []
    stopped_by: Optional[Barrier] = None
    for revision in ordered:
        if revision.live:
            continue
        reason = mismatch(revision, identity)
        if reason is None and revision.record.status is not Status.SUCCEEDED:
            reason = f"recorded {revision.record.status.value}"
        if reason is None and revision.marked_bad is not None:
            reason = f"marked bad ({revision.marked_bad.reason})"
        barrier = barrier_before(revision, barriers)
        if reason is None and barrier is not None and override_barrier is None:
            reason, stopped_by = f"behind {barrier.describe()}", stopped_by or barrier
        if reason is None:
            return Decision(target=revision, skipped=tuple(skipped), crossed=_crossing(barrier, override_barrier),
                            warnings=_override_unused(override_barrier, barrier))
        skipped.append(Skip(revision.number, reason))
    message = _no_target_message(ordered, identity, skipped)
    if stopped_by is not None:
        message = f"{stopped_by.describe()} stops the rollback: {_CROSS}; {message}"
    raise NoTargetLeft(message, skipped)


_CROSS = "only rollback --override-barrier --reason TEXT goes behind it"


def barrier_before(revision: Revision, barriers: Sequence[Barrier]) -> Optional[Barrier]:
    """The newest barrier that `revision` lies behind, or None."""
    return next((b for b in sorted(barriers, key=lambda b: b.revision, reverse=True)
                 if b.forbids(revision.first_numbers(), revision.template_hashes())), None)


def _crossing(barrier: Optional[Barrier], reason: Optional[str]) -> Optional[Crossing]:
    return Crossing(barrier, reason) if barrier is not None and reason is not None else None


def _override_unused(override_barrier: Optional[str], crossed: Optional[Barrier]) -> tuple:
    if override_barrier is not None and crossed is None:
        return ("--override-barrier: no barrier stands between the live revision and the target; nothing crossed",)
    return ()


def _explicit_target(ordered: Sequence[Revision], identity: Optional[Identity], number: int, force: bool,
                     barriers: Sequence[Barrier], override_barrier: Optional[str]) -> Decision:
    target, renumbered = find_revision(ordered, number)
    warnings: List[str] = [renumbered] if renumbered else []
    if target.record.status is Status.FAILED and not force:
        # A usage error, as kubectl's: the revision is there, the command needs a flag to take it.
        raise UsageError(f"revision {number} is recorded Failed; pass --force to roll back to it anyway")
    if target.marked_bad is not None and not force:
        raise UsageError(f"revision {number} is marked bad ({target.marked_bad.reason}); pass --force to roll back "
                         "to it anyway")
    barrier = None if target.live else barrier_before(target, barriers)
    if barrier is not None and override_barrier is None:
        raise NoTargetError(f"revision {number} is behind {barrier.describe()}: {_CROSS}")
    reason = mismatch(target, identity) if identity is not None else None
    if reason is not None:
        warnings.append(f"revision {number} belongs to {reason}; rolling back to it because --to-revision names it")
    elif target.record.status is not Status.SUCCEEDED:
        warnings.append(f"revision {number} is recorded {target.record.status.value}, not Succeeded")
    if target.marked_bad is not None:
        warnings.append(f"revision {number} is marked bad ({target.marked_bad.reason}); rolling back to it because "
                        "--force names it")
    warnings += _override_unused(override_barrier, barrier)
    return Decision(target=target, skipped=(), warnings=tuple(warnings),
                    crossed=_crossing(barrier, override_barrier))


def find_revision(ordered: Sequence[Revision], number: int) -> Tuple[Revision, str]:
    """Revision `number` of a history (newest first), or the one a rollback renumbered from it, with a line saying
    so ("" otherwise); NoTargetError when no kept revision has or had that number."""
    found = next((r for r in ordered if r.number == number), None)
    if found is not None:
        return found, ""
    # A rollback makes the controller renumber the revision it reused; the template is still the same.
    found = next((r for r in ordered if number in r.former_numbers), None)
    if found is None:
        known = ", ".join(str(r.number) for r in ordered) or "none"
        raise NoTargetError(f"revision {number} is not in the history (revisions kept: {known}); it may have been "
                            "pruned")
    return found, f"revision {number} is now revision {found.number} (an earlier rollback renumbered it)"


def pruned_numbers(revisions: Iterable[Revision]) -> list:
    """Revision numbers below the newest that no kept object holds now or held before a renumbering."""
    revisions = list(revisions)
    if not revisions:
        return []
    known = {r.number for r in revisions}
    for r in revisions:
        known.update(r.former_numbers)
    return [n for n in range(1, max(known)) if n not in known]


def _no_target_message(ordered: Sequence[Revision], identity: Identity, skipped: Sequence[Skip]) -> str:
    pruned = pruned_numbers(ordered)
    if len(ordered) <= 1:
        only = f" ({ordered[0].number})" if ordered else ""
        if pruned:  # the live revision's number says there were earlier ones (revisionHistoryLimit: 0)
            return f"nothing to roll back to: the only revision kept{only} is the live one; {_pruned_phrase(pruned)}"
        return f"nothing to roll back to: this is the first deployment, the only revision{only} is the live one"
    why = "; ".join(f"{s.revision}: {s.reason}" for s in skipped)
    ours = [r for r in ordered if not r.live and mismatch(r, identity) is None]
    if ours and all(r.record.status is Status.FAILED for r in ours):
        summary = f"every other revision recorded for {identity.describe()} failed"
    elif any(s.reason.startswith(("marked bad", "behind the barrier")) for s in skipped):
        summary = f"no other revision recorded Succeeded for {identity.describe()} may be rolled back to"
    else:
        summary = f"no other revision is recorded Succeeded for {identity.describe()}"
    if pruned:
        summary += f"; {_pruned_phrase(pruned)}"
    return f"{summary} (skipped {why})"


def _pruned_phrase(pruned: Sequence[int]) -> str:
    which = f"revisions {_ranges(pruned)} were" if len(pruned) > 1 else f"revision {pruned[0]} was"
    return f"{which} pruned (revisionHistoryLimit) and cannot be restored"


def _ranges(numbers: Sequence[int]) -> str:
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


class Outcome(enum.Enum):
    """What became of one workload in a rollback of many (a release)."""

    ROLLED_BACK = "rolled back"
    NOTHING_TO_DO = "nothing to do"
    NO_TARGET = "no target"
    BLOCKED = "blocked"  # by its pre-flight (preflight.py): nothing of it was written
    FAILED = "failed"
    # Ctrl-C (or SIGTERM) stopped the rollback of many: the one it stopped before its write, and those after it
    INTERRUPTED = "interrupted"
    NOT_STARTED = "not started"


# counted in a summary only where they happened: a rollback that ran to its end has neither
STOPPED_OUTCOMES = (Outcome.INTERRUPTED, Outcome.NOT_STARTED)


def exit_code_for(outcomes: Iterable[Outcome]) -> ExitCode:
    """A rollback of many: 1 if any workload failed, else 5 if any was blocked by its pre-flight, else 3 if any had
    no target, else 0."""
    seen = set(outcomes)
    if Outcome.FAILED in seen:
        return ExitCode.ERROR
    if Outcome.BLOCKED in seen:
        return ExitCode.PREFLIGHT_BLOCKED
    return ExitCode.NO_TARGET if Outcome.NO_TARGET in seen else ExitCode.OK


class FleetOutcome(enum.Enum):
    """What became of one kubeconfig context in a run across contexts (--contexts, --all-contexts)."""

    ROLLED_BACK = "rolled back"
    WOULD_ROLL_BACK = "would roll back"  # a dry run that found a revision to go back to
    NOTHING_TO_DO = "nothing to do"
    SHOWN = "shown"  # history
    NO_TARGET = "no target"
    FAILED = "failed"  # any other exit than 0 and 3 of that context's own command
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C (or SIGTERM) before it wrote anything
    NOT_STARTED = "not started"  # after the first failure with --fail-fast, or after Ctrl-C


@dataclasses.dataclass(frozen=True)
class FleetRow:
    outcome: FleetOutcome
    from_revision: Optional[int]
    to_revision: Optional[int]
    message: str


def fleet_row(verb: str, document: dict) -> FleetRow:
    """One context's row, read from the -o json document its own command prints (any target: one workload, a
    Blue/Green Service, a release): the exit code in its `error` first, then what it says it did. One stopped by
    Ctrl-C is what it did before it stopped (rolled back, its wait stopped), with its error's message."""
    error = document.get("error")
    if verb == "history":
        live, target = document.get("liveRevision"), document.get("rollbackTarget")
        message = document.get("problem") or (f"rollback target: revision {target}" if target is not None else "")
    else:
        live, target = (_revision_number(document.get(end)) for end in ("from", "to"))
        message = document.get("message") or ""
    if error is not None:
        if error["exitCode"] not in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            outcome = FleetOutcome.NO_TARGET if error["exitCode"] == ExitCode.NO_TARGET else FleetOutcome.FAILED
            return FleetRow(outcome, live, target, error["message"])
        message = error["message"]  # stopped: what it wrote before, as its own error says (the rollout goes on)
    stopped = error is not None
    if verb == "history":
        return FleetRow(FleetOutcome.INTERRUPTED if stopped else FleetOutcome.SHOWN, live, target, message)
    results = document.get("results")  # many workloads (a release): each with its own outcome
    if results is not None:
        changed = any(r.get("outcome") == Outcome.ROLLED_BACK.value for r in results)
        if not stopped:
            message = ", ".join(f"{n} {outcome}" for outcome, n in document.get("summary", {}).items() if n)
    else:
        changed = bool(document.get("changed")) or (not stopped and live is not None and live != target)
    if not changed:
        return FleetRow(FleetOutcome.INTERRUPTED if stopped else FleetOutcome.NOTHING_TO_DO, live, target, message)
    dry = document.get("dryRun", "none") != "none"
    return FleetRow(FleetOutcome.WOULD_ROLL_BACK if dry else FleetOutcome.ROLLED_BACK, live, target, message)


def _revision_number(revision: Any) -> Optional[int]:
    return revision.get("revision") if isinstance(revision, dict) else None


def fleet_exit_code(outcomes: Iterable[FleetOutcome]) -> ExitCode:
    """A run across contexts: 1 if any context failed, else 3 if any had no target, else 0."""
    seen = set(outcomes)
    if FleetOutcome.FAILED in seen:
        return ExitCode.ERROR
    return ExitCode.NO_TARGET if FleetOutcome.NO_TARGET in seen else ExitCode.OK
