"""The rollback of KIND/NAME, one workload (commands/workload.py): puts back the last successful revision for the
identity (or the one named), with bookkeeping."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import time
from typing import Any, Callable, List, Optional, Sequence

from kubectl_rollback import console, digests, events, interrupts, marks, preflight, render
from kubectl_rollback.commands import configsnap, consistency, wait, workload_history
from kubectl_rollback.commands import gitops as gitops_owner
from kubectl_rollback.commands import preflight as preflight_check
from kubectl_rollback.commands.workload_history import WorkloadHistory
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import (
    ConflictError,
    Interrupted,
    NotFoundError,
    PreflightBlockedError,
    RollbackError,
    WaitFailedError,
)
from kubectl_rollback.kube import PODS, Kube, retry_on_conflict
from kubectl_rollback.options import DryRun, RollbackRequest
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import (
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM,
    ROLLED_BACK_ON,
    Status,
    now_rfc3339,
    parse_time,
    read_record,
    record_annotations,
)
from kubectl_rollback.workloads.base import POLL_SECONDS, WorkloadKind, annotate


@dataclasses.dataclass(frozen=True)
class WorkloadRollback(Printed):
    history: WorkloadHistory
    source: Optional[Revision]  # the live revision we rolled back from
    target: Revision
    changed: bool  # False: nothing to do (already there), or a dry run
    dry_run: DryRun
    message: str
    diff: str = ""
    warnings: tuple = ()
    rolled_out: Optional[bool] = None  # with --wait: True once the rollout completed
    canaries: tuple = ()  # canary workloads deleted (or, in a dry run, that would be)
    apply_notes: tuple = ()  # what the next apply will make of it (commands/consistency.py)
    config: tuple = ()  # configrefs.Change: what the rollback did (or would do) to the target's ConfigMaps, Secrets
    gitops: gitops_owner.Guard = gitops_owner.Guard()  # the Argo CD or Flux owner and what was done about it
    would_change: bool = False  # a dry run that found something to change: the real run will change it
    wait_failure: Optional[WaitFailedError] = None  # --wait: rolled back, but the rollout after it failed
    preflight: preflight.Report = preflight.Report()  # what was checked before the first write (preflight.py)
    stuck_pods: tuple = ()  # pods of the revision left, not Ready, deleted so they come back at the target

    def table(self, wide: bool) -> str:
        return render.rollback_text(self)

    def data(self) -> Any:
        return render.rollback_dict(self)

    def notes(self) -> Sequence[str]:
        return render.skipped_notes(self.history) + list(self.apply_notes) + list(self.gitops.notes)

    def failure(self) -> Optional[RollbackError]:
        """The rollout after the rollback failed (exit 4): the rollback itself is printed first, since it was done; or
        the pre-flight blocked it (exit 5): nothing was written, the findings are printed first."""
        if self.preflight.blocked:
            return PreflightBlockedError(preflight_check.blocked_line(self.history.display, self.preflight))
        return self.wait_failure


@dataclasses.dataclass(frozen=True)
class UnansweredWrite:
    """Our patch whose answer was lost: it may have been applied."""

    source: Optional[Revision]
    target: Revision


@dataclasses.dataclass
class Race:
    """What earlier attempts learnt from a 409: that another client won (`lost`), that our own write may have been
    applied without our hearing back (`unanswered`), or that the config is back but the pods were not restarted
    (`restored_config`, what was restored: the retry finds nothing left to restore, and must still restart)."""

    lost: bool = False
    unanswered: Optional[UnansweredWrite] = None
    restored_config: Optional[tuple] = None
    paused: gitops_owner.Guard = gitops_owner.Guard()  # an attempt's pause: a later attempt finds the owner paused


def run(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest) -> WorkloadRollback:
    """The rollback's steps, in order: load -> plan -> write -> book-keeping (`_attempt`), clean-up (`_clean_up`),
    wait. Each step takes the request, and so its dry-run mode, directly; the client is bound to that mode first, so
    no write of any step can escape it (record --rollback-on-failure and watch call this directly too).

    An attempt decides from a fresh read and writes with its resourceVersion; if another client wrote the workload
    meanwhile (409), it decides again from a new read (bounded), so we never overwrite a change we did not see."""
    kube = kube.bound_to(request.dry_run)
    race = Race()
    result: Optional[WorkloadRollback] = None
    try:
        # The writes and their book-keeping (audit, Failed mark, Event, pause stamp) and clean-up (canary, stuck pods)
        # are one step: a Ctrl-C during it is held back until it is done, then says what was done.
        with interrupts.deferred():
            result = retry_on_conflict(
                lambda: _attempt(kube, kind, name, request, race), f"cannot roll back {kind.display(name)}"
            )
            result = _clean_up(kube, kind, name, request, result)
    except Interrupted:
        raise  # stopped at the pause write, which says so itself
    except RollbackError as exc:  # refused, undecidable or failed after the pause: the owner stays paused, say it
        left = race.paused.left_paused(kind.display(name)) if result is None else None
        if left:
            exc.message += f"; {left}"
        raise
    except KeyboardInterrupt:
        if result is None or not result.changed:
            left = race.paused.left_paused(kind.display(name)) or f"{kind.display(name)} was not rolled back"
            raise Interrupted(f"interrupted: {left}") from None
        for note in result.gitops.notes:  # the resume reminder of --gitops=pause
            console.info(note)
        raise Interrupted(f"interrupted: {rolled_back_line(result)}; the rollout goes on; follow it with: "
                          f"kubectl rollout status {kind.display(name)} {kube.command_flags()}", result) from None
    left = race.paused.left_paused(kind.display(name)) if not result.changed else None
    if left:  # nothing to do after all (another client rolled it back first): the pause stays, say it
        result = dataclasses.replace(result, gitops=dataclasses.replace(race.paused,
                                                                        notes=race.paused.notes + (left,)))
    if result.changed and request.wait:
        try:  # from here on, Ctrl-C must say that production changed
            console.info(f"{result.message}; waiting for the rollout (Ctrl-C stops the waiting, not the rollout)")
            # A template write is followed while its target is live; a config-only restart made a revision of its
            # own, which no Revision read before it names.
            followed = result.target if result.source is None or result.source.name != result.target.name else None
            wait.wait_for_rollout(kube, kind, name, result.target.name, request.timeout, followed=followed)
        except wait.NotLiveError as exc:
            return dataclasses.replace(result, rolled_out=False, wait_failure=WaitFailedError(
                f"{result.message}, but {exc.message}; see what runs now: kubectl harness-rollback history "
                f"{kind.display(name)} {kube.command_flags()}"))
        except WaitFailedError as exc:
            return dataclasses.replace(result, rolled_out=False, wait_failure=WaitFailedError(
                f"{result.message}, but the rollout did not complete: {exc.message}"))
        except KeyboardInterrupt:
            for note in result.gitops.notes:  # the resume reminder of --gitops=pause: it is paused until resumed
                console.info(note)
            raise Interrupted(f"interrupted while waiting: {rolled_back_line(result)}; the rollout goes on; follow "
                              f"it with: kubectl rollout status {kind.display(name)} {kube.command_flags()}",
                              result) from None
        result = dataclasses.replace(result, rolled_out=True)
    return result


def rolled_back_line(result: WorkloadRollback) -> str:
    """What a rollback wrote, in one line: `deployment/web rolled back 9 -> 8`, and what it deleted with it (the
    canary, pods stuck on the revision left); in a dry run, what it would write."""
    source = result.source.number if result.source else "unknown"
    deleted = (*result.canaries, *result.stuck_pods)
    dry = not result.changed
    return (f"{result.history.display} {render.done('rolled back', dry)} {source} -> {result.target.number}"
            + (f" ({render.done('deleted', dry)}: {', '.join(deleted)})" if deleted else ""))


def _clean_up(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest,
              result: WorkloadRollback) -> WorkloadRollback:
    """After the attempt: the GitOps pause remembered on its owner (book-keeping of --gitops=pause), the canary
    workload deleted (unless --keep-canary), the pods stuck on the revision left recreated; each in the request's
    mode."""
    if result.changed:
        result = dataclasses.replace(result, warnings=result.warnings + gitops_owner.remember_pause(
            kube, kind.resource, name, result.gitops))
    if not request.keep_canary:
        result = dataclasses.replace(result, canaries=_remove_canaries(kube, kind, name, request))
    return dataclasses.replace(result, stuck_pods=_recreate_stuck_pods(kube, kind, name, request, result))


def _remove_canaries(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest) -> tuple:
    """Harness's Canary Delete step: the canary workload goes with the rollback."""
    removed = []
    for canary in kind.canaries(kube, name):
        display = kind.display(canary["metadata"]["name"])
        if request.dry_run.sends_writes:
            kube.delete(kind.resource, canary["metadata"]["name"], uid=canary["metadata"]["uid"])
        removed.append(display)
    return tuple(removed)


