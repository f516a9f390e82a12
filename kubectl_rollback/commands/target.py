"""What a target is: one class per kind of selection (kubectl's HistoryViewer/Rollbacker, Helm's action.Rollback),
each with history, rollback and resume. The targets live beside their work in commands/*.py; targets.select picks one.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import HistoryRequest, ResumeRequest, RollbackRequest

if TYPE_CHECKING:
    from kubectl_rollback.kube import Kube
    from kubectl_rollback.output import Progress, Result


class Target(abc.ABC):
    # Which of rollback's options it honours (options.TargetFacts, checked by RollbackRequest.validate): only one
    # workload has revision numbers, and only Harness's own history has release numbers.
    takes_to_revision = False
    takes_release_number = False

    @abc.abstractmethod
    def history(self, kube: Kube, request: HistoryRequest) -> Result:
        """Every revision (or release, or colour) with its record, the live one and the rollback target."""

    @abc.abstractmethod
    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> Result:
        """Roll back; what happens along the way (a plan, each workload's outcome) goes to `on_progress`."""

    def resume(self, kube: Kube, request: ResumeRequest) -> Result:
        """Put back what `rollback --gitops=pause` changed on the GitOps owner (docs/gitops.md)."""
        raise UsageError("resume acts on one workload or Blue/Green Service: pass KIND/NAME or service/NAME")
