"""DaemonSets: ControllerRevisions; the live one holds the DaemonSet's current template."""

from __future__ import annotations

from typing import Optional

from kubectl_rollback.kube import DAEMONSETS
from kubectl_rollback.workloads.base import RolloutState
from kubectl_rollback.workloads.controllerrevision import ControllerRevisionKind


class DaemonSetKind(ControllerRevisionKind):
    name = "daemonset"
    aliases = ("daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps")
    resource = DAEMONSETS
    # daemon/update.go: snapshot creates each ControllerRevision with Annotations: ds.Annotations
    copies = "the daemonset controller copies a DaemonSet's annotations onto each ControllerRevision it creates"

    def desired_pods(self, workload: dict) -> int:
        return (workload.get("status") or {}).get("desiredNumberScheduled") or 0

    def rollout_state(self, workload: dict, revision: str, pods: Optional[list] = None) -> RolloutState:
        """kubectl's `rollout status` rules for a DaemonSet, except OnDelete: kubectl calls it done at once (its
        pods change only when someone deletes them); given the pods, it is judged from them."""
        name = workload["metadata"]["name"]
        status = workload.get("status") or {}
        strategy = workload["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" and pods is None:
            return RolloutState(True, f"daemonset/{name}: OnDelete strategy: pods change when they are deleted")
        if not self.observed(workload):
            return RolloutState(False, f"daemonset/{name}: waiting for the controller to observe the change")
        if pods is not None:
            return self.on_delete_state(workload, revision, pods)
        desired = status.get("desiredNumberScheduled") or 0
        updated = status.get("updatedNumberScheduled") or 0
        available = status.get("numberAvailable") or 0
        counts = f"{updated} updated, {available} available of {desired}"
        if updated < desired:
            return RolloutState(False, f"daemonset/{name}: {counts}: waiting for pods to be updated")
        if available < desired:
            return RolloutState(False, f"daemonset/{name}: {counts}: waiting for pods to become available")
        return RolloutState(True, f"daemonset/{name}: {counts}: rolled out")