def _recreate_stuck_pods(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest,
                         result: WorkloadRollback) -> tuple:
    """After the template write (StatefulSets, kind.stuck_pods): the pods still on the revision left and not Ready
    are deleted so that the controller recreates them at the target; in a dry run, listed. Only once the controller
    has seen the new template: before that it would recreate them at the revision left. The rollback has happened
    by then: what fails here (RBAC on pods, a controller that does not observe) is a warning."""
    source = result.source
    if source is None or source.name == result.target.name or not (result.changed or result.would_change):
        return ()
    deleted = []
    try:
        stuck = kind.stuck_pods(kube, result.history.workload, source)  # the selector the write left as it was
        if stuck and result.changed:
            wait.wait_observed(kube, kind, kind.get(kube, name))
        for pod in stuck:
            if request.dry_run.sends_writes:
                try:
                    kube.delete(PODS, pod["metadata"]["name"], uid=pod["metadata"]["uid"])
                except (NotFoundError, ConflictError):
                    continue  # gone or replaced meanwhile: nothing left to do for it
            deleted.append(f"pod/{pod['metadata']['name']}")
    except RollbackError as exc:
        console.warn(f"{rolled_back_line(result)}{' (dry run)' if not result.changed else ''}, but its pods not Ready "
                     f"on revision {source.number} were left as they are: {exc.message}")
    return tuple(deleted)


