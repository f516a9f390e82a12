"""history and rollback of a Blue/Green primary Service: route traffic back to the last good colour."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, Optional, Sequence, Set

from kubectl_rollback import bluegreen, console, events, interrupts, preflight, render
from kubectl_rollback.commands import gitops as gitops_owner
from kubectl_rollback.commands import preflight as preflight_check
from kubectl_rollback.commands import workload_history
from kubectl_rollback.commands.target import Target
from kubectl_rollback.errors import Interrupted, NotFoundError, PreflightBlockedError, RollbackError, WaitFailedError
from kubectl_rollback.kube import DEPLOYMENTS, ENDPOINTS, PODS, SERVICES, Kube, retry_on_conflict
from kubectl_rollback.options import DryRun, HistoryRequest, IdentityFlags, ResumeRequest, RollbackRequest
from kubectl_rollback.output import Progress
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import ROLLED_BACK_AT, ROLLED_BACK_FROM, ROLLED_BACK_TO, Identity, now_rfc3339
from kubectl_rollback.workloads.base import POLL_SECONDS
from kubectl_rollback.workloads.deployment import DeploymentKind

DEPLOYMENT = DeploymentKind()
AUDIT_KEYS = (ROLLED_BACK_FROM, ROLLED_BACK_TO, ROLLED_BACK_AT)


@dataclasses.dataclass(frozen=True)
class BlueGreenHistory(Printed):
    layout: bluegreen.Layout
    namespace: str
    colors: Dict[str, workload_history.WorkloadHistory]  # colour -> the history of its Deployment
    identity: Optional[Identity]
    target_color: Optional[str]  # None: nothing to do (or a problem)
    problem: Optional[RollbackError]
    # the primary Service's Argo CD or Flux owner and any pause; `history service/NAME` only
    gitops: gitops_owner.Guard = gitops_owner.Guard()

    @property
    def name(self) -> str:
        return self.layout.primary["metadata"]["name"]

    def notes(self) -> Sequence[str]:
        return self.gitops.notes

    def table(self, wide: bool) -> str:
        return render.bluegreen_table(self, wide)

    def data(self) -> Any:
        return render.bluegreen_dict(self)


@dataclasses.dataclass(frozen=True)
class BlueGreenRollback(Printed):
    state: BlueGreenHistory
    changed: bool
    dry_run: DryRun
    message: str
    gitops: gitops_owner.Guard = gitops_owner.Guard()  # the primary Service's Argo CD or Flux owner, what was done
    preflight: preflight.Report = preflight.Report()  # the selector writes in a dry run, before the first write

    def table(self, wide: bool) -> str:
        return self.message + render.DRY_RUN_SUFFIX[self.dry_run]

    def failure(self) -> Optional[RollbackError]:
        if self.preflight.blocked:  # nothing written: exit 5, once the findings are printed
            return PreflightBlockedError(preflight_check.blocked_line(f"service/{self.state.name}", self.preflight))
        return None

    def notes(self) -> Sequence[str]:
        return self.gitops.notes

    def data(self) -> Any:
        return render.bluegreen_rollback_dict(self)


@dataclasses.dataclass(frozen=True)
class ServiceTarget(Target):
    """service/NAME: the primary Service of a Blue/Green deployment, routed back to the last good colour."""

    name: str

    def history(self, kube: Kube, request: HistoryRequest) -> BlueGreenHistory:
        loaded = load(kube, self.name, request.flags)
        return dataclasses.replace(loaded, gitops=gitops_owner.describe(kube, loaded.layout.primary,
                                                                        f"service/{self.name}",
                                                                        request.argocd_namespace))

    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> BlueGreenRollback:
        return rollback(kube.bound_to(request.dry_run), self.name, request)

    def resume(self, kube: Kube, request: ResumeRequest) -> gitops_owner.ResumeResult:
        return gitops_owner.resume(kube, kube.get(SERVICES, self.name), f"service/{self.name}",
                                   request.argocd_namespace)


def load(kube: Kube, name: str, flags: IdentityFlags) -> BlueGreenHistory:
    primary = kube.get(SERVICES, name)
    layout = bluegreen.find_layout(primary, kube.list(SERVICES), kube.list(DEPLOYMENTS))
    colors = {
        color: workload_history.from_revisions(kube, DEPLOYMENT, deployment, DEPLOYMENT.revisions(kube, deployment),
                                               flags)
        for color, deployment in layout.deployments.items()
    }
    live = colors.get(layout.live_color)
    identity = live.identity if live else None
    target = problem = None
    try:
        if live is None or identity is None:
            raise (live.problem if live and live.problem else RollbackError(
                f"no Deployment serves the live colour {layout.live_color} of service/{name}"))
        candidate = colors.get(layout.stage_color)
        target = bluegreen.choose_color(layout, live.live, candidate.live if candidate else None, identity,
                                        candidate.barriers if candidate else ())
    except RollbackError as exc:
        problem = exc
    return BlueGreenHistory(layout, kube.namespace, colors, identity, target, problem)


def rollback(kube: Kube, name: str, request: RollbackRequest) -> BlueGreenRollback:
    return route(kube, lambda: load(kube, name, request.flags), request, f"cannot roll back service/{name}")


def route(kube: Kube, decide: Callable[[], BlueGreenHistory], request: RollbackRequest, what: str) -> BlueGreenRollback:
    """Read and decide (`decide`, again from a fresh read after a conflict), switch, and with --wait wait until the
    primary serves the target colour only."""
    result = retry_on_conflict(lambda: switch(kube, decide(), request), what)
    # Completing an interrupted switch moves only the stage (no target colour): the primary's traffic is unchanged.
    if result.changed and request.wait and result.state.target_color is not None:
        try:
            _wait_for_endpoints(kube, result.state, request.timeout)
        except WaitFailedError as exc:  # the switch was done: the failure says so first
            raise WaitFailedError(f"{result.message}, but {exc.message}") from None
        except KeyboardInterrupt:
            for note in result.gitops.notes:  # the resume reminder of --gitops=pause: it is paused until resumed
                console.info(note)
            raise Interrupted(f"interrupted while waiting: {result.message}", result) from None
    return result


def switch(kube: Kube, state: BlueGreenHistory, request: RollbackRequest) -> BlueGreenRollback:
    """Route the primary Service to `state.target_color` (decided by the caller: from the plugin's records here, from
    Harness's release history in commands/harness.py) and the stage Service to the other colour."""
    name = state.name
    if state.problem is not None:
        raise state.problem
    layout = state.layout
    live, target = layout.live_color, state.target_color
    stage_name = layout.stage["metadata"]["name"]
    if target is None:
        # The primary serves the last successful colour: if the stage selects it too, our own switch was
        # interrupted after the primary's write, and only the stage is left to move.
        if layout.half_switched:
            return _complete_switch(kube, state, request)
        return BlueGreenRollback(state, False, request.dry_run,
                      f"service/{name} already routes to {live}, the last successful colour: nothing to do")
    _check_ready(kube, state, request.skip_ready_check, dry=request.dry_run is not DryRun.NONE)
    primary, stage = layout.primary, layout.stage
    audit = {ROLLED_BACK_FROM: live, ROLLED_BACK_TO: target, ROLLED_BACK_AT: now_rfc3339()}

    def writes(audit: dict) -> tuple:
        """(resource, name, patch) of the switch: the primary with `audit`, then the stage unless it is there."""
        return ((SERVICES, name, bluegreen.selector_patch(primary, target, audit)),) + (
            () if layout.half_switched else ((SERVICES, stage_name, bluegreen.selector_patch(stage, live)),))

    checked = preflight_check.gate(
        kube, preflight_check.CheckedRollback(f"service/{name}",
                                              tuple(preflight_check.Write(*w) for w in writes(audit))),
        request.skip_preflight,
        lambda report: BlueGreenRollback(state, False, request.dry_run, f"service/{name} not routed from {live} to "
                                         f"{target}: pre-flight blocked", preflight=report))
    # GitOps (docs/gitops.md): before the first write, refuse, pause the Argo CD or Flux owner, or warn.
    owner = gitops_owner.guard(kube, primary, f"service/{name}", request.gitops, request.argocd_namespace,
                               request.dry_run)
    for warning in owner.warnings:
        console.warn(warning)
    message = _switch_message(layout, target, request.dry_run is not DryRun.NONE)
    if not request.dry_run.sends_writes:
        return BlueGreenRollback(state, False, request.dry_run, message, owner, checked)
    switch = writes(dict(audit, **owner.pointer()))
    dry = request.dry_run.server_side
    switched: Optional[dict] = None
    try:
        # Both Services and the Event are one step: a Ctrl-C during it is held back until it is done (traffic is
        # never left half-switched by it), then says what was done.
        with interrupts.deferred():
            switched = kube.patch(*switch[0])
            try:
                if len(switch) > 1:
                    kube.patch(*switch[1])
            except RollbackError as exc:
                if dry:
                    raise
                if not _stage_selects(kube, stage_name, live):  # an unanswered write may have been applied after all
                    _undo_primary(kube, primary, switched, live, exc)
                    raise
            if not dry:
                events.emit(kube, SERVICES, switched, events.ROLLBACK_REASON,
                            f"routed back from {live} to {target} {events.by(kube)}")
    except KeyboardInterrupt:
        if switched is None or dry:
            raise Interrupted(f"interrupted: service/{name} was not routed from {live} to {target}") from None
        for note in owner.notes:  # the resume reminder of --gitops=pause, as the Deployment path prints it
            console.info(note)
        raise Interrupted(f"interrupted: {message}", BlueGreenRollback(state, True, request.dry_run, message, owner,
                                                                       checked)) from None
    return BlueGreenRollback(state, not dry, request.dry_run, message, owner, checked)


def _switch_message(layout: bluegreen.Layout, target: Optional[str], dry: bool) -> str:
    """What the switch to `target` did (None: the completion of an interrupted switch, which moves the stage only),
    or in a dry run (`dry`) what the real run will do: the one place that words it, as rollback._summary does."""
    name, stage = layout.primary["metadata"]["name"], f"service/{layout.stage['metadata']['name']}"
    live = layout.live_color
    then = "would then select" if dry else "now"
    if target is None:
        completed = "would complete" if dry else "completed"
        return (f"service/{name} and its stage {stage} both select {live}: {completed} the interrupted switch (stage "
                f"{then} {layout.stage_color})")
    # half-switched: a swap to the failed colour died halfway, and the stage already selects it
    where = f"already on {live}: a swap to {live} had been interrupted" if layout.half_switched else f"{then} {live}"
    return f"service/{name} {render.done('routed', dry)} from {live} to {target} (stage {stage} {where})"


def _stage_selects(kube: Kube, stage_name: str, color: str) -> bool:
    try:
        return bluegreen.selector(kube.get(SERVICES, stage_name)).get(bluegreen.COLOR_LABEL) == color
    except RollbackError:
        return False


def _complete_switch(kube: Kube, state: BlueGreenHistory, request: RollbackRequest) -> BlueGreenRollback:
    """Both Services select the live colour, the last successful one: a switch was interrupted after the primary's
    write (a lost answer, or a run that died). The primary serves the right colour, so the stage moves to the other."""
    layout = state.layout
    stage_name = layout.stage["metadata"]["name"]
    message = _switch_message(layout, None, request.dry_run is not DryRun.NONE)
    if request.dry_run.sends_writes:
        kube.patch(SERVICES, stage_name, bluegreen.selector_patch(layout.stage, layout.stage_color))
    return BlueGreenRollback(state, request.dry_run is DryRun.NONE, request.dry_run, message)


def _undo_primary(kube: Kube, before: dict, switched: dict, live: str, cause: RollbackError) -> None:
    """The stage write failed after the primary's succeeded: put the primary back, so traffic is never left
    half-switched, and say what happened."""
    name = before["metadata"]["name"]
    previous = {key: (before["metadata"].get("annotations") or {}).get(key) for key in AUDIT_KEYS}
    try:
        kube.patch(SERVICES, name, bluegreen.selector_patch(switched, live, previous))
    except RollbackError as undo_exc:
        raise RollbackError(
            f"switched service/{name}, then could not switch the stage Service ({cause.message}) nor switch "
            f"service/{name} back ({undo_exc.message}); fix it by hand: kubectl patch service/{name} -p "
            f"'{{\"spec\":{{\"selector\":{{\"{bluegreen.COLOR_LABEL}\":\"{live}\"}}}}}}'"
        ) from None
    cause.message = f"could not switch the stage Service, so service/{name} was switched back to {live} " \
                    f"and nothing changed: {cause.message}"


def _check_ready(kube: Kube, state: BlueGreenHistory, skip: bool, dry: bool) -> None:
    """The target colour must be able to take the traffic: available replicas, and Ready pods behind the stage
    Service when it selects that colour (after an interrupted swap no Service does: then its Ready pods)."""
    layout = state.layout
    deployment = layout.deployments[state.target_color]
    available = (deployment.get("status") or {}).get("availableReplicas") or 0
    stage_name = layout.stage["metadata"]["name"]
    if layout.stage_selects == state.target_color:
        ready = bluegreen.ready_addresses(_endpoints(kube, stage_name))
        behind = f"service/{stage_name} {len(ready)} ready endpoints"
    else:
        ready = [p for p in _target_pods(kube, state) if _pod_ready(p)]
        behind = f"{len(ready)} ready pods"
    if available and ready:
        return
    problem = (f"the {state.target_color} colour cannot take the traffic: deployment/"
               f"{deployment['metadata']['name']} has {available} available replicas and {behind}")
    if not skip:
        raise RollbackError(f"{problem}; scale it up and wait for it, or pass --skip-ready-check")
    console.warn(f"{problem}; {render.doing('switching', 'switch', dry)} anyway because of --skip-ready-check: "
                 "expect errors for its users")


def _endpoints(kube: Kube, name: str) -> Optional[dict]:
    try:
        return kube.get(ENDPOINTS, name)
    except NotFoundError:
        return None


def _wait_for_endpoints(kube: Kube, state: BlueGreenHistory, timeout: float) -> None:
    """Until the primary's Endpoints list Ready pods of the target colour only; as long as the primary selects
    that colour: once it selects another (a newer deploy swapped the colours), its Endpoints never will."""
    name = state.name
    deadline = time.monotonic() + timeout
    while True:
        routed = bluegreen.selector(kube.get(SERVICES, name)).get(bluegreen.COLOR_LABEL)
        if routed != state.target_color:
            raise WaitFailedError(f"service/{name} stopped selecting {state.target_color} before its Endpoints listed "
                                  f"only {state.target_color} pods (a newer deploy or another rollback routed it to "
                                  f"{routed}); see what runs now: kubectl harness-rollback history service/{name} "
                                  f"{kube.command_flags()}")
        primary = set(bluegreen.ready_addresses(_endpoints(kube, name)))
        if primary and primary <= _pod_ips(kube, state):
            console.info(f"service/{name}: {len(primary)} ready endpoints, all {state.target_color}")
            return
        if time.monotonic() >= deadline:
            raise WaitFailedError(f"service/{name} does not list only {state.target_color} pods after {timeout:.0f}s")
        interrupts.sleep(POLL_SECONDS)


def _pod_ips(kube: Kube, state: BlueGreenHistory) -> Set[Optional[str]]:
    return {(p.get("status") or {}).get("podIP") for p in _target_pods(kube, state)}


def _target_pods(kube: Kube, state: BlueGreenHistory) -> list:
    """The pods the primary Service selects once routed to the target colour."""
    labels = dict(bluegreen.without_color(bluegreen.selector(state.layout.primary)))
    labels[bluegreen.COLOR_LABEL] = state.target_color
    return kube.list(PODS, label_selector=",".join(f"{k}={v}" for k, v in sorted(labels.items())))


def _pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
