"""record: store a deployment record on the revision that backs a workload now (or follow its rollout first)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from kubectl_rollback.commands import wait
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import RollbackError, UsageError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import InfraMapping, Record, Status, now_rfc3339, record_annotations
from kubectl_rollback.workloads.base import WorkloadKind


@dataclasses.dataclass(frozen=True)
class Request:
    flags: IdentityFlags
    status: Optional[Status] = None  # None with follow: InProgress now, the outcome after the rollout
    release_number: Optional[str] = None
    artifact: Optional[str] = None
    follow: bool = False
    timeout: float = 600.0
    force: bool = False  # record a revision that a rollback restored as other than Succeeded


@dataclasses.dataclass(frozen=True)
class Result:
    display: str
    namespace: str
    revision: Revision
    annotations: dict
    failure: Optional[str] = None  # with follow: why the rollout was recorded Failed


def run(kube: Kube, kind: WorkloadKind, name: str, request: Request) -> Result:
    workload = kind.wait_observed(kube, kind.get(kube, name))
    revision = _live_revision(kube, kind, workload)
    if not request.follow:
        return _write(kube, kind, workload, revision, request, request.status)
    _write(kube, kind, workload, revision, request, Status.IN_PROGRESS)
    try:
        wait.wait_for_rollout(kube, kind, name, revision.name, request.timeout)
    except WaitFailedError as exc:
        result = _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.FAILED)
        return dataclasses.replace(result, failure=exc.message)
    return _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.SUCCEEDED)


def _live_revision(kube: Kube, kind: WorkloadKind, workload: dict) -> Revision:
    live = next((r for r in kind.revisions(kube, workload) if r.live), None)
    if live is None:
        raise RollbackError(
            f"{kind.display(workload['metadata']['name'])} has no revision for its current template yet "
            "(is it paused?); record again once the controller has created it"
        )
    return live


def _reread(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision) -> Revision:
    """The revision again after a rollout: its record now holds what the InProgress write stored."""
    return next((r for r in kind.revisions(kube, workload) if r.name == revision.name), revision)


def _write(
    kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, request: Request, status: Status
) -> Result:
    existing: Record = revision.record
    flags = request.flags
    workflow_id = flags.workflow_id or existing.workflow_id
    mapping = InfraMapping(
        service_id=flags.service_id or existing.service_id,
        infra_id=flags.infra_id or existing.infra_id,
        cluster_name=flags.cluster_name or existing.cluster_name or kube.cluster_name,
        namespace=kube.namespace,
    )
    missing = [
        flag
        for flag, value in (
            ("--workflow-id", workflow_id),
            ("--service-id", mapping.service_id),
            ("--infra-id", mapping.infra_id),
            ("--cluster-name", mapping.cluster_name),
        )
        if not value
    ]
    if missing:
        raise UsageError(
            f"record needs {', '.join(missing)} (revision {revision.number} has no earlier record to take them from)"
        )
    if status is not Status.SUCCEEDED and _restored_by_rollback(existing) and not request.force:
        # The revision the pipeline deployed is no longer live: a rollback put this good one back meanwhile.
        raise RollbackError(
            f"{kind.display(workload['metadata']['name'])} revision {revision.number} is live because a rollback "
            f"restored it at {existing.rolled_back_at}, and it is recorded Succeeded; refusing to record it "
            f"{status.value} (the revision you deployed is no longer live). Pass --force if this one failed too"
        )
    artifact = request.artifact or existing.artifact or ", ".join(revision.images) or None
    annotations = record_annotations(
        status, workflow_id, mapping, now_rfc3339(), request.release_number or existing.release_number, artifact
    )
    # Preconditioned on the resourceVersion listed with the revision: a copy of this write that reaches the server
    # late (after a timeout and a retry) is refused instead of overwriting a newer record.
    kind.annotate(kube, revision, annotations, still_wanted=lambda current: True)
    return Result(kind.display(workload["metadata"]["name"]), kube.namespace, revision, annotations)


def _restored_by_rollback(record: Record) -> bool:
    """A Succeeded revision that a rollback made live after its last record (RFC 3339 UTC strings sort in time)."""
    return (
        record.status is Status.SUCCEEDED
        and record.rolled_back_at is not None
        and (record.recorded_at is None or record.rolled_back_at >= record.recorded_at)
    )
