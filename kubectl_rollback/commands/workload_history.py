"""A workload's revision history read and its target decided: every revision with its record, the live one and the
rollback target. `history KIND/NAME` prints it; rollback, releases, Blue/Green and verify load through it."""

from __future__ import annotations

import dataclasses
from typing import Any, List, Optional, Sequence

from kubectl_rollback import digests, marks, render
from kubectl_rollback.commands.gitops import Guard
from kubectl_rollback.decide import Decision, NoTargetLeft, Revision, choose_target, resolve_identity
from kubectl_rollback.errors import ForbiddenError, RollbackError, UsageError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.output import Result
from kubectl_rollback.records import Identity
from kubectl_rollback.workloads.base import WorkloadKind


@dataclasses.dataclass(frozen=True)
class WorkloadHistory(Result):
    kind: WorkloadKind
    workload: dict
    namespace: str
    revisions: List[Revision]  # newest first
    identity: Optional[Identity]
    decision: Optional[Decision]  # with no target (problem says why), what the rule passed over, if it got that far
    problem: Optional[RollbackError]  # why there is no target (or no identity); None when there is a target
    # Revision object name -> its config snapshots and whether each still exists (configrefs.SnapshotState); filled by
    # `history KIND/NAME` only, where it is shown.
    config: dict = dataclasses.field(default_factory=dict)
    gitops: Guard = Guard()  # the Argo CD or Flux owner and any pause (commands/gitops.py); `history KIND/NAME` only
    # `history KIND/NAME` only: when the live revision is the target, the objects whose content differs from its
    # snapshots, which `rollback` would restore (the same configsnap.plan), else ().
    config_to_restore: tuple = ()
    barriers: tuple = ()  # marks.Barrier, newest first: the workload's and its revisions' (commands/revision_marks.py)
    # `history KIND/NAME` only: revision number -> the image digests its pods run that its record does not say
    digest_drift: dict = dataclasses.field(default_factory=dict)

    def notes(self) -> Sequence[str]:
        return self.gitops.notes

    @property
    def name(self) -> str:
        return self.workload["metadata"]["name"]

    @property
    def display(self) -> str:
        return self.kind.display(self.name)

    @property
    def live(self) -> Optional[Revision]:
        return next((r for r in self.revisions if r.live), None)

    @property
    def target(self) -> Optional[Revision]:
        return self.decision.target if self.decision else None

    def table(self, wide: bool) -> str:
        return render.history_table(self, wide)

    def data(self) -> Any:
        return render.history_dict(self)


def load(
    kube: Kube,
    kind: WorkloadKind,
    name: str,
    flags: IdentityFlags,
    to_revision: Optional[int] = None,
    force: bool = False,
    override_barrier: Optional[str] = None,
) -> WorkloadHistory:
    """Read the workload and its revisions (two requests) and decide the target."""
    workload = kind.get(kube, name)
    return from_revisions(kube, kind, workload, kind.revisions(kube, workload), flags, to_revision, force,
                          override_barrier)


def digest_drift(kube: Kube, kind: WorkloadKind, loaded: WorkloadHistory) -> dict:
    """The live revision's pods against the digests it recorded (digests.drift): after a client-side apply took a
    `rollback --pin-digests` pin off, the template is the tag again and new pods pull what it points at now
    (docs/apply-consistency.md). Pods we may not list tell nothing."""
    live = loaded.live
    recorded = digests.parse(live.annotations) if live is not None else {}
    if live is None or not recorded:
        return {}
    try:
        pods = kind.revision_pods(kube, loaded.workload, live)
    except ForbiddenError:
        return {}
    said = digests.drift(recorded, digests.from_pods(list(recorded), pods)[0])
    return {live.number: said} if said else {}


def from_revisions(
    kube: Kube,
    kind: WorkloadKind,
    workload: dict,
    revisions: List[Revision],
    flags: IdentityFlags,
    to_revision: Optional[int] = None,
    force: bool = False,
    override_barrier: Optional[str] = None,
) -> WorkloadHistory:
    """Decide the target from what was read. Never raises for "no target": the reason is kept in `problem`, so
    history can show it and rollback can turn it into its exit code. With `to_revision` the identity is optional:
    it only adds a warning when the named revision belongs to another deployment."""
    revisions = sorted(revisions, key=lambda r: r.number, reverse=True)
    live = next((r for r in revisions if r.live), None)
    identity = decision = problem = None
    standing, unreadable = marks.standing(workload["metadata"].get("annotations"), (r.barrier for r in revisions))
    barriers = tuple(standing)
    try:
        if unreadable is not None:  # which revisions it forbids is unknown: no target can be trusted
            raise RollbackError(unreadable)
        try:
            identity = resolve_identity(flags, kube.namespace, live.record if live else None, kube.cluster_name,
                                        kind.display(workload["metadata"]["name"]))
        except UsageError:
            if to_revision is None:
                raise
        decision = choose_target(revisions, identity, to_revision, force, barriers, override_barrier)
    except RollbackError as exc:  # UsageError, NoTargetError: no identity, no target
        problem = exc
        if isinstance(exc, NoTargetLeft):  # what the rule passed over still says why in history
            decision = Decision(target=None, skipped=exc.skipped)
    return WorkloadHistory(kind, workload, kube.namespace, revisions, identity, decision, problem, barriers=barriers)
