"""The command entry points the fake-API tests call, in one place.

The tests drive the commands the way the CLI does, through the target that `targets.select` makes of the arguments
(one per kind of selection) and the one rollback request type, so they exercise exactly what `history` and
`rollback` run. Each returns the target's own result; `selection` returns a plain tuple.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from kubectl_rollback import decide, interrupts, targets
from kubectl_rollback.commands import bluegreen, fleet, harness, release, rollback, workload_history
from kubectl_rollback.commands.workload import WorkloadTarget
from kubectl_rollback.options import DryRun, FleetRequest, HistoryRequest, IdentityFlags, OutputFormat, RollbackRequest

FLAGS = IdentityFlags(service_id="svc", infra_id="infra")  # the mapping of tests.fakekube.recorded; workflow from it

ROLLED_BACK, NOTHING_TO_DO, NO_TARGET, FAILED = (decide.Outcome.ROLLED_BACK, decide.Outcome.NOTHING_TO_DO,
                                                 decide.Outcome.NO_TARGET, decide.Outcome.FAILED)


def dry_run(mode: str) -> DryRun:
    """The request's dry-run value for "none", "client" or "server"."""
    return DryRun(mode)


def _request(flags: IdentityFlags, mode: str, **options) -> RollbackRequest:
    return RollbackRequest(flags=flags, dry_run=dry_run(mode), **options).validate()


def history_of(kube, kind, name: str, flags: IdentityFlags, to_revision: Optional[int] = None,
               force: bool = False) -> workload_history.WorkloadHistory:
    """The history a rollback decides on (with --to-revision and --force, which `history` itself does not take)."""
    return workload_history.load(kube, kind, name, flags, to_revision, force)


def rollback_workload(kube, kind, name: str, flags: IdentityFlags, mode: str = "none",
                      **options) -> rollback.WorkloadRollback:
    """`rollback KIND/NAME`; options are the request's (to_revision, force, keep_canary)."""
    return WorkloadTarget(kind, name).rollback(kube, _request(flags, mode, **options), lambda p: None)


def service_history(kube, name: str, flags: IdentityFlags) -> bluegreen.BlueGreenHistory:
    return bluegreen.ServiceTarget(name).history(kube, HistoryRequest(flags))


def rollback_service(kube, name: str, flags: IdentityFlags, mode: str = "none",
                     skip_ready_check: bool = False, wait: bool = False,
                     timeout: float = 300.0) -> bluegreen.BlueGreenRollback:
    request = _request(flags, mode, skip_ready_check=skip_ready_check, wait=wait, timeout=timeout)
    return bluegreen.ServiceTarget(name).rollback(kube, request, lambda p: None)


def release_histories(kube, flags: IdentityFlags, release_name: Optional[str] = None) -> list:
    """`history --release-name R` (or `--all` without a name): the histories, in plan order."""
    return release.ReleaseTarget(release_name).history(kube, HistoryRequest(flags)).histories


def rollback_release(kube, release_name: Optional[str], flags: IdentityFlags, mode: str = "none",
                     on_outcome: Callable = lambda outcome: None, **options) -> release.ReleaseRollback:
    """`rollback --release-name R`: the plan, then each workload's outcome (passed to on_outcome as it happens);
    options are the request's (gitops, ...)."""

    def on_progress(printable) -> None:
        if isinstance(printable, release.WorkloadOutcome):
            on_outcome(printable)

    return release.ReleaseTarget(release_name).rollback(kube, _request(flags, mode, **options), on_progress)


def harness_history(kube, name: str) -> harness.HarnessHistory:
    """`history --harness-release NAME`: the history Harness would read, its lookup warnings and the plan."""
    return harness.HarnessTarget(name).history(kube, HistoryRequest())


def rollback_harness_release(kube, name: str, mode: str = "none", **options) -> harness.HarnessRollback:
    """`rollback --harness-release NAME` (options: release_number, force, wait): each workload of the last Succeeded
    release to the revision it recorded, then Harness's book-keeping."""
    target = harness.HarnessTarget(name)
    request = _request(IdentityFlags(), mode, **options).validate(target)
    return target.rollback(kube, request, lambda p: None)


def exit_code_for(outcomes: list) -> int:
    return int(decide.exit_code_for(o.outcome for o in outcomes))


def outcome(display: str, kind_of_outcome: decide.Outcome) -> release.WorkloadOutcome:
    return release.WorkloadOutcome(display, kind_of_outcome, "")


def selection(workload: Optional[str] = None, release_name: Optional[str] = None,
              harness_release: Optional[str] = None, all_: Optional[bool] = None) -> tuple:
    """What the CLI's arguments select, as ("workload", kind name, name), ("service", name), ("release", name),
    ("harness-release", name) or ("all",); `all_` None where --all is not offered (rollback)."""
    chosen = targets.select(workload, release_name, harness_release, all_)
    if isinstance(chosen, WorkloadTarget):
        return "workload", chosen.kind.name, chosen.name
    if isinstance(chosen, bluegreen.ServiceTarget):
        return "service", chosen.name
    if isinstance(chosen, harness.HarnessTarget):
        return "harness-release", chosen.name
    assert isinstance(chosen, release.ReleaseTarget)
    return ("release", chosen.release) if chosen.release is not None else ("all",)


def fleet_run(verb: str, kubes: dict, kubeconfig_path: str, workload: str, flags: IdentityFlags,
              request: FleetRequest, mode: str = "none", **options) -> fleet.FleetResult:
    """`history|rollback WORKLOAD --contexts ...` with -o json: `kubes` maps a context to its client, to the error
    connecting to it raises (an unreachable server, a bad kubeconfig entry), or to a function that returns its client
    (what happens while it connects)."""
    target = targets.select(workload, None, None)

    def connect(context: str):
        client = kubes[context]
        if isinstance(client, Exception):
            raise client
        return client() if callable(client) else client

    if verb == "history":
        return fleet.run(verb, request, kubeconfig_path, connect,
                         lambda kube, progress: target.history(kube, HistoryRequest(flags)), OutputFormat.JSON)
    return fleet.run(verb, request, kubeconfig_path, connect,
                     lambda kube, progress: target.rollback(kube, _request(flags, mode, **options), progress),
                     OutputFormat.JSON)


def until_the_main_thread_was_told():
    """A signal reaches the main thread, which tells every thread: wait until it has."""
    while True:
        try:
            interrupts.check()
        except KeyboardInterrupt:
            return
        time.sleep(0.01)
