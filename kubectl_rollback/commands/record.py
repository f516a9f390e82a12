"""record: store a deployment record on the revision that backs a workload now (or follow its rollout first)."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from kubectl_rollback import applied, render
from kubectl_rollback.commands import configsnap, wait
from kubectl_rollback.decide import Revision, merge_identity, missing_flags
from kubectl_rollback.errors import RollbackError, UsageError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import RecordRequest, RollbackRequest
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import Record, Status, now_rfc3339, parse_record, record_annotations
from kubectl_rollback.workloads.base import WorkloadKind, annotate


@dataclasses.dataclass(frozen=True)
class Result(Printed):
    display: str
    namespace: str
    revision: Revision
    annotations: dict
    failure_message: Optional[str] = None  # with follow: why the rollout was recorded Failed
    rollback_message: Optional[str] = None  # with --rollback-on-failure: what the rollback did

    def table(self, wide: bool) -> str:
        return render.record_line(self)

    def data(self) -> Any:
        return render.record_dict(self)

    def failure(self) -> Optional[RollbackError]:
        """A followed rollout that failed is recorded Failed, and the command then fails too (exit 4)."""
        if self.failure_message is None:
            return None
        message = f"{self.failure_message}; recorded revision {self.revision.number} Failed"
        if self.rollback_message is not None:
            message += f"; {self.rollback_message}"
        return WaitFailedError(message)


def run(kube: Kube, kind: WorkloadKind, name: str, request: RecordRequest) -> Result:
    workload = wait.wait_observed(kube, kind, kind.get(kube, name))
    kind.refuse_record_keys(workload)  # the controller would overwrite the record with them (docs/annotations.md)
    revision = _live_revision(kube, kind, workload)
    if not request.follow:
        assert request.status is not None  # the CLI requires exactly one of --status and --follow
        result = _write(kube, kind, workload, revision, request, request.status)
        configsnap.take(kube, kind, revision, request.config_snapshot)  # config snapshots (docs/config-rollback.md)
        return result
    _write(kube, kind, workload, revision, request, Status.IN_PROGRESS)
    configsnap.take(kube, kind, revision, request.config_snapshot)  # config snapshots (docs/config-rollback.md)
    try:
        wait.wait_for_rollout(kube, kind, name, revision.name, request.timeout)
    except WaitFailedError as exc:
        result = _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.FAILED)
        result = dataclasses.replace(result, failure_message=exc.message)
        if request.rollback_on_failure:
            result = dataclasses.replace(result, rollback_message=_roll_back(kube, kind, name, request))
        return result
    return _write(kube, kind, workload, _reread(kube, kind, workload, revision), request, Status.SUCCEEDED)


def _roll_back(kube: Kube, kind: WorkloadKind, name: str, request: RecordRequest) -> str:
    """--rollback-on-failure: the failed rollout goes back through `rollback KIND/NAME` with the same identity; the
    command still fails (exit 4), whatever the rollback did, so the pipeline shows the failed deployment."""
    from kubectl_rollback.commands.rollback import WorkloadTarget

    try:
        result = WorkloadTarget(kind, name).rollback(kube, RollbackRequest(flags=request.flags), lambda item: None)
    except RollbackError as exc:
        return f"not rolled back: {exc.message}"
    return result.message


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
    kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, request: RecordRequest, status: Status
) -> Result:
    existing: Record = revision.record
    identity = merge_identity(request.flags, kube.namespace, existing, kube.cluster_name)
    missing = missing_flags(identity, recording=True)
    if missing:
        raise UsageError(
            f"record needs {', '.join(missing)} (revision {revision.number} has no earlier record to take them from)"
        )
    assert identity.workflow_id is not None  # missing_flags checked it
    _refuse_if_restored(kind, workload, revision, existing, status, request.force)
    artifact = request.artifact or existing.artifact or ", ".join(revision.images) or None
    annotations = record_annotations(
        status,
        identity.workflow_id,
        identity.mapping,
        now_rfc3339(),
        request.release_number or existing.release_number,
        artifact,
    )
    # Preconditioned on the resourceVersion listed with the revision: a copy of this write that reaches the server
    # late (after a timeout and a retry) is refused instead of overwriting a newer record.
    # With the record, what was applied for this revision (applied.py): rollback restores it for the next apply.
    kept = dict(annotations, **applied.revision_annotations(workload))
    # A retry after a 409 looks again: the write that changed the revision may be a rollback's audit of it.
    def still_wanted(current: dict) -> bool:
        _refuse_if_restored(kind, workload, revision, parse_record(current), status, request.force)
        return True

    annotate(kube, kind.revision_resource, revision, kept, still_wanted=still_wanted)
    return Result(kind.display(workload["metadata"]["name"]), kube.namespace, revision, annotations)


def _refuse_if_restored(
    kind: WorkloadKind, workload: dict, revision: Revision, existing: Record, status: Status, force: bool
) -> None:
    if status is not Status.SUCCEEDED and _restored_by_rollback(existing) and not force:
        # The revision the pipeline deployed is no longer live: a rollback put this good one back meanwhile.
        raise RollbackError(
            f"{kind.display(workload['metadata']['name'])} revision {revision.number} is live because a rollback "
            f"restored it at {existing.rolled_back_at}, and it is recorded Succeeded; refusing to record it "
            f"{status.value} (the revision you deployed is no longer live). Pass --force if this one failed too"
        )


def _restored_by_rollback(record: Record) -> bool:
    """A Succeeded revision that a rollback made live after its last record (RFC 3339 UTC strings sort in time)."""
    return (
        record.status is Status.SUCCEEDED
        and record.rolled_back_at is not None
        and (record.recorded_at is None or record.rolled_back_at >= record.recorded_at)
    )
