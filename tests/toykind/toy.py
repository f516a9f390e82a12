"""A made-up workload kind, added to the plugin as docs/architecture.md says a new kind is: this one module and one
registry line (sitecustomize.py here, which tests/test_toy_kind.py loads into the plugin by putting this folder on
PYTHONPATH). Toy (toys.example.test/v1) keeps its pod template at spec.template and its revisions in
ControllerRevisions; no controller runs for it: the test plays it, writing the revisions as this module reads them."""

from __future__ import annotations

from typing import Optional

from kubectl_rollback.kube import Resource
from kubectl_rollback.workloads.base import RolloutState
from kubectl_rollback.workloads.controllerrevision import ControllerRevisionKind

TOYS = Resource("example.test", "v1", "toys", "Toy")


class ToyKind(ControllerRevisionKind):
    name = "toy"
    aliases = ("toy", "toys", "toy.example.test", "toys.example.test")
    resource = TOYS
    patch_type = "json"  # a custom resource takes no strategic-merge patch
    copies = "the toy controller copies a Toy's annotations onto each ControllerRevision it creates"

    def rollout_state(self, workload: dict, revision: str, pods: Optional[list] = None) -> RolloutState:
        name = workload["metadata"]["name"]
        if not self.observed(workload):
            return RolloutState(False, f"toy/{name}: waiting for the controller to observe the change")
        return RolloutState(True, f"toy/{name}: rolled out")
