"""Harness's own release history (`--harness-release R`), found as Harness finds it and rolled back as Harness's
rollback would, followed by Harness's own book-keeping on its objects (nothing else of them is written).

Lookup (harness-behaviour.md §2, re-checked): the declarative release Secrets `harness.release.R.<n>` when any exist
(and one Succeeded: else Harness falls back to the legacy history); else Secret R; else ConfigMap R. The source used
is named with why, and any other source present is reported as stale.

Rollback, by what the history holds:
- Blue/Green releases (`bgEnvironment`): the primary/stage Service selector swap of commands/bluegreen.py, towards the
  colour of the target release's workload;
- declarative releases: every stored manifest of the target release re-applied (harness_declarative);
- legacy releases: each native workload undone to the revision the target recorded, and its custom workloads
  re-applied from their stored specs.
Then, but for Blue/Green, the book-keeping (§4.2 step 8, §4.3 step 9'): the current release marked Failed, and the
target's revisions renumbered as `rollout undo` renumbered them, so that Harness's next rollback finds them.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kubectl_rollback import bluegreen, console, preflight, render
from kubectl_rollback.commands import bluegreen as bluegreen_command
from kubectl_rollback.commands import gitops as gitops_owner
from kubectl_rollback.commands import harness_declarative, release, wait
from kubectl_rollback.commands import preflight as preflight_check
from kubectl_rollback.commands.target import Target
from kubectl_rollback.decide import Outcome
from kubectl_rollback.errors import (
    ConflictError,
    ExitCode,
    ForbiddenError,
    Interrupted,
    NoTargetError,
    NotFoundError,
    PreflightBlockedError,
    RollbackError,
    UsageError,
)
from kubectl_rollback.harness_history import (
    FAILED,
    HISTORY_KEY,
    LEGACY,
    RELEASE_SECRET_TYPE,
    STATUS_LABEL,
    HarnessPlan,
    ManagedWorkload,
    Origin,
    Release,
    ReleaseHistory,
    WorkloadKey,
    edit_history,
    falls_back,
    parse_declarative,
    parse_history,
    plan_rollback,
    with_fallback,
    workload_key,
)
from kubectl_rollback.kube import CONFIGMAPS, DEPLOYMENTS, SECRETS, SERVICES, Kube
from kubectl_rollback.options import (
    DEFAULT_ARGOCD_NAMESPACE,
    DryRun,
    GitOpsMode,
    HistoryRequest,
    IdentityFlags,
    RollbackRequest,
)
from kubectl_rollback.output import Paragraph, Progress
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.workloads import BY_ALIAS

# The longest label value: a longer release name cannot be on a release Secret's `release` label.
MAX_LABEL_VALUE = 63
# Reads and writes of one Harness object before its book-keeping gives up on a history that keeps changing.
HISTORY_WRITE_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class HarnessHistory(Printed):
    name: str
    namespace: str
    history: ReleaseHistory  # its warnings include the lookup's (stale sources, sources that could not be read)
    plan: Optional[HarnessPlan]
    problem: Optional[RollbackError]

    def table(self, wide: bool) -> str:
        return render.harness_table(self)

    def data(self) -> Any:
        return render.harness_dict(self)


@dataclasses.dataclass(frozen=True)
class HistoryWrite(Printed):
    """Harness's book-keeping on one of its objects after the rollback: what was (or would be) written."""

    display: str  # e.g. configmap/release-3f2a
    message: str
    failed: bool = False
    changes: bool = False  # the object was written (in a dry run: the run will write it)

    def table(self, wide: bool) -> str:
        return f"{self.display}: {'failed' if self.failed else 'history'}: {self.message}"

    def data(self) -> Any:
        return {"object": self.display, "message": self.message, "failed": self.failed, "changes": self.changes}


