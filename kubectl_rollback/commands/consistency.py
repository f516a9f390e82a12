"""The I/O of apply consistency (the decisions are applied.py): read what `record` kept on the target revision,
set the last-applied configuration in the rollback's own write, then hand the template's field ownership back."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from kubectl_rollback import applied
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import Kube, Resource, retry_on_conflict
from kubectl_rollback.records import now_rfc3339
from kubectl_rollback.workloads.base import WorkloadKind


def prepare(kind: WorkloadKind, workload: dict, target: Revision, dry: bool = False) -> applied.ApplyPlan:
    """From what `record` kept on the target revision, as this attempt listed it (no second read: the list is as
    fresh as the rest of the decision); `dry`: the notes of a dry run."""
    return applied.plan(
        workload,
        target.annotations or {},
        kind.comparable(target.template),
        kind.display(workload["metadata"]["name"]),
        target.number,
        kind.template_path,
        dry,
    )


def patch(plan: applied.ApplyPlan, patch_type: str, body: Any) -> Tuple[str, Any]:
    """The rollback patch, with the last-applied configuration set in the same write when there is one."""
    if plan.last_applied is None:
        return patch_type, body
    return patch_type, applied.with_annotation(patch_type, body, applied.LAST_APPLIED, plan.last_applied)


def restore_ownership(kube: Kube, kind: WorkloadKind, before: dict, after: dict, plan: applied.ApplyPlan) -> tuple:
    """After the rollback's write (`after`, the server's answer): the template's field owners back. Returns the
    warning if it could not (the rollback itself stands)."""
    if not plan.server_side:
        return ()
    name = after["metadata"]["name"]
    return rewrite_managed_fields(
        kube, kind.resource, after,
        lambda obj: applied.managed_fields_after(obj["metadata"].get("managedFields") or [], plan,
                                                 before["metadata"].get("managedFields") or [], now_rfc3339()),
        f"cannot hand the template's fields of {kind.display(name)} back to their managers",
    )


def rewrite_managed_fields(kube: Kube, resource: Resource, after: dict,
                           wanted: Callable[[dict], Optional[list]], what: str) -> tuple:
    """Rewrite managedFields alone (`wanted(object)`, None: nothing to do), preconditioned on the resourceVersion, as
    client-go's csaupgrade does; starting from `after` (the answer of our write), on a conflict from a fresh read.
    Returns the warning if it could not."""
    name = after["metadata"]["name"]
    current: dict = {"object": after}

    def attempt() -> None:
        obj = current["object"] or kube.get(resource, name)
        current["object"] = None  # a retry starts from a fresh read
        fields = wanted(obj)
        if fields is None:
            return
        ops = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
            {"op": "replace", "path": "/metadata/managedFields", "value": fields},
        ]
        kube.patch(resource, name, ops, "json")

    try:
        retry_on_conflict(attempt, what)
    except RollbackError as exc:
        return (f"rolled back, but the next server-side apply may conflict: {exc.message}",)
    return ()
