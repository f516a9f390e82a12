"""What StatefulSets and DaemonSets share: their revisions are ControllerRevisions owned by the workload, numbered
by `.revision`, whose `data` is the strategic-merge patch that puts the pod template back."""

from __future__ import annotations

import copy
from typing import Any, Optional

from kubectl_rollback import console
from kubectl_rollback.decide import Revision
from kubectl_rollback.kube import CONTROLLER_REVISIONS
from kubectl_rollback.workloads.base import STRATEGIC_REPLACE, RolloutState, WorkloadKind

ON_DELETE = "OnDelete"
# On each pod: its revision; the ControllerRevision's name for a StatefulSet's pods, the hash that ends the name
# (NAME-HASH) for a DaemonSet's.
POD_REVISION = "controller-revision-hash"


class ControllerRevisionKind(WorkloadKind):
    revision_resource = CONTROLLER_REVISIONS
    # The patch `kubectl rollout undo` sends for these kinds: the revision's data, the template with `$patch: replace`.
    patch_type = "strategic"
    hash_label = "controller.kubernetes.io/hash"

    def runs(self, pod: dict, workload: dict, revision: Revision) -> bool:
        """The workload controls its pods; their controller-revision-hash is the revision's name (StatefulSet) or
        the hash that ends it (DaemonSet)."""
        labels = pod["metadata"].get("labels") or {}
        return self.owned_by(pod, workload) and labels.get(POD_REVISION) in (revision.name, revision.template_hash)

    def parse_revision_object(self, obj: dict) -> Optional[tuple]:
        number = obj.get("revision")
        template = ((obj.get("data") or {}).get("spec") or {}).get("template")
        if not isinstance(number, int) or number < 1 or not isinstance(template, dict):
            console.warn(f"ControllerRevision {obj['metadata']['name']} holds no revision number or template; left out")
            return None
        template = copy.deepcopy(template)
        template.pop(STRATEGIC_REPLACE, None)
        return number, template, ()

    def comparable(self, template: Any) -> Any:
        return template or {}

    def judged_by_pods(self, workload: dict) -> bool:
        """OnDelete: the controller changes no pod by itself, and its counts do not say which pods run which
        revision; the pods' controller-revision-hash does."""
        return (workload["spec"].get("updateStrategy") or {}).get("type") == ON_DELETE

    def desired_pods(self, workload: dict) -> int:
        raise NotImplementedError

    def on_delete_state(self, workload: dict, revision: str, pods: list) -> RolloutState:
        """An OnDelete rollout is done when every pod runs `revision` (each deleted and recreated by someone) and
        is Ready; until then it is waiting, and a --timeout that passes meanwhile is its failure."""
        name = workload["metadata"]["name"]
        desired = self.desired_pods(workload)
        hashes = (revision, revision[len(name) + 1:] if revision.startswith(f"{name}-") else revision)
        on_revision = [p for p in pods if ((p["metadata"].get("labels") or {}).get(POD_REVISION)) in hashes]
        ready = sum(1 for p in on_revision if pod_ready(p))
        message = f"{self.name}/{name}: {ready} of {desired} pods on this revision ready"
        if ready >= desired and len(on_revision) == len(pods):
            return RolloutState(True, f"{message}: rolled out")
        return RolloutState(False, f"{message} (OnDelete: a pod changes when it is deleted)")


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