@dataclasses.dataclass(frozen=True)
class HarnessRollback(release.ReleaseRollback):
    """A rollback of a Harness release: the plan, each object's diff (dry runs), each object's outcome, and Harness's
    book-keeping on its own history."""

    diffs: Tuple[harness_declarative.ObjectDiff, ...] = ()
    history_writes: Tuple[HistoryWrite, ...] = ()
    preflight: preflight.Report = preflight.Report()  # the stored objects' checks, before the first write

    @property
    def exit_code(self) -> ExitCode:
        # Book-keeping that failed leaves Harness's history naming revisions that are gone: an error to act on.
        return ExitCode.ERROR if any(w.failed for w in self.history_writes) else super().exit_code

    def data(self) -> Any:
        return dict(super().data(), diffs=[d.data() for d in self.diffs],
                    history=[w.data() for w in self.history_writes], preflight=self.preflight.data())


@dataclasses.dataclass(frozen=True)
class HarnessTarget(Target):
    """--harness-release R: Harness's own release history, rolled back as Harness's rollback would."""

    name: str

    takes_release_number = True

    def history(self, kube: Kube, request: HistoryRequest) -> HarnessHistory:
        return load(kube, self.name)

    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> HarnessRollback:
        kube = kube.bound_to(request.dry_run)
        loaded = load(kube, self.name, request.release_number, request.force,
                      refuse_unlisted=not request.trust_legacy_history)
        on_progress(Paragraph(loaded))
        return roll_back(kube, loaded, request, on_progress)


def load(kube: Kube, name: str, release_number: Optional[int] = None, force: bool = False,
         refuse_unlisted: bool = False) -> HarnessHistory:
    """The history Harness would read for release NAME, its lookup warnings, and the rollback plan over it. With
    `refuse_unlisted` (a rollback), declarative release Secrets that may not be listed refuse it (see find)."""
    parsed = find(kube, name, refuse_unlisted)
    for warning in parsed.warnings:
        console.warn(f"{parsed.source}: {warning}")
    plan = problem = None
    try:
        plan = plan_rollback(parsed, release_number, force)
    except NoTargetError as exc:
        problem = exc
    return HarnessHistory(name, kube.namespace, parsed, plan, problem)


def find(kube: Kube, name: str, refuse_unlisted: bool = False) -> ReleaseHistory:
    """Harness's order: release Secrets (label owner=harness,release=NAME, type harness.io/release/v2), Secret NAME,
    ConfigMap NAME. What could not be read for lack of rights is a warning when another source answers, and the
    error when none does. Release Secrets that may not be listed are never taken for none: the legacy history is
    then said to be read without looking for them, and with `refuse_unlisted` (a rollback without
    --trust-legacy-history) that is refused, nothing changed: a newer declarative release would be rolled back to
    a stale legacy one."""
    notes: List[str] = []
    secrets: List[dict] = []
    unlisted = False
    if len(name) <= MAX_LABEL_VALUE:
        try:
            secrets = kube.list(SECRETS, label_selector=f"owner=harness,release={name}",
                                field_selector=f"type={RELEASE_SECRET_TYPE}")
        except ForbiddenError as exc:
            unlisted = True
            notes.append(f"declarative release Secrets not looked for: {exc.message}")
    legacy: dict = {}
    denied: dict = {}
    for resource in (SECRETS, CONFIGMAPS):
        try:
            legacy[resource.kind] = kube.get(resource, name)
        except NotFoundError:
            pass
        except ForbiddenError as exc:
            denied[resource.kind] = exc
    # Of Secret R and ConfigMap R, Harness reads the Secret first; the other one is stale.
    legacy_kind = "Secret" if "Secret" in legacy else "ConfigMap"
    beside = [_stale(other, name, obj, f'left beside Secret "{name}", which Harness reads first')
              for other, obj in legacy.items() if other != legacy_kind]
    if secrets:
        history = parse_declarative(name, secrets)
        if legacy and falls_back(history):
            history = dataclasses.replace(
                with_fallback(history, _parse_legacy(legacy_kind, name, legacy[legacy_kind])),
                why=f"no declarative release Secret Succeeded, so Harness falls back to {legacy_kind} \"{name}\" "
                    "(its legacy history) and marks the newest declarative release Failed")
            stale = beside
        else:
            history = dataclasses.replace(history, why="Harness reads declarative release Secrets first")
            stale = [_stale(kind, name, obj, "from before the switch to declarative rollback")
                     for kind, obj in legacy.items()]
    elif legacy:
        if unlisted and refuse_unlisted:
            raise RollbackError(
                f"refusing to roll back --harness-release {name}: may not list Secrets in namespace "
                f"\"{kube.namespace}\" (RBAC), so newer declarative release Secrets harness.release.{name}.<n> "
                "could not be looked for and the legacy history may be stale; nothing was changed; ask for list "
                "on secrets (harness-rollback-harness-history in docs/rbac.yaml), or, if release "
                f"{name} never switched to declarative rollback, pass --trust-legacy-history"
            )
        history = dataclasses.replace(
            _parse_legacy(legacy_kind, name, legacy[legacy_kind]),
            why=("declarative release Secrets not looked for (may not list Secrets: RBAC)" if unlisted
                 else "no declarative release Secrets")
            + (f', and Harness reads Secret "{name}" before ConfigMap "{name}"' if legacy_kind == "Secret" else ""))
        stale = beside
    elif denied:
        raise denied.get("ConfigMap") or denied["Secret"]
    else:
        raise NotFoundError(
            f'no release Secrets labelled owner=harness,release={name}, and no ConfigMap or Secret named "{name}" in '
            f'namespace "{kube.namespace}": that is where Harness keeps the history of release {name}; check '
            "--harness-release and -n",
            status=404,
        )
    notes += [f'{kind} "{name}" not read: {exc.message}' for kind, exc in denied.items()]
    return dataclasses.replace(history, warnings=tuple(stale) + tuple(notes) + history.warnings)


