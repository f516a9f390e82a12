"""Waiting on the controller: until it has observed a new spec (record), and following a rollout until it is complete,
has failed, or the timeout passes (rollback --wait, record --follow)."""

from __future__ import annotations

import time
from typing import Optional

from kubectl_rollback import interrupts
from kubectl_rollback.console import StatusLine
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import RollbackError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.workloads.base import POLL_SECONDS, RolloutState, WorkloadKind

# How long `record` waits for the controller to observe a new spec before it gives up.
OBSERVE_TIMEOUT_SECONDS = 60.0


def wait_observed(kube: Kube, kind: WorkloadKind, workload: dict, timeout: float = OBSERVE_TIMEOUT_SECONDS) -> dict:
    """The workload once its controller has observed its current spec (bounded), so its live revision exists."""
    deadline = time.monotonic() + timeout
    while not kind.observed(workload):
        if time.monotonic() > deadline:
            raise RollbackError(
                f"{kind.display(workload['metadata']['name'])}: the controller has not observed generation "
                f"{workload['metadata'].get('generation')} after {timeout:.0f}s; "
                "is kube-controller-manager running?"
            )
        interrupts.sleep(POLL_SECONDS)
        workload = kind.get(kube, workload["metadata"]["name"])
    return workload


class NotLiveError(WaitFailedError):
    """The followed revision stopped backing the workload (a rollback, or a newer template) before its rollout
    completed; `workload` is the copy that showed it."""

    def __init__(self, message: str, workload: dict):
        super().__init__(message)
        self.workload = workload


def wait_for_rollout(kube: Kube, kind: WorkloadKind, name: str, revision: str, timeout: float,
                     followed: Optional[Revision] = None, from_pods: bool = False) -> RolloutState:
    """Poll the workload until its rollout to `revision` (the name of the revision object) is done; raise
    WaitFailedError on failure or timeout. With `followed` (that revision), the rollout is judged as kubectl's
    `rollout status --revision=N` judges it: the workload's counts are the revision's only while it is the live
    one, so as soon as it is not (a newer deploy or another rollback took over), NotLiveError. With `from_pods`, an
    OnDelete rollout, which kubectl calls done at once, is judged from the pods: right for a deploy (record
    --follow), whose pods all change only when someone deletes them; not for a rollback, which recreates only the
    pods stuck on the revision it left (rollback._recreate_stuck_pods) and leaves the Ready ones to whoever deletes
    them, as an OnDelete update does."""
    progress = StatusLine()
    deadline = time.monotonic() + timeout
    try:
        while True:
            workload = kind.get(kube, name)
            if followed is not None and not kind.backs(workload, followed):
                raise NotLiveError(f"{kind.display(name)} revision {followed.number} stopped being live before its "
                                   "rollout completed (a newer deploy or another rollback took over)", workload)
            pods = kind.pods(kube, workload) if from_pods and kind.judged_by_pods(workload) else None
            state = kind.rollout_state(workload, revision, pods)
            if state.failure:
                raise WaitFailedError(state.failure)
            progress.update(state.message)
            if state.done:
                return state
            if time.monotonic() >= deadline:
                raise WaitFailedError(f"{state.message}; gave up after --timeout {timeout:.0f}s")
            interrupts.sleep(POLL_SECONDS)
    finally:
        progress.done()
