"""StatefulSets: ControllerRevisions; the live one is named by status.updateRevision."""

from __future__ import annotations

from typing import Any

from kubectl_rollback.kube import STATEFULSETS
from kubectl_rollback.workloads.base import RolloutState
from kubectl_rollback.workloads.controllerrevision import ControllerRevisionKind


class StatefulSetKind(ControllerRevisionKind):
    name = "statefulset"
    aliases = ("statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps")
    resource = STATEFULSETS
    # statefulset/stateful_set_utils.go: newRevision copies set.Annotations onto each new ControllerRevision
    copies = "the statefulset controller copies a StatefulSet's annotations onto each ControllerRevision it creates"

    def is_live(self, workload: dict, obj: dict, template: Any, current: Any) -> bool:
        status = workload.get("status") or {}
        if self.observed(workload) and status.get("updateRevision"):
            return status["updateRevision"] == obj["metadata"]["name"]
        return super().is_live(workload, obj, template, current)

    def rollout_state(self, workload: dict, revision: str) -> RolloutState:
        """kubectl's `rollout status` rules for a StatefulSet (RollingUpdate, partition-aware)."""
        name = workload["metadata"]["name"]
        spec, status = workload["spec"], workload.get("status") or {}
        if not self.observed(workload):
            return RolloutState(False, f"statefulset/{name}: waiting for the controller to observe the change")
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return RolloutState(True, f"statefulset/{name}: OnDelete strategy: pods change when they are deleted")
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas") or 0
        updated = status.get("updatedReplicas") or 0
        counts = f"{updated} updated, {ready} ready of {desired}"
        if ready < desired:
            return RolloutState(False, f"statefulset/{name}: {counts}: waiting for pods to be ready")
        partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
        if partition > 0:
            if updated < desired - partition:
                return RolloutState(False, f"statefulset/{name}: {counts}: waiting for the partitioned update")
            return RolloutState(True, f"statefulset/{name}: {counts}: partitioned rollout complete")
        if status.get("updateRevision") != status.get("currentRevision"):
            return RolloutState(False, f"statefulset/{name}: {counts}: waiting for pods to reach the new revision")
        return RolloutState(True, f"statefulset/{name}: {counts}: rolled out")
