"""Following a rollout until it is complete, has failed, or the timeout passes (rollback --wait, record --follow)."""

from __future__ import annotations

import time

from kubectl_rollback.console import Progress
from kubectl_rollback.errors import WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.workloads.base import POLL_SECONDS, WorkloadKind


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
