"""Which target `history`, `rollback` and `resume` act on: KIND/NAME, service/NAME (Blue/Green), --release-name R
or --all, --harness-release R.

`select` turns the arguments into one target (commands/target.py says what a target is); the target does the work and
returns a printable result. Each target lives beside the work it does (commands/<module>.py) and is imported only
when selected, so --help stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import check_name, parse_workload

if TYPE_CHECKING:
    from kubectl_rollback.commands.target import Target
    from kubectl_rollback.workloads.base import WorkloadKind

SERVICE_ALIASES = ("service", "services", "svc")


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
    if kind_text.lower() in SERVICE_ALIASES:  # an empty name is refused as for any KIND/
        from kubectl_rollback.commands.bluegreen import ServiceTarget

        return ServiceTarget(check_name(name, workload))
    from kubectl_rollback.commands.workload import WorkloadTarget

    return WorkloadTarget(*parse_kind_name(workload))


def select_resumable(workload: Optional[str]) -> Target:
    """`resume`'s target: KIND/NAME or service/NAME, the workloads a rollback --gitops=pause can have paused for."""
    if workload is None:
        raise UsageError("resume needs KIND/NAME or service/NAME")
    return select(workload, None, None)


def parse_kind_name(text: str) -> Tuple[WorkloadKind, str]:
    """KIND/NAME of a workload, in any spelling kubectl accepts for the kind."""
    from kubectl_rollback.workloads import BY_ALIAS

    return parse_workload(text, BY_ALIAS)
