"""StatefulSets: ControllerRevisions; the live one is named by status.updateRevision."""

from __future__ import annotations

from typing import Any, Optional

from kubectl_rollback.decide import Revision
from kubectl_rollback.kube import STATEFULSETS, Kube
from kubectl_rollback.records import partitioned_pods, partitioned_reason
from kubectl_rollback.workloads.base import RolloutState
from kubectl_rollback.workloads.controllerrevision import POD_REVISION, ControllerRevisionKind, pod_ready


class StatefulSetKind(ControllerRevisionKind):
    name = "statefulset"
    aliases = ("statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps")
    resource = STATEFULSETS
    # statefulset/stateful_set_utils.go: newRevision copies set.Annotations onto each new ControllerRevision
    copies = "the statefulset controller copies a StatefulSet's annotations onto each ControllerRevision it creates"

    def is_live(self, workload: dict, name: str, template: Any, current: Any) -> bool:
        status = workload.get("status") or {}
        if self.observed(workload) and status.get("updateRevision"):
            return status["updateRevision"] == name
        return super().is_live(workload, name, template, current)

    def stuck_pods(self, kube: Kube, workload: dict, left: Revision) -> list:
        """Its pods on `left` that are not Ready: with the default OrderedReady policy the controller waits for such a
        pod to become Ready before it updates it, which a pod of a broken revision never does (kubernetes#67250, the
        docs' "forced rollback": delete it by hand). Deleted, it is recreated at the update revision."""
        return [p for p in self.pods(kube, workload)
                if (p["metadata"].get("labels") or {}).get(POD_REVISION) == left.name and not pod_ready(p)]

    def desired_pods(self, workload: dict) -> int:
        return workload["spec"].get("replicas", 1)

    def rollout_state(self, workload: dict, revision: str, pods: Optional[list] = None) -> RolloutState:
        """kubectl's `rollout status` rules for a StatefulSet (RollingUpdate, partition-aware: done, with the reason
        that says on how many pods), except OnDelete: given the pods, it is judged from them."""
        name = workload["metadata"]["name"]
        spec, status = workload["spec"], workload.get("status") or {}
        if not self.observed(workload):
            return RolloutState(False, f"statefulset/{name}: waiting for the controller to observe the change")
        if pods is not None:
            return self.on_delete_state(workload, revision, pods)
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
            return RolloutState(True, f"statefulset/{name}: {counts}: partitioned rollout complete",
                                reason=partitioned_reason(updated, desired))
        if status.get("updateRevision") != status.get("currentRevision"):
            return RolloutState(False, f"statefulset/{name}: {counts}: waiting for pods to reach the new revision")
        return RolloutState(True, f"statefulset/{name}: {counts}: rolled out")

    def rollback_warnings(self, workload: dict, target: Revision) -> list:
        """A target that a partitioned rollout ran on some pods only, which this rollback takes to more of them."""
        proven = partitioned_pods(target.record)
        replicas = self.desired_pods(workload)
        partition = ((workload["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0
        updated = max(0, replicas - partition)
        if proven is None or updated <= proven:
            return []
        extent = f"all {replicas}" if updated == replicas else f"{updated} of {replicas}"
        return [f"revision {target.number} ran on {proven} of {replicas} pods only (partitioned); this rollback "
                f"takes it to {extent} pods"]
