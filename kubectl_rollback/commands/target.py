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
    # Only one workload has revision numbers, and only Harness's own history has release numbers.
    takes_to_revision = False
    takes_release_number = False

    def validate(self, request: RollbackRequest) -> None:
        """Refuse, before any request, the options this target cannot honour."""
        if request.to_revision is not None and not self.takes_to_revision:
            raise UsageError("--to-revision names a revision of one workload; pass KIND/NAME")
        if request.release_number is not None and not self.takes_release_number:
            raise UsageError("--release-number names a release of Harness's own history; pass --harness-release R")
        if request.trust_legacy_history and not self.takes_release_number:
            raise UsageError("--trust-legacy-history is about Harness's own history; pass --harness-release R")
        if request.override_barrier is not None and not self.takes_to_revision:
            raise UsageError("--override-barrier crosses the barrier of one workload; pass KIND/NAME")
        if request.pin_digests and not self.takes_to_revision:
            raise UsageError("--pin-digests pins the images of one workload's revision; pass KIND/NAME")
        if request.force and request.to_revision is None and not self.takes_release_number:
            # Harness's history takes --force alone (roll back although the newest release Succeeded)
            raise UsageError("--force lets --to-revision name a revision recorded Failed; pass --to-revision N with it")

    @abc.abstractmethod
    def history(self, kube: Kube, request: HistoryRequest) -> Result:
        """Every revision (or release, or colour) with its record, the live one and the rollback target."""

    @abc.abstractmethod
    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> Result:
        """Roll back; what happens along the way (a plan, each workload's outcome) goes to `on_progress`."""

    def resume(self, kube: Kube, request: ResumeRequest) -> Result:
        """Put back what `rollback --gitops=pause` changed on the GitOps owner (docs/gitops.md)."""
        raise UsageError("resume acts on one workload or Blue/Green Service: pass KIND/NAME or service/NAME")
