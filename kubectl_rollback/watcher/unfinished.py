"""A rollback a watcher promised (`harness.io/auto-rollback-at` on a Failed revision) and left without an outcome
after that revision stopped being live: the watcher was killed (kill -9) between its template write and its
book-keeping, or a newer deploy (or a person's rollback) replaced the failed revision before the watcher acted.
Pure: from a workload's revisions, the outcome that is true now, and what is left to write for it."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Sequence

from kubectl_rollback.decide import Revision, choose_target, merge_identity, missing_flags
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import (
    AUTO_ROLLBACK_AT,
    AUTO_ROLLBACK_OUTCOME,
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM,
    ROLLED_BACK_ON,
    Status,
    parse_time,
)
from kubectl_rollback.watcher.reaction import Workload


@dataclasses.dataclass(frozen=True)
class Unfinished:
    failed: Revision  # marked, no outcome, no longer live
    marked_at: str
    # The revision its rollback restores, numbered as when the rollback chose it, when that is what runs now; None
    # when the workload runs something else.
    target: Optional[Revision]
    audited: bool  # the target already carries this rollback's audit: its book-keeping and Event were written
    outcome: str  # for harness.io/auto-rollback-outcome


def find(workload: Workload, cluster_name: Optional[str]) -> Optional[Unfinished]:
    """The newest marked revision with no outcome that is no longer live, and what became of it."""
    live = workload.live
    marked = [r for r in workload.revisions
              if not r.live and r.record.status is Status.FAILED and AUTO_ROLLBACK_AT in (r.annotations or {})
              and AUTO_ROLLBACK_OUTCOME not in (r.annotations or {})]
    if live is None or not marked:
        return None
    failed = max(marked, key=lambda r: r.number)
    marked_at = failed.annotations[AUTO_ROLLBACK_AT]
    stopped = f"the watcher that took it on at {marked_at} stopped"
    target = _target(workload.revisions, failed, workload.namespace, cluster_name)
    if target is None or target.name != live.name:
        images = ", ".join(live.images) or "no images"
        return Unfinished(failed, marked_at, None, False,
                          f"replaced: {workload.display} runs revision {live.number} ({images}) now, not revision "
                          f"{failed.number} nor the revision its rollback chose; {stopped} before it wrote an outcome")
    restored = dataclasses.replace(target, resource_version=live.resource_version)
    return Unfinished(failed, marked_at, restored, audited(failed.number, marked_at, live.annotations or {}),
                      f"rolled back to revision {target.number} (finished after {stopped})")


def audited(failed_number: int, marked_at: str, annotations: Mapping[str, str]) -> bool:
    """Whether a revision object carries the audit of a rollback from `failed_number` written since the mark (an
    older rollback's audit, which the controller leaves on a revision it rolls out again, is not it)."""
    if annotations.get(ROLLED_BACK_FROM) != str(failed_number) or ROLLED_BACK_ON not in annotations:
        return False
    written, mark = parse_time(annotations.get(ROLLED_BACK_AT)), parse_time(marked_at)
    return written is not None and (mark is None or written >= mark)


def _target(revisions: Sequence[Revision], failed: Revision, namespace: str,
            cluster_name: Optional[str]) -> Optional[Revision]:
    """The revision `rollback` chose while `failed` was live, as it was numbered then. The controller renumbers the
    revision it rolls out again: a ReplicaSet keeps its old numbers (deployment.kubernetes.io/revision-history); a
    ControllerRevision does not, so one made before `failed` and numbered after it now was rolled out again since,
    the newest of all then, and keeps its number now."""
    then = [dataclasses.replace(failed, live=True)]
    renumbered = {}
    for revision in revisions:
        if revision.name == failed.name:
            continue
        earlier = [n for n in (revision.number, *revision.former_numbers) if n < failed.number]
        if earlier:
            then.append(dataclasses.replace(revision, number=max(earlier), live=False))
        elif (revision.created_at or "~") <= (failed.created_at or ""):
            renumbered[revision.name] = revision
            then.append(dataclasses.replace(revision, number=failed.number, live=False))
    identity = merge_identity(IdentityFlags(), namespace, failed.record, cluster_name)
    if missing_flags(identity):
        return None
    try:
        chosen = choose_target(then, identity).target
    except RollbackError:  # no target: the rollback was refused, so nothing it wrote can be running
        return None
    return renumbered.get(chosen.name, chosen) if chosen is not None else None