@dataclasses.dataclass(frozen=True)
class Planned:
    """What the plan step decided from one read: from which revision to which, the config snapshots to restore, and
    whether the workload runs the target's template already (then only the config, if anything, is restored)."""

    state: WorkloadHistory
    source: Optional[Revision]  # the live revision
    target: Revision  # with --pin-digests, its template pinned to the recorded digests
    config: configsnap.ConfigPlan
    # --pin-digests changed the target's template (the controller makes a new revision of it): the revision whose
    # recorded digests it pins
    pinned_from: Optional[Revision]
    warnings: tuple
    in_place: bool


def _attempt(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest, race: Race) -> WorkloadRollback:
    """One pass of load -> plan -> write -> book-keeping, from a fresh read; `race` carries what earlier attempts
    learnt. A client dry run stops before the write, a server dry run after it."""
    planned = _plan(kube, kind, name, _load(kube, kind, name, request), request)
    if planned.in_place:
        return _in_place(kube, kind, planned, request, race)
    state, source, target = planned.state, planned.source, planned.target
    checked = _preflight(kube, kind, planned, request)
    owner = _before_writing(kube, state, request, race)
    warnings = planned.warnings + owner.warnings
    diff = _template_diff(kind, state.workload, target)
    would = WorkloadRollback(state, source, target, False, request.dry_run,
                             _summary(state, source, target, planned.pinned_from, dry=True), diff, warnings,
                             config=planned.config.changes, gitops=owner, would_change=True, preflight=checked)
    if not request.dry_run.sends_writes:
        return would
    patched, apply_plan, written = _write(kube, kind, name, planned, request, race)
    warnings += written
    if request.dry_run.server_side:
        return dataclasses.replace(would, warnings=warnings, apply_notes=apply_plan.notes)
    target = _adopt_pinned(kube, kind, name, state, target) if planned.pinned_from is not None else target
    result = _applied(kube, kind, state, source, target, request, warnings, diff, pinned_from=planned.pinned_from)
    # After the book-keeping: until the target carries its audit annotations, a racing `record` could take it for a
    # revision a pipeline just deployed, so nothing else may stand between the template write and them.
    warnings += consistency.restore_ownership(kube, kind, state.workload, patched, apply_plan)
    return dataclasses.replace(result, warnings=warnings, apply_notes=apply_plan.notes, config=planned.config.changes,
                               gitops=owner, preflight=checked)


def _load(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest) -> WorkloadHistory:
    """The workload and its revisions, with the identity and the target decided (workload_history.load)."""
    return workload_history.load(kube, kind, name, request.flags, request.to_revision, request.force,
                                 request.override_barrier)