def _parse_legacy(kind: str, name: str, obj: dict) -> ReleaseHistory:
    return parse_history(kind, name, obj.get("data"), kind == "Secret")


def _stale(kind: str, name: str, obj: dict, why: str) -> str:
    """The warning for a legacy object Harness no longer reads, with the releases it holds when they can be read."""
    try:
        held = _parse_legacy(kind, name, obj).numbers()
    except RollbackError:
        held = "an unreadable history"
    return f'{kind} "{name}" holds {held} {why}; ignored'


# -- rollback ----------------------------------------------------------------------------------------------------


def roll_back(kube: Kube, loaded: HarnessHistory, request: RollbackRequest, on_progress: Progress) -> HarnessRollback:
    if loaded.problem is not None:
        raise loaded.problem
    assert loaded.plan is not None  # load() sets a problem whenever it has no plan
    target = loaded.plan.target
    diffs: List[harness_declarative.ObjectDiff] = []
    written: List[str] = []  # what was rolled back, for a Ctrl-C
    checked, blocked = _preflight(kube, loaded, request)
    if loaded.history.is_blue_green:
        outcomes = [_swap_colours(kube, loaded, request)]
    elif blocked:
        outcomes = _blocked(kube, loaded, blocked)
    else:
        # Before any write: the GitOps owner of every object to re-apply refused, paused or warned about (a refusal
        # raises, nothing changed), as every other rollback does; a legacy workload's undo guards itself.
        guards = _guard_owners(kube, target.specs, request)
        outcomes = []
        applied: List[release.WorkloadOutcome] = []
        try:
            for workload in target.native_workloads if loaded.history.kind == LEGACY else ():
                outcomes.append(_roll_back_workload(kube, workload, request, target.number))
                written += [outcomes[-1].display] if outcomes[-1].written else []
            # A declarative release is re-applied whole; a legacy one's custom workloads from their stored specs.
            diffs = harness_declarative.reapply(kube, target.specs, request.dry_run, applied)
            applied = [dataclasses.replace(outcome, guard=guard) for outcome, guard in zip(applied, guards)]
            if request.dry_run is DryRun.NONE:
                written += [o.display for o in applied if o.outcome is Outcome.ROLLED_BACK]
            for diff in diffs:
                on_progress(diff)
            if request.wait and request.dry_run is DryRun.NONE:
                applied = [_follow(kube, spec, outcome, request.timeout)
                           for spec, outcome in zip(target.specs, applied)]
        except (KeyboardInterrupt, Interrupted) as exc:
            if request.dry_run is DryRun.NONE:  # re-applied before the Ctrl-C in the middle of the re-apply
                written += [o.display for o in applied if o.outcome is Outcome.ROLLED_BACK and o.display not in written]
            raise _interrupted(kube, loaded, request, written, exc, outcomes + applied, checked) from None
        outcomes += applied
    outcomes = [dataclasses.replace(outcome, dry_run=request.dry_run) for outcome in outcomes]
    for outcome in outcomes:
        on_progress(outcome)
    # Harness's Blue/Green rollback only swaps selectors back: no revision changes, and its history is not written.
    try:
        writes = () if loaded.history.is_blue_green else tuple(_book_keep(kube, loaded.plan, outcomes,
                                                                          request.dry_run))
    except KeyboardInterrupt as exc:  # the workloads are rolled back; Harness's history may be partly written
        raise _interrupted(kube, loaded, request, written, exc, outcomes, checked, tuple(diffs)) from None
    for write in writes:
        on_progress(write)
    return HarnessRollback(loaded, outcomes, request.dry_run, tuple(diffs), writes, checked)


