"""Pure decisions: which revision is live, which identity applies, and which revision to roll back to.

Nothing here talks to the API server; every function takes plain data and returns plain data, so the rules can be
unit-tested exhaustively and `history` and `rollback` are guaranteed to agree on the target.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional, Sequence

from kubectl_rollback.errors import NoTargetError, UsageError
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


@dataclasses.dataclass(frozen=True)
class Skip:
    revision: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Decision:
    target: Optional[Revision]
    skipped: tuple  # of Skip, newest first: the revisions passed over on the way to the target
    warnings: tuple = ()


def resolve_identity(
    workflow_id: Optional[str],
    service_id: Optional[str],
    infra_id: Optional[str],
    cluster_name: Optional[str],
    any_workflow: bool,
    namespace: str,
    live_record: Optional[Record],
    context_cluster_name: Optional[str],
) -> Identity:
    """Flags first; where a flag is omitted, the value recorded on the live revision; the cluster name last falls back
    to the kubeconfig context's cluster (the same default `record` uses)."""
    live = live_record or Record()
    identity = Identity(
        workflow_id=None if any_workflow and not workflow_id else (workflow_id or live.workflow_id),
        mapping=InfraMapping(
            service_id=service_id or live.service_id,
            infra_id=infra_id or live.infra_id,
            cluster_name=cluster_name or live.cluster_name or context_cluster_name,
            namespace=namespace,
        ),
        any_workflow=any_workflow,
    )
    missing = [
        flag
        for flag, value in (
            ("--workflow-id (or --any-workflow)", identity.workflow_id or any_workflow or None),
            ("--service-id", identity.mapping.service_id),
            ("--infra-id", identity.mapping.infra_id),
        )
        if value is None
    ]
    if missing:
        where = "the live revision carries no record" if not live.recorded else "the live revision's record lacks it"
        raise UsageError(f"cannot tell which deployment to roll back: {where}; pass {', '.join(missing)}")
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


def choose_target(
    revisions: Sequence[Revision],
    identity: Optional[Identity],
    to_revision: Optional[int] = None,
    force: bool = False,
) -> Decision:
    """The revision a rollback goes to, and the ones it passed over (newest first).

    Default: the live revision itself if it is recorded Succeeded for the identity (nothing to do), else the
    newest other revision recorded Succeeded for the identity. With
    `to_revision`, that revision; one recorded Failed needs `force`; the identity may then be None. Raises
    NoTargetError with the reason when there is none.
    """
    ordered = sorted(revisions, key=lambda r: r.number, reverse=True)
    if to_revision is not None:
        return _explicit_target(ordered, identity, to_revision, force)
    if identity is None:
        raise UsageError("cannot choose a rollback target without an identity")
    live = next((r for r in ordered if r.live), None)
    if live is not None and live.record.status is Status.SUCCEEDED and mismatch(live, identity) is None:
        # The last good revision runs already: nothing to do. This keeps a repeated or concurrent rollback from
        # walking further back through the history (kubectl's undo toggles); --to-revision goes further on purpose.
        return Decision(target=live, skipped=())
    skipped = []
    for revision in ordered:
        if revision.live:
            continue
        reason = mismatch(revision, identity)
        if reason is None and revision.record.status is not Status.SUCCEEDED:
            reason = f"recorded {revision.record.status.value}"
        if reason is None:
            return Decision(target=revision, skipped=tuple(skipped))
        skipped.append(Skip(revision.number, reason))
    raise NoTargetError(_no_target_message(ordered, identity, skipped))


def _explicit_target(ordered: Sequence[Revision], identity: Optional[Identity], number: int, force: bool) -> Decision:
    if number < 1:
        raise UsageError(f"--to-revision must be a positive revision number, got {number}")
    warnings = []
    target = next((r for r in ordered if r.number == number), None)
    if target is None:
        # A rollback makes the controller renumber the revision it reused; the template is still the same.
        target = next((r for r in ordered if number in r.former_numbers), None)
        if target is not None:
            warnings.append(f"revision {number} is now revision {target.number} (an earlier rollback renumbered it)")
    if target is None:
        known = ", ".join(str(r.number) for r in ordered) or "none"
        raise NoTargetError(
            f"revision {number} is not in the history (revisions kept: {known}); it may have been pruned"
        )
    if target.record.status is Status.FAILED and not force:
        raise NoTargetError(f"revision {number} is recorded Failed; pass --force to roll back to it anyway")
    reason = mismatch(target, identity) if identity is not None else None
    if reason is not None:
        warnings.append(f"revision {number} belongs to {reason}; rolling back to it because --to-revision names it")
    elif target.record.status is not Status.SUCCEEDED:
        warnings.append(f"revision {number} is recorded {target.record.status.value}, not Succeeded")
    return Decision(target=target, skipped=(), warnings=tuple(warnings))


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
    if len(ordered) <= 1:
        only = f" ({ordered[0].number})" if ordered else ""
        return f"nothing to roll back to: this is the first deployment, the only revision{only} is the live one"
    why = "; ".join(f"{s.revision}: {s.reason}" for s in skipped)
    ours = [r for r in ordered if not r.live and mismatch(r, identity) is None]
    if ours and all(r.record.status is Status.FAILED for r in ours):
        summary = f"every other revision recorded for {identity.describe()} failed"
    else:
        summary = f"no other revision is recorded Succeeded for {identity.describe()}"
    pruned = pruned_numbers(ordered)
    if pruned:
        which = f"revisions {_ranges(pruned)} were" if len(pruned) > 1 else f"revision {pruned[0]} was"
        summary += f"; {which} pruned (revisionHistoryLimit) and cannot be restored"
    return f"{summary} (skipped {why})"


def _ranges(numbers: Sequence[int]) -> str:
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)