def _plan(kube: Kube, kind: WorkloadKind, name: str, state: WorkloadHistory, request: RollbackRequest) -> Planned:
    """What the rollback will do, or why it will not (raised): the target, its config snapshots, its digests."""
    # Before anything is decided: record keys on the workload (docs/annotations.md) make its revisions' records
    # untrustworthy, the live one's included, so even "nothing to do" would be a guess.
    kind.refuse_record_keys(state.workload, kube.command_flags())
    # As kubectl rollout undo, a paused workload is refused before anything else: the same exit code whether or not
    # an identity or a target could be found, and "nothing to do" is never said of a workload that would not roll.
    kind.check_can_roll_back(state.workload)
    if request.only_from is not None and (state.live is None or state.live.name != request.only_from):
        # record --rollback-on-failure (the revision that failed), rollback -i (the one the confirmation named):
        # another deploy's revision is live now; it is not ours to roll back.
        live = f"revision {state.live.number}" if state.live is not None else "another template"
        raise RollbackError(f"{state.display} runs {live} now, not the revision this rollback was to replace; left "
                            "as it is")
    if state.problem is not None:
        raise state.problem
    target, source = state.target, state.live
    assert target is not None and state.decision is not None  # build() sets a problem whenever it has no target
    # Config snapshots (docs/config-rollback.md): read now, written just before the template; repoint edits the target.
    config = configsnap.plan(kube, kind, name, target, request.config)
    unpinned = config.target(target)
    # A live good revision is nothing to do, pinned or not (an idempotent rollback restarts no pods); --to-revision N
    # --pin-digests of the live revision pins it (its pods may have pulled a moved tag since).
    pin = request.pin_digests and (not unpinned.live or request.to_revision is not None)
    target, moved, pinned = _digests(state, unpinned, pin)
    pinned_from = unpinned if pinned else None  # the revision whose recorded digests the new template pins
    warnings = (state.decision.warnings + config.warnings + tuple(kind.rollback_warnings(state.workload, target))
                + moved)
    in_place = _same_template_as_workload(kind, state.workload, target) or (  # a pinned target is a template of its own
        not config.repoints and not pinned and source is not None and _same_template(kind, source, target))
    return Planned(state, source, target, config, pinned_from, warnings, in_place)


def _in_place(kube: Kube, kind: WorkloadKind, planned: Planned, request: RollbackRequest,
              race: Race) -> WorkloadRollback:
    """The workload runs the target's template already: our own earlier write whose answer was lost (finish its
    book-keeping), only the config to restore, or nothing to do."""
    state, target, warnings, config = planned.state, planned.target, planned.warnings, planned.config
    unanswered = race.unanswered
    if unanswered and unanswered.target.name == target.name:
        # Our first write went through; its answer was lost. Finish the job it started.
        result = _applied(kube, kind, state, unanswered.source, target, request, warnings, "", confirmed=True)
        return dataclasses.replace(result, config=config.changes)
    if config.writes or race.restored_config is not None:  # only the config differs
        checked = _preflight(kube, kind, planned, request)
        owner = _before_writing(kube, state, request, race)
        result = _config_only(kube, kind, state, target, request, config, warnings + owner.warnings, owner, race)
        return dataclasses.replace(result, preflight=checked)
    message = _already(state, target, request.to_revision is not None)
    if race.lost:
        message += " (another client rolled it back first)"
    return WorkloadRollback(state, planned.source, target, False, request.dry_run, message, warnings=warnings,
                            config=config.changes)


def _write(kube: Kube, kind: WorkloadKind, name: str, planned: Planned, request: RollbackRequest,
           race: Race) -> tuple:
    """(the workload as patched, the apply-consistency plan, warnings): the config snapshots first, then the
    target's template with the apply-consistency fields, preconditioned on the resourceVersion read."""
    warnings = configsnap.apply(kube, planned.config, request.dry_run)
    apply_plan, patch_type, body = _template_write(kind, planned.state.workload, planned.target,
                                                   request.dry_run.server_side)
    try:
        patched = kube.patch(kind.resource, name, body, patch_type)
    except ConflictError as exc:
        if exc.ambiguous and request.dry_run is DryRun.NONE:  # a dry run's write cannot have landed
            race.unanswered = UnansweredWrite(planned.source, planned.target)
        else:
            race.lost = True
        raise
    return patched, apply_plan, warnings