def _preflight(kube: Kube, loaded: HarnessHistory, request: RollbackRequest) -> Tuple[preflight.Report, Dict[str, str]]:
    """The stored objects' pre-flight (harness_declarative.check), before any write, the GitOps guard's included:
    every finding, and the line of each object it blocked. A legacy release's native workloads are checked by
    their own rollback, a Blue/Green swap by bluegreen.route."""
    assert loaded.plan is not None
    specs = loaded.plan.target.specs
    if not specs or loaded.history.is_blue_green:
        return preflight.Report(), {}
    if request.skip_preflight:
        console.warn(f"--harness-release {loaded.name}: --skip-preflight: the stored objects are re-applied without "
                     "checking that they can run")
        return preflight.Report(skipped=True), {}
    checks = harness_declarative.check(kube, specs)
    blocked = {shown: preflight_check.blocked_line(shown, report) for shown, report in checks if report.blocked}
    return preflight.Report(tuple(f for _, report in checks for f in report.findings)), blocked


def _blocked(kube: Kube, loaded: HarnessHistory, blocked: Dict[str, str]) -> List[release.WorkloadOutcome]:
    """A release the pre-flight blocked: nothing of it is written, as Harness re-applies a release whole; each
    object (and a legacy release's native workload) is an outcome `blocked`, with what blocked it."""
    assert loaded.plan is not None
    others = (f"not written: the pre-flight blocked {', '.join(blocked)} of release {loaded.plan.target.number}, "
              "which is rolled back whole; --skip-preflight rolls back anyway")
    return [release.WorkloadOutcome(shown, Outcome.BLOCKED, blocked.get(shown, others))
            for shown in _planned(kube, loaded)]


def _planned(kube: Kube, loaded: HarnessHistory) -> List[str]:
    """What the rollback of the target release writes, in its order: a legacy release's native workloads, then the
    stored objects it re-applies."""
    assert loaded.plan is not None
    target = loaded.plan.target
    natives = [_workload_display(kube, w) for w in target.native_workloads] if loaded.history.kind == LEGACY else []
    return natives + [harness_declarative.display(spec, kube.namespace) for spec in target.specs]


