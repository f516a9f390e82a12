"""The command entry points the fake-API tests call, in one place.

The tests drive the commands only through these functions, so when the commands layer changes shape (one target
object per kind of selection, a dry-run type, one rollback request) only this module follows. Each returns the
command's own result; `selection` returns a plain tuple so that it survives a new Selection type.
"""

from __future__ import annotations

from typing import Callable, Optional

from kubectl_rollback import cli
from kubectl_rollback.commands import bluegreen, harness, history, release, rollback
from kubectl_rollback.options import IdentityFlags

FLAGS = IdentityFlags(service_id="svc", infra_id="infra")  # the mapping of tests.fakekube.recorded; workflow from it

ROLLED_BACK, NOTHING_TO_DO, NO_TARGET, FAILED = release.ROLLED_BACK, release.NOTHING_TO_DO, release.NO_TARGET, \
    release.FAILED


def dry_run(mode: str):
    """The request's dry-run value for "none", "client" or "server"."""
    return mode


def history_of(kube, kind, name: str, flags: IdentityFlags, to_revision: Optional[int] = None,
               force: bool = False) -> history.History:
    return history.load(kube, kind, name, flags, to_revision, force)


def rollback_workload(kube, kind, name: str, flags: IdentityFlags, mode: str = "none", **options) -> rollback.Result:
    """`rollback KIND/NAME`; options are the request's (to_revision, force, keep_canary)."""
    return rollback.run(kube, kind, name, rollback.Request(flags=flags, dry_run=dry_run(mode), **options))


def service_history(kube, name: str, flags: IdentityFlags) -> bluegreen.BlueGreenHistory:
    return bluegreen.load(kube, name, flags)


def rollback_service(kube, name: str, flags: IdentityFlags, mode: str = "none",
                     skip_ready_check: bool = False) -> bluegreen.Result:
    return bluegreen.rollback(kube, name, bluegreen.Request(flags, dry_run(mode), skip_ready_check))


def release_histories(kube, flags: IdentityFlags, release_name: Optional[str] = None) -> list:
    """`history --release-name R` (or `--all` without a name)."""
    return release.load(kube, flags, release_name)


def rollback_release(kube, release_name: Optional[str], flags: IdentityFlags, mode: str = "none",
                     on_outcome: Callable = lambda outcome: None) -> release.ReleaseRollback:
    """`rollback --release-name R`: the plan, then each workload's outcome."""
    plan = release.load(kube, flags, release_name)
    return release.roll_back(kube, plan, rollback.Request(flags=flags, dry_run=dry_run(mode)), release_name,
                             on_outcome)


def rollback_harness_release(kube, name: str, mode: str = "none") -> harness.HarnessRollback:
    """`rollback --harness-release NAME`: each workload of the last Succeeded release to the revision it recorded."""
    loaded = harness.load(kube, name)
    return harness.roll_back(kube, loaded, rollback.Request(flags=IdentityFlags(), dry_run=dry_run(mode)))


def exit_code_for(outcomes: list) -> int:
    return int(release.exit_code_for(outcomes))


def outcome(display: str, kind_of_outcome: str) -> release.Outcome:
    return release.Outcome(display, kind_of_outcome, "")


def selection(workload: Optional[str] = None, release_name: Optional[str] = None,
              harness_release: Optional[str] = None, all_: Optional[bool] = None) -> tuple:
    """What the CLI's arguments select, as ("workload", kind name, name), ("service", name), ("release", name),
    ("harness-release", name) or ("all",); `all_` None where --all is not offered (rollback)."""
    chosen = cli._select(workload, release_name, harness_release, all_)
    if chosen.kind is not None:
        return "workload", chosen.kind.name, chosen.name
    if chosen.service:
        return "service", chosen.service
    if chosen.release is not None:
        return "release", chosen.release
    if chosen.harness_release is not None:
        return "harness-release", chosen.harness_release
    return ("all",)
