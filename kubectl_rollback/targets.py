"""What `history` and `rollback` act on, one class per kind of selection (kubectl's HistoryViewer/Rollbacker, Helm's
action.Rollback): KIND/NAME, service/NAME (Blue/Green), --release-name R or --all, --harness-release R.

`select` turns the arguments into one target; the target does the work and returns a printable result. Each target
lives beside the work it does (commands/<module>.py) and is imported only when selected, so --help stays fast.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Optional, Tuple

from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import HistoryRequest, ResumeRequest, RollbackRequest, check_name, parse_workload

if TYPE_CHECKING:
    from kubectl_rollback.kube import Kube
    from kubectl_rollback.output import Progress, Result
    from kubectl_rollback.workloads.base import WorkloadKind

SERVICE_ALIASES = ("service", "services", "svc")


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


def select(
    workload: Optional[str], release: Optional[str], harness_release: Optional[str], all_: Optional[bool] = None
) -> Target:
    """Exactly one target from the arguments; `all_` is None where --all is not offered."""
    given = [w for w in (workload, all_ or None, release, harness_release) if w]
    if len(given) != 1:
        offered = "KIND/NAME, --all, --release-name R" if all_ is not None else "KIND/NAME, --release-name R"
        raise UsageError(f"name exactly one of {offered} or --harness-release R")
    if harness_release is not None:
        from kubectl_rollback.commands.harness import HarnessTarget

        return HarnessTarget(check_name(harness_release, "--harness-release"))
    if release is not None or all_:
        from kubectl_rollback.commands.release import ReleaseTarget

        return ReleaseTarget(check_name(release, "--release-name") if release is not None else None)
    assert workload is not None  # exactly one was given
    kind_text, _, name = workload.partition("/")
    if kind_text.lower() in SERVICE_ALIASES and name:
        from kubectl_rollback.commands.bluegreen import ServiceTarget

        return ServiceTarget(check_name(name, workload))
    from kubectl_rollback.commands.rollback import WorkloadTarget

    return WorkloadTarget(*parse_kind_name(workload))


def parse_kind_name(text: str) -> Tuple[WorkloadKind, str]:
    """KIND/NAME of a workload, in any spelling kubectl accepts for the kind."""
    from kubectl_rollback.workloads import BY_ALIAS

    return parse_workload(text, BY_ALIAS)
