"""Deployments: revisions are the ReplicaSets the Deployment controls, numbered by deployment.kubernetes.io/revision."""

from __future__ import annotations

import re
from typing import Any, Optional

from kubectl_rollback import console
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import NotFoundError, RollbackError
from kubectl_rollback.kube import DEPLOYMENTS, REPLICASETS, Kube
from kubectl_rollback.records import copied_audit
from kubectl_rollback.workloads.base import (
    CHANGE_CAUSE,
    RolloutState,
    WorkloadKind,
    without_hash_label,
)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
TRACK_LABEL = "harness.io/track"
CANARY_SUFFIX = "-canary"


class DeploymentKind(WorkloadKind):
    name = "deployment"
    aliases = ("deployment", "deployments", "deploy", "deployment.apps", "deployments.apps")
    resource = DEPLOYMENTS
    revision_resource = REPLICASETS
    hash_label = HASH_LABEL
    has_progress_deadline = True
    # deployment/util: copyDeploymentAnnotationsToReplicaSet, at every sync (and `kubectl rollout undo` copies a
    # ReplicaSet's annotations, records included, onto the Deployment)
    copies = "the deployment controller copies a Deployment's annotations onto its live ReplicaSet at every sync"

    def comparable(self, template: Any) -> Any:
        return without_hash_label(template, HASH_LABEL)

    def parse_revision_object(self, obj: dict) -> Optional[tuple]:
        annotations = obj["metadata"].get("annotations") or {}
        number = _int(annotations.get(REVISION))
        if number is None:
            console.warn(f"ReplicaSet {obj['metadata']['name']} has no valid {REVISION} annotation; left out")
            return None
        former = tuple(n for n in map(_int, str(annotations.get(REVISION_HISTORY, "")).split(",")) if n)
        return number, obj["spec"].get("template") or {}, former

    def canaries(self, kube: Kube, name: str) -> list:
        """Harness's canary of deployment NAME: deployment NAME-canary whose pods carry harness.io/track: canary."""
        try:
            canary = kube.get(DEPLOYMENTS, f"{name}{CANARY_SUFFIX}")
        except NotFoundError:
            return []
        return [canary] if self.canary_of(canary) == name else []

    def canary_of(self, workload: dict) -> Optional[str]:
        name = workload["metadata"]["name"]
        labels = ((workload["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        if name.endswith(CANARY_SUFFIX) and labels.get(TRACK_LABEL) == "canary":
            return name[: -len(CANARY_SUFFIX)]
        return None

    def check_can_roll_back(self, workload: dict) -> None:
        if workload["spec"].get("paused"):
            name = workload["metadata"]["name"]
            raise RollbackError(
                f"deployment/{name} is paused, so a rollback would not roll out; "
                f"resume it first with 'kubectl rollout resume deployment/{name}' and try again"
            )

    def rollback_patch(self, workload: dict, target: Revision) -> tuple:
        """What `kubectl rollout undo` writes, minus its side effect: the template comes back, and of the
        annotations only the change-cause travels with it (kubectl replaces the whole map)."""
        patch_type, ops = super().rollback_patch(workload, target)  # a JSON patch
        current = workload["metadata"].get("annotations") or {}
        wanted = target.change_cause
        path = "/metadata/annotations/" + CHANGE_CAUSE.replace("~", "~0").replace("/", "~1")
        if wanted is not None:
            if not current:
                ops.append({"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: wanted}})
            else:
                ops.append({"op": "add", "path": path, "value": wanted})
        elif CHANGE_CAUSE in current:
            ops.append({"op": "remove", "path": path})
        # An audit `kubectl rollout undo` copied from a ReplicaSet: off the Deployment in the same write, before its
        # controller copies it over the audit this rollback writes on the target.
        for key in copied_audit(current):
            ops.append({"op": "remove", "path": "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")})
        return patch_type, ops

    def rollout_state(self, workload: dict, revision: str, pods: Optional[list] = None) -> RolloutState:
        """kubectl's `rollout status` rules, except that a ProgressDeadlineExceeded condition about another
        ReplicaSet (the failed rollout we are undoing, say) is not this rollout's failure."""
        name = workload["metadata"]["name"]
        spec, status = workload["spec"], workload.get("status") or {}
        if not self.observed(workload):
            return RolloutState(False, f"deployment/{name}: waiting for the controller to observe the change")
        progressing = _condition(workload, "Progressing") or {}
        about_this_revision = f'"{revision}"' in progressing.get("message", "")  # 'ReplicaSet "web-5d8f" has timed out'
        if progressing.get("reason") == "ProgressDeadlineExceeded" and about_this_revision:
            return RolloutState(False, "", failure=f"deployment/{name} exceeded its progress deadline")
        desired = spec.get("replicas", 1)
        updated = status.get("updatedReplicas") or 0
        total = status.get("replicas") or 0
        available = status.get("availableReplicas") or 0
        ready = status.get("readyReplicas") or 0
        counts = f"{updated} updated, {ready} ready, {available} available of {desired}"
        if updated < desired:
            return RolloutState(False, f"deployment/{name}: {counts}: waiting for new replicas to be updated")
        if total > updated:
            return RolloutState(False, f"deployment/{name}: {counts}: {total - updated} old replicas terminating")
        if available < updated:
            return RolloutState(False, f"deployment/{name}: {counts}: waiting for replicas to become available")
        return RolloutState(True, f"deployment/{name}: {counts}: rolled out")


def _condition(workload: dict, kind: str) -> Optional[dict]:
    return next((c for c in (workload.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


INT64_MAX = 2 ** 63 - 1


def _int(value: object) -> Optional[int]:
    """A revision number as the deployment controller reads it (strconv.ParseInt base 10, 64 bits), if positive:
    anything else (beyond int64, spaces, Python's 1_000) is no revision number."""
    text = str(value)
    if not re.fullmatch(r"\+?[0-9]+", text):
        return None
    number = int(text)
    return number if 0 < number <= INT64_MAX else None