def _interrupted(kube: Kube, loaded: HarnessHistory, request: RollbackRequest, written: List[str],
                 exc: BaseException, done: Sequence[release.WorkloadOutcome], checked: preflight.Report,
                 diffs: Tuple[harness_declarative.ObjectDiff, ...] = ()) -> Interrupted:
    """Ctrl-C in a --harness-release rollback (in a wait): what was rolled back, and that Harness's book-keeping was
    not written, with the command that writes it (the same rollback again finds the objects rolled back, changes
    nothing else and writes only the book-keeping). Its document holds each object's outcome so far (`done`)."""
    said = [f"already rolled back: {', '.join(written) or 'none'}"]
    if isinstance(exc, Interrupted):
        said.append(exc.message.removeprefix("interrupted: "))
    again = f"kubectl harness-rollback rollback --harness-release {loaded.name}"
    again += f" --release-number {request.release_number}" if request.release_number is not None else ""
    again += " --force" if request.force else ""
    again += " --trust-legacy-history" if request.trust_legacy_history else ""
    again += f" --gitops={request.gitops.value}" if request.gitops is not GitOpsMode.FAIL else ""
    again += (f" --argocd-namespace {shlex.quote(request.argocd_namespace)}"
              if request.argocd_namespace != DEFAULT_ARGOCD_NAMESPACE else "")
    said.append("Harness's book-keeping (the current release marked Failed, the target's new revisions) was not "
                f"written, or not all of it: to write it, run the same rollback again: {again} "
                f"{kube.command_flags()}")
    stopped = Interrupted("interrupted; " + "; ".join(said))
    outcomes = release.stopped_outcomes(done, _planned(kube, loaded), exc, request.dry_run)
    stopped.result = HarnessRollback(loaded, outcomes, request.dry_run, diffs, preflight=checked)
    return stopped


def _guard_owners(kube: Kube, specs: Tuple[dict, ...], request: RollbackRequest) -> List[gitops_owner.Guard]:
    """The guard (commands/gitops.py) of each stored object's Argo CD or Flux owner, read from its live object (the
    stored manifest where there is none), all before the first write: with --gitops=fail an owner that would undo
    the re-apply refuses the whole rollback. Its warnings go to stderr, as a workload's rollback prints them."""
    guards = []
    for spec, obj in zip(specs, harness_declarative.current_objects(kube, specs)):
        shown = harness_declarative.display(spec, kube.namespace)
        guard = gitops_owner.guard(kube, obj, shown, request.gitops, request.argocd_namespace, request.dry_run)
        for warning in guard.warnings:
            console.warn(f"{shown}: {warning}")
        guards.append(guard)
    return guards


# -- Harness's book-keeping --------------------------------------------------------------------------------------


def _book_keep(kube: Kube, plan: HarnessPlan, outcomes: List[release.WorkloadOutcome],
               dry_run: DryRun) -> List[HistoryWrite]:
    """What Harness writes once its rollback succeeded (§4.2 step 8, §4.3 step 9'), so that its own next rollback
    works: the current release marked Failed, and the target's workloads' new revision numbers (`rollout undo`
    renumbers the revision it restores, and the old number no longer exists). Each object is written with a
    resourceVersion precondition, only the fields named; nothing when a rollback above failed, as Harness saves
    nothing when its rollback fails."""
    # Each object Harness keeps these releases in: (the release to mark Failed, the release whose revisions to store).
    objects: Dict[Origin, List[Optional[int]]] = {}
    if plan.current.origin is not None:
        objects[plan.current.origin] = [plan.current.number, None]
    if plan.target.native_workloads and plan.target.origin is not None and not plan.target.origin.declarative:
        objects.setdefault(plan.target.origin, [None, None])[1] = plan.target.number
    if any(o.outcome not in (Outcome.ROLLED_BACK, Outcome.NOTHING_TO_DO) for o in outcomes):
        return [HistoryWrite(_display(origin), "not updated: not every workload was rolled back")
                for origin in objects]
    if dry_run is not DryRun.NONE:
        return [_intent(origin, failed, target, plan.current.status) for origin, (failed, target) in objects.items()]
    try:
        storing = any(target is not None for _, target in objects.values())
        revisions = {workload_key(w): _live_revision(kube, w) for w in plan.target.native_workloads if storing}
    except RollbackError as exc:
        return [HistoryWrite(_display(origin), f"not updated: {exc.message}", failed=True) for origin in objects]
    return [_write_history(kube, origin, failed, target, revisions) for origin, (failed, target) in objects.items()]


def _display(origin: Origin) -> str:
    return f"{origin.kind.lower()}/{origin.name}"


def _intent(origin: Origin, failed: Optional[int], target: Optional[int], current_status: str) -> HistoryWrite:
    """A dry run's book-keeping: what the run will write, and nothing where the run writes nothing (the current
    release marked Failed already, and no revisions to store)."""
    parts = [f"release {failed} would be marked Failed"] if failed is not None and current_status != FAILED else []
    if target is not None:
        parts.append(f"release {target} would get the revisions the rollback gives its workloads")
    if not parts:
        return HistoryWrite(_display(origin), f"release {failed} is marked Failed already")
    return HistoryWrite(_display(origin), "; ".join(parts) + " (Harness's book-keeping)", changes=True)