def _template_write(kind: WorkloadKind, workload: dict, target: Revision, dry: bool = False) -> tuple:
    """(consistency plan, patch type, body) of the write that puts the target's template back, with apply
    consistency (docs/apply-consistency.md): last-applied in the same write, field owners right after it; `dry`: the
    plan's notes say what a dry run would do."""
    patch_type, body = kind.rollback_patch(workload, target)
    plan = consistency.prepare(kind, workload, target, dry)
    return (plan, *consistency.patch(plan, patch_type, body))


def _preflight(kube: Kube, kind: WorkloadKind, planned: Planned, request: RollbackRequest) -> preflight.Report:
    """Before the first write (docs/preflight.md): the target's references, the write and a pod of the target in a
    dry run. Blocked: nothing is written, and the command prints what it would have done, then exits 5."""
    state, target, config, warnings = planned.state, planned.target, planned.config, planned.warnings
    _, patch_type, body = _template_write(kind, state.workload, target)
    restored = {c.ref.key: preflight.SNAPSHOT for c in config.changes if c.writes}
    message = f"{state.display} not rolled back from {describe(state.live)} to {describe(target)}: pre-flight blocked"
    return preflight_check.gate(kube, preflight_check.CheckedRollback(
        state.display, (preflight_check.Write(kind.resource, state.workload["metadata"]["name"], body, patch_type),),
        target.template, restored), request.skip_preflight,
        lambda report: WorkloadRollback(state, state.live, target, False, request.dry_run, message,
                                        warnings=warnings, config=config.changes, preflight=report))


def _digests(state: WorkloadHistory, target: Revision, pin: bool) -> tuple:
    """(target, warnings, pinned): with --pin-digests the target's template pinned to its recorded digests, and
    what it pinned; whether a tag the target still runs by tag moved since it was recorded (a newer record said
    another digest for it: a pinned image runs the recorded bytes, and is not warned about)."""
    recorded = digests.parse(target.annotations)
    template = digests.pinned(target.template, recorded) if pin else target.template
    warnings = digests.tag_moves(template, recorded, [(r.number, r.template, digests.parse(r.annotations))
                                                      for r in state.revisions if _recorded_after(r, target)])
    if template == target.template:
        if pin and not recorded:
            warnings.append(f"--pin-digests: revision {target.number} has no recorded digest to pin")
        return target, tuple(warnings), False
    pins = ", ".join(f"{name}: {image}" for (name, image), (_, before) in zip(digests.containers(template),
                                                                             digests.containers(target.template))
                     if image != before)
    warnings.append(f"--pin-digests: the images of revision {target.number} are pinned to their recorded digests "
                    f"({pins}), whatever their tags point at now: a new pod template, so a new revision "
                    "(docs/apply-consistency.md)")
    return dataclasses.replace(target, template=template), tuple(warnings), True


def _recorded_after(revision: Revision, target: Revision) -> bool:
    """Whether `revision`'s record is newer than the target's: by recorded-at where both say it (a rollback renumbers
    the revision it brings back, an older record under a higher number), else by revision number."""
    theirs, ours = parse_time(revision.record.recorded_at), parse_time(target.record.recorded_at)
    if theirs is None or ours is None or theirs == ours:
        return revision.number > target.number
    return theirs > ours


def _adopt_pinned(kube: Kube, kind: WorkloadKind, name: str, state: WorkloadHistory, target: Revision) -> Revision:
    """--pin-digests wrote a template no revision had: the controller makes a new revision object for it. It runs
    the target's recorded bytes, so it takes the target's record (Succeeded, with the reason) and digests, and the
    audit goes on it; until the controller has made it (bounded), the audit goes on the target, with a warning."""
    deadline = time.monotonic() + wait.OBSERVE_TIMEOUT_SECONDS
    while True:
        live = next((r for r in kind.revisions(kube, kind.get(kube, name)) if r.live), None)
        if live is not None and live.name != target.name:
            break
        if time.monotonic() > deadline:
            console.warn(f"--pin-digests: the controller made no revision of the pinned template yet; revision "
                         f"{target.number} keeps the audit")
            return target
        interrupts.sleep(POLL_SECONDS)
    origin = target.pinned_from or marks.PinnedOrigin(min(target.first_numbers()), target.template_hash)
    pinned_from = {marks.PINNED_FROM: marks.encode(origin.data(live.template_hash))}
    live = dataclasses.replace(live, pinned_from=origin)
    record = target.record
    if not record.recorded:
        _annotate_quietly(kube, kind, live, pinned_from)
        return live
    annotations = record_annotations(Status.SUCCEEDED, record.workflow_id or "", record.mapping(state.namespace),
                                     now_rfc3339(), kind.written_on(live), record.release_number, record.artifact,
                                     f"revision {target.number} pinned to its recorded digests")
    annotations.update(pinned_from)
    annotations[digests.DIGESTS] = (target.annotations or {}).get(digests.DIGESTS)
    _annotate_quietly(kube, kind, live, annotations)
    written = {key: value for key, value in dict(live.annotations or {}, **annotations).items() if value is not None}
    return dataclasses.replace(live, record=read_record(kind.written_on(live), written), annotations=written)


