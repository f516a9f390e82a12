"""KIND/NAME, one workload (WorkloadTarget): its history is commands/workload_history.py, its rollback
commands/rollback.py. The rollback's module (the pre-flight, events, the wait and every write) is imported only when
a rollback runs, so that `history`, which reads, loads none of it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kubectl_rollback import console
from kubectl_rollback.commands import configsnap, workload_history
from kubectl_rollback.commands import gitops as gitops_owner
from kubectl_rollback.commands.target import Target
from kubectl_rollback.commands.workload_history import WorkloadHistory
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import HistoryRequest, ResumeRequest, RollbackRequest
from kubectl_rollback.output import Progress
from kubectl_rollback.workloads.base import WorkloadKind

if TYPE_CHECKING:
    from kubectl_rollback.commands.rollback import WorkloadRollback


@dataclasses.dataclass(frozen=True)
class WorkloadTarget(Target):
    """KIND/NAME: one Deployment, StatefulSet or DaemonSet (kubectl's Rollbacker for it)."""

    kind: WorkloadKind
    name: str

    takes_to_revision = True

    def history(self, kube: Kube, request: HistoryRequest) -> WorkloadHistory:
        loaded = workload_history.load(kube, self.kind, self.name, request.flags)
        carried = self.kind.carried_record_keys(loaded.workload, kube.command_flags())
        if carried is not None:  # the records shown may be the workload's copies, not what was recorded
            console.warn(carried)
        return dataclasses.replace(loaded, config=configsnap.states(kube, loaded.revisions),  # config snapshots
                                   config_to_restore=_config_to_restore(kube, self.kind, self.name, loaded),
                                   digest_drift=workload_history.digest_drift(kube, self.kind, loaded),
                                   gitops=gitops_owner.describe(kube, loaded.workload, loaded.display,
                                                                request.argocd_namespace))

    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> WorkloadRollback:
        from kubectl_rollback.commands.rollback import run

        result = run(kube.bound_to(request.dry_run), self.kind, self.name, request)
        for warning in result.warnings:
            console.warn(warning)
        return result

    def resume(self, kube: Kube, request: ResumeRequest) -> gitops_owner.ResumeResult:
        return gitops_owner.resume(kube, self.kind.get(kube, self.name), self.kind.display(self.name),
                                   request.argocd_namespace)


def _config_to_restore(kube: Kube, kind: WorkloadKind, name: str, loaded: WorkloadHistory) -> tuple:
    """What `rollback` (its default --config) would restore when the live revision is the target: history tells
    the same story. A snapshot it cannot read leaves it to the rollback to say."""
    if loaded.target is None or not loaded.target.live:
        return ()
    try:
        plan = configsnap.plan(kube, kind, name, loaded.target, RollbackRequest().config)
    except RollbackError:
        return ()
    return tuple(change.ref.key for change in plan.writes)