def _live_revision(kube: Kube, workload: ManagedWorkload) -> int:
    """The workload's live revision number once its controller has seen the rollback (it renumbers then)."""
    kind = BY_ALIAS[workload.kind.lower()]  # rolled back above, so a kind this plugin knows
    workload_kube = kube.in_namespace(workload.namespace) if workload.namespace else kube
    live = wait.wait_observed(workload_kube, kind, kind.get(workload_kube, workload.name))
    number = next((r.number for r in kind.revisions(workload_kube, live) if r.live), None)
    if number is None:
        raise RollbackError(f"{kind.display(workload.name)} has no live revision to record")
    return number


def _write_history(kube: Kube, origin: Origin, failed: Optional[int], target: Optional[int],
                   revisions: Dict[WorkloadKey, int]) -> HistoryWrite:
    """One object's book-keeping, read fresh and written with its resourceVersion; read again after a conflict."""
    resource = SECRETS if origin.kind == "Secret" else CONFIGMAPS
    for _ in range(HISTORY_WRITE_ATTEMPTS):
        try:
            obj = kube.get(resource, origin.name)
            if origin.declarative:
                labels = obj["metadata"].get("labels") or {}
                if labels.get(STATUS_LABEL) == FAILED:
                    return HistoryWrite(_display(origin), f"release {failed} is marked Failed already")
                body: dict = {"metadata": {"labels": {STATUS_LABEL: FAILED}}}
                message = f"release {failed} status {labels.get(STATUS_LABEL)} -> {FAILED} (label {STATUS_LABEL})"
            else:
                edit = edit_history(origin.kind, origin.name, obj.get("data"), origin.kind == "Secret", failed,
                                    target, revisions)
                for skipped in edit.skipped:
                    console.warn(f"{_display(origin)}: {skipped}")
                if edit.value is None:
                    return HistoryWrite(_display(origin), "up to date")
                body = {"metadata": {}, "data": {HISTORY_KEY: edit.value}}
                message = "; ".join(edit.changes)
            body["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
            kube.patch(resource, origin.name, body)
            return HistoryWrite(_display(origin), message, changes=True)
        except ConflictError:
            continue  # Harness (or another rollback) wrote it since we read it: read it again
        except RollbackError as exc:
            return HistoryWrite(_display(origin), f"not updated: {exc.message} (then run the same rollback again: "
                                "it finds the workloads rolled back and writes only this)", failed=True)
    return HistoryWrite(_display(origin), f"not updated: it changed {HISTORY_WRITE_ATTEMPTS} times while we wrote it",
                        failed=True)


def _follow(kube: Kube, spec: dict, outcome: release.WorkloadOutcome, timeout: float) -> release.WorkloadOutcome:
    """With --wait: a re-applied native workload's rollout followed to its end, as `rollback --wait` does."""
    kind = BY_ALIAS.get(spec["kind"].lower())
    if kind is None or outcome.outcome is not Outcome.ROLLED_BACK:
        return outcome
    name = spec["metadata"]["name"]
    workload_kube = kube.in_namespace(spec["metadata"].get("namespace") or kube.namespace)
    try:
        workload = wait.wait_observed(workload_kube, kind, kind.get(workload_kube, name))
        live = next(r for r in kind.revisions(workload_kube, workload) if r.live)
        wait.wait_for_rollout(workload_kube, kind, name, live.name, timeout)
    except (RollbackError, StopIteration) as exc:
        reason = exc.message if isinstance(exc, RollbackError) else "no live revision after the apply"
        return release.WorkloadOutcome(outcome.display, Outcome.FAILED,
                                       f"{outcome.message}, but the rollout did not complete: {reason}")
    return dataclasses.replace(outcome, message=f"{outcome.message}; rolled out")


def _roll_back_workload(
    kube: Kube, workload: ManagedWorkload, request: RollbackRequest, number: int
) -> release.WorkloadOutcome:
    display = _workload_display(kube, workload)
    kind = BY_ALIAS.get(workload.kind.lower())
    if kind is None:
        return release.WorkloadOutcome(
            display, Outcome.FAILED, f"{workload.kind} is not a kind this plugin rolls back"
        )
    if workload.revision is None:
        return release.WorkloadOutcome(
            display, Outcome.NO_TARGET, f"release {number} recorded no revision for {display}"
        )
    target_kube = kube.in_namespace(workload.namespace) if workload.namespace else kube
    explicit = dataclasses.replace(request, flags=IdentityFlags(), to_revision=workload.revision, force=True)
    return dataclasses.replace(release.roll_back_one(target_kube, kind, workload.name, explicit), display=display)


def _workload_display(kube: Kube, workload: ManagedWorkload) -> str:
    display = f"{workload.kind.lower()}/{workload.name}"
    if workload.namespace and workload.namespace != kube.namespace:  # a workload of the release in another namespace
        display = f"{workload.namespace}/{display}"
    return display


# -- Blue/Green ----------------------------------------------------------------------------------------------------


def _swap_colours(kube: Kube, loaded: HarnessHistory, request: RollbackRequest) -> release.WorkloadOutcome:
    """Harness's Blue/Green rollback: the primary Service back to the colour of the target release's workload, by the
    same selector swap as `rollback service/NAME`. Already there (the forward swap never ran): nothing to do."""
    assert loaded.plan is not None
    workload = _blue_green_workload(loaded.plan.target)
    target_kube = kube.in_namespace(workload.namespace) if workload.namespace else kube
    try:
        result = bluegreen_command.route(
            target_kube, lambda: _blue_green_state(target_kube, workload), request,
            f"cannot route traffic back to deployment/{workload.name}",
        )
    except NoTargetError as exc:
        return release.WorkloadOutcome(f"deployment/{workload.name}", Outcome.NO_TARGET, exc.message)
    except PreflightBlockedError as exc:
        return release.WorkloadOutcome(f"deployment/{workload.name}", Outcome.BLOCKED, exc.message)
    except RollbackError as exc:
        return release.WorkloadOutcome(f"deployment/{workload.name}", Outcome.FAILED, exc.message)
    acted = result.changed or (request.dry_run is not DryRun.NONE and result.state.target_color is not None)
    return release.WorkloadOutcome(f"service/{result.state.name}", Outcome.ROLLED_BACK if acted
                                   else Outcome.NOTHING_TO_DO, result.message)


def _blue_green_workload(target: Release) -> ManagedWorkload:
    workloads = [w for w in target.native_workloads if w.kind == "Deployment"]
    if len(workloads) != 1:
        raise NoTargetError(f"Blue/Green release {target.number} has {len(workloads)} Deployments; Harness's "
                            "Blue/Green keeps exactly one")
    return workloads[0]


def _blue_green_state(kube: Kube, workload: ManagedWorkload) -> bluegreen_command.BlueGreenHistory:
    """The primary Service serving the target workload's colour, with that colour as the target."""
    services, deployments = kube.list(SERVICES), kube.list(DEPLOYMENTS)
    layouts = []
    for service in services:
        try:
            layout = bluegreen.find_layout(service, services, deployments)
        except (UsageError, RollbackError):
            continue  # not the primary Service of a Blue/Green pair
        if any(d["metadata"]["name"] == workload.name for d in layout.deployments.values()):
            layouts.append(layout)
    if len(layouts) != 1:
        names = ", ".join(sorted(f"service/{layout.primary['metadata']['name']}" for layout in layouts))
        raise NoTargetError(f"deployment/{workload.name} is served by {len(layouts)} Blue/Green primary Services "
                            f"in namespace {kube.namespace} ({names or 'none'}); expected exactly one")
    layout = layouts[0]
    color = next(c for c, d in layout.deployments.items() if d["metadata"]["name"] == workload.name)
    return bluegreen_command.BlueGreenHistory(layout, kube.namespace, {}, None,
                                              None if color == layout.live_color else color, None)

