"""Waiting on the controller: until it has observed a new spec (record), and following a rollout until it is complete,
has failed, or the timeout passes (rollback --wait, record --follow)."""

from __future__ import annotations

import time

from kubectl_rollback.console import Progress
from kubectl_rollback.errors import RollbackError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.workloads.base import POLL_SECONDS, WorkloadKind

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
        time.sleep(POLL_SECONDS)
        workload = kind.get(kube, workload["metadata"]["name"])
    return workload


def wait_for_rollout(kube: Kube, kind: WorkloadKind, name: str, revision: str, timeout: float) -> dict:
    """Poll the workload until its rollout to `revision` (the name of the revision object) is done; raise
    WaitFailedError on failure or timeout."""
    progress = Progress()
    deadline = time.monotonic() + timeout
    try:
        while True:
            workload = kind.get(kube, name)
            state = kind.rollout_state(workload, revision)
            if state.failure:
                raise WaitFailedError(state.failure)
            progress.update(state.message)
            if state.done:
                return workload
            if time.monotonic() >= deadline:
                raise WaitFailedError(f"{state.message}; gave up after --timeout {timeout:.0f}s")
            time.sleep(POLL_SECONDS)
    finally:
        progress.done()