def _before_writing(kube: Kube, state: WorkloadHistory, request: RollbackRequest,
                    race: Race) -> gitops_owner.Guard:
    """What must hold before any write of a rollback, the template's or only the config's: its GitOps owner
    (docs/gitops.md) is refused, paused or warned about; a pause is remembered in `race` (a retry finds the owner
    paused, and must still say so if it stops)."""
    guard = gitops_owner.guard(kube, state.workload, state.display, request.gitops, request.argocd_namespace,
                               request.dry_run)
    if guard.resume is not None:
        race.paused = guard
    return guard


def _applied(kube: Kube, kind: WorkloadKind, state: WorkloadHistory, source: Optional[Revision], target: Revision,
             request: RollbackRequest, warnings: tuple, diff: str, confirmed: bool = False,
             pinned_from: Optional[Revision] = None) -> WorkloadRollback:
    """The template is back: book-keeping, the Event, and the result."""
    _book_keeping(kube, kind, state, source, target)
    emit_rolled_back(kube, kind, state.workload, source, target)
    message = _summary(state, source, target, pinned_from)
    if confirmed:
        message += " (the server applied it, but its answer was lost; confirmed from a fresh read)"
    return WorkloadRollback(state, source, target, True, request.dry_run, message, diff, warnings)


def _book_keeping(
    kube: Kube, kind: WorkloadKind, state: WorkloadHistory, source: Optional[Revision], target: Revision
) -> None:
    """After the template is back: a live revision that never finished (InProgress or unrecorded) is recorded
    Failed, and the target gets the audit annotations. The rollback itself has happened; a failure here is reported
    but does not undo it."""
    now = now_rfc3339()
    # The target's audit first: it is what makes a racing `record --status Failed` refuse to mark the restored
    # revision (commands/record.py), so the window between the template write and it is kept to one request.
    crossed = state.decision.crossed if state.decision else None  # --override-barrier: who crossed it, and why
    _annotate_quietly(kube, kind, target, {**audit_annotations(source, target, now),
                                           **marks.crossing_annotations(crossed, kube.whoami, now)})
    if source is not None:
        if source.record.status in (Status.IN_PROGRESS, Status.UNKNOWN) and state.identity is not None:
            record = source.record
            annotations = record_annotations(
                Status.FAILED,
                record.workflow_id or state.identity.workflow_id or "",
                record.mapping(state.namespace) if record.service_id else state.identity.mapping,
                now,
                kind.written_on(source),
                record.release_number,
                record.artifact,
            )
            # Only while nobody else has recorded an outcome for it since we read it: a racing `record` wins.
            _annotate_quietly(kube, kind, source, annotations,
                              still_wanted=functools.partial(_unfinished, kind.written_on(source)))


def audit_annotations(source: Optional[Revision], target: Revision, now: str) -> dict:
    """What a rollback writes on the revision it restored (docs/annotations.md)."""
    return {ROLLED_BACK_FROM: str(source.number) if source else "unknown", ROLLED_BACK_AT: now,
            ROLLED_BACK_ON: target.name}


def emit_rolled_back(kube: Kube, kind: WorkloadKind, workload: dict, source: Optional[Revision],
                     target: Revision) -> None:
    """The HarnessRollback Event of a rollback whose template write has happened."""
    events.emit(kube, kind.resource, workload, events.ROLLBACK_REASON,
                f"{rolled_back_message(source, target)} ({target.record.status.value}) {events.by(kube)}")


