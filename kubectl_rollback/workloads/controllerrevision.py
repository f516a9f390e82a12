"""What StatefulSets and DaemonSets share: their revisions are ControllerRevisions owned by the workload, numbered
by `.revision`, whose `data` is the strategic-merge patch that puts the pod template back."""

from __future__ import annotations

import copy
from typing import Any, Optional

from kubectl_rollback import console
from kubectl_rollback.decide import Revision
from kubectl_rollback.kube import CONTROLLER_REVISIONS
from kubectl_rollback.workloads.base import WorkloadKind

REPLACE = "$patch"


class ControllerRevisionKind(WorkloadKind):
    revision_resource = CONTROLLER_REVISIONS

    def parse_revision_object(self, obj: dict) -> Optional[tuple]:
        number = obj.get("revision")
        template = ((obj.get("data") or {}).get("spec") or {}).get("template")
        if not isinstance(number, int) or number < 1 or not isinstance(template, dict):
            console.warn(f"ControllerRevision {obj['metadata']['name']} holds no revision number or template; left out")
            return None
        template = copy.deepcopy(template)
        template.pop(REPLACE, None)
        return number, template, ()

    def rollback_patch(self, workload: dict, target: Revision) -> tuple:
        """The patch `kubectl rollout undo` sends for these kinds (the revision's data: the template with
        `$patch: replace`), plus our resourceVersion precondition."""
        template = dict(copy.deepcopy(target.template), **{REPLACE: "replace"})
        precondition = {"resourceVersion": workload["metadata"]["resourceVersion"]}
        return "strategic", {"metadata": precondition, "spec": {"template": template}}

    def comparable(self, template: Any) -> Any:
        return template or {}