def rolled_back_message(source: Optional[Revision], target: Revision) -> str:
    """How the HarnessRollback Event of a rollback from `source` to `target` starts."""
    return f"rolled back from revision {source.number if source else 'unknown'} to revision {target.number}"


def _unfinished(on: str, annotations: dict) -> bool:
    return read_record(on, annotations).status in (Status.IN_PROGRESS, Status.UNKNOWN)


def _annotate_quietly(
    kube: Kube,
    kind: WorkloadKind,
    revision: Revision,
    annotations: dict,
    still_wanted: Optional[Callable[[dict], bool]] = None,
) -> None:
    try:
        annotate(kube, kind.revision_resource, revision, annotations, still_wanted)
    except RollbackError as exc:
        console.warn(f"rolled back, but could not annotate revision {revision.number}: {exc.message}")


def _same_template(kind: WorkloadKind, a: Revision, b: Revision) -> bool:
    return a.name == b.name or kind.comparable(a.template) == kind.comparable(b.template)


def _same_template_as_workload(kind: WorkloadKind, workload: dict, target: Revision) -> bool:
    return kind.comparable(kind.template_of(workload)) == kind.comparable(target.template)


def _template_diff(kind: WorkloadKind, workload: dict, target: Revision) -> str:
    import yaml

    def lines(template: Any) -> List[str]:
        return yaml.safe_dump(kind.comparable(template), sort_keys=True, default_flow_style=False).splitlines(True)

    return "".join(
        difflib.unified_diff(
            lines(kind.template_of(workload)),
            lines(target.template),
            fromfile=f"{kind.display(workload['metadata']['name'])} (live)",
            tofile=f"revision {target.number} (rollback target)",
        )
    )


def describe(revision: Optional[Revision]) -> str:
    if revision is None:
        return "the current template (no revision)"
    record = revision.record
    parts = [record.status.value]
    if record.workflow_id:
        parts.append(f"workflow {record.workflow_id}")
    parts.append(", ".join(revision.images) or "no images")
    return f"revision {revision.number} ({'; '.join(parts)})"


def _summary(state: WorkloadHistory, source: Optional[Revision], target: Revision,
             pinned_from: Optional[Revision] = None, dry: bool = False) -> str:
    """What the rollback did, or (`dry`) would do; with --pin-digests, a new pod template (`pinned_from`'s, pinned),
    which is revision `target.number` once the controller has made it (a dry run names no number: there is none
    yet)."""
    to = describe(target)
    if pinned_from is not None:
        to = f"a new pod template pinned from {describe(pinned_from)}"
        to += f": revision {target.number}" if target.number != pinned_from.number else ""
    return f"{state.display} {render.done('rolled back', dry)} from {describe(source)} to {to}"


def _already(state: WorkloadHistory, target: Revision, explicit: bool) -> str:
    message = f"{state.display} already runs the template of {describe(target)}: nothing to do"
    if target.live and not explicit:
        message += " (it is the last good revision; to go further back, record it Failed or pass --to-revision)"
    return message




# -- config snapshots (docs/config-rollback.md) --------------------------------------------------------------------


def _config_only(kube: Kube, kind: WorkloadKind, state: WorkloadHistory, target: Revision, request: RollbackRequest,
                 config: configsnap.ConfigPlan, warnings: tuple, owner: gitops_owner.Guard,
                 race: Race) -> WorkloadRollback:
    """The workload runs the target's template already and only its config differs from the snapshots: restore the
    config, then restart the pods as `kubectl rollout restart` does, so that they read it."""
    warnings += configsnap.apply(kube, config, request.dry_run)
    changes = config.changes if config.writes else race.restored_config or ()
    if request.dry_run is DryRun.NONE:
        race.restored_config = changes
    configsnap.restart(kube, kind, state.workload, request.dry_run)
    done = "would be" if request.dry_run is not DryRun.NONE else "was"
    message = (f"{state.display} runs the template of {describe(target)}; its config {done} restored from the "
               "revision's snapshots and its pods restarted")
    if request.dry_run is DryRun.NONE:
        events.emit(kube, kind.resource, state.workload, events.ROLLBACK_REASON,
                    f"restored the config of revision {target.number} and restarted the pods {events.by(kube)}")
    return WorkloadRollback(state, target, target, request.dry_run is DryRun.NONE, request.dry_run, message,
                  warnings=warnings, config=changes, gitops=owner, would_change=request.dry_run is not DryRun.NONE)
