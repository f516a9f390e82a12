"""Many workloads at once: every workload in the namespace (`history --all`), or every workload of a release
(`--release-name R`: pod template label harness.io/release-name=R). Each goes to its own last successful revision;
one failing does not stop the others."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any, Dict, Iterable, List, Optional, Sequence

from kubectl_rollback import console, render
from kubectl_rollback.commands import gitops as gitops_owner
from kubectl_rollback.commands import rollback, workload_history
from kubectl_rollback.commands.target import Target
from kubectl_rollback.decide import Outcome, exit_code_for
from kubectl_rollback.errors import (
    ExitCode,
    Interrupted,
    NoTargetError,
    PreflightBlockedError,
    ReportedError,
    RollbackError,
)
from kubectl_rollback.kube import Kube, Resource
from kubectl_rollback.options import DryRun, HistoryRequest, IdentityFlags, RollbackRequest
from kubectl_rollback.output import Paragraph, Printable, Progress
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.workloads import readable
from kubectl_rollback.workloads.base import WorkloadKind, controller_uid

RELEASE_LABEL = "harness.io/release-name"


@dataclasses.dataclass(frozen=True)
class Workloads(Printed):
    """The histories of every workload (of a release), in name order per kind."""

    namespace: str
    release: Optional[str]  # None: every workload in the namespace
    histories: List[workload_history.WorkloadHistory]

    def table(self, wide: bool) -> str:
        return render.workloads_table(self.histories, self.namespace, self.release)

    def data(self) -> Any:
        return render.workloads_dict(self.histories, self.namespace, self.release)


@dataclasses.dataclass(frozen=True)
class WorkloadOutcome(Printed):
    display: str
    outcome: Outcome
    message: str
    result: Optional[rollback.WorkloadRollback] = None
    dry_run: DryRun = DryRun.NONE  # in a dry run, `outcome` is what the real run will do
    written: bool = False  # the workload was changed, even if what followed failed (the rollout after it)
    guard: Optional[gitops_owner.Guard] = None  # an object re-applied without `result`: its GitOps owner's guard

    def table(self, wide: bool) -> str:
        return render.outcome_line(self)

    @property
    def gitops(self) -> Optional[gitops_owner.Guard]:
        """What was done about the object's GitOps owner: its rollback's, or the guard of a re-applied object."""
        return self.result.gitops if self.result else self.guard

    def notes(self) -> Sequence[str]:
        """The GitOps owner's reminder (revert in Git, resume), as `rollback KIND/NAME` gives it."""
        return self.gitops.notes if self.gitops else ()

    def data(self) -> Any:
        return render.outcome_dict(self)


@dataclasses.dataclass(frozen=True)
class ReleaseRollback(Printed):
    """A rollback of many workloads: the plan shown before acting, and each workload's outcome in plan order."""

    plan: Printable
    outcomes: List[WorkloadOutcome]
    dry_run: DryRun = DryRun.NONE

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(o.outcome for o in self.outcomes)

    def table(self, wide: bool) -> str:
        return render.summary_line(self.outcomes, self.dry_run)

    def data(self) -> Any:
        return {
            "dryRun": self.dry_run.value,
            "plan": self.plan.data(),
            "results": [o.data() for o in self.outcomes],
            "summary": render.outcome_counts(self.outcomes),
        }

    def failure(self) -> Optional[RollbackError]:
        """Each failure has been reported on its workload's line: only the exit code remains (1 or 3)."""
        return ReportedError(self.exit_code) if self.exit_code != ExitCode.OK else None


@dataclasses.dataclass(frozen=True)
class ReleaseTarget(Target):
    """--release-name R (every workload whose pod template is labelled harness.io/release-name=R), or --all."""

    release: Optional[str]

    def history(self, kube: Kube, request: HistoryRequest) -> Workloads:
        return load(kube, request.flags, self.release)

    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> ReleaseRollback:
        kube = kube.bound_to(request.dry_run)
        plan = load(kube, request.flags, self.release)
        if not plan.histories:
            # exit 1, as --harness-release's missing release and a missing workload are: nothing to roll back from
            raise RollbackError(f"no workload in namespace {kube.namespace} carries {RELEASE_LABEL}="
                                f"{self.release} on its pod template")
        on_progress(Paragraph(plan))
        return roll_back(kube, plan, request, on_progress)


def load(kube: Kube, flags: IdentityFlags, release: Optional[str] = None) -> Workloads:
    """The history of every workload (of the release), with one paginated list per resource type, not one request
    per workload: the revision objects of the whole namespace are grouped by their controller in memory."""
    histories = []
    revision_objects: Dict[Resource, Dict[str, List[dict]]] = {}
    readable_kinds, forbidden = readable(kube)
    for kind, listed in readable_kinds:
        workloads = [w for w in listed if release is None or _release_of(kind, w) == release]
        if not workloads:
            continue
        resource = kind.revision_resource
        if resource not in revision_objects:  # StatefulSets and DaemonSets share ControllerRevisions
            revision_objects[resource] = _group_by_controller(kube.iter_list(resource))
        for workload in sorted(workloads, key=lambda w: w["metadata"]["name"]):
            owned = revision_objects[resource].get(workload["metadata"]["uid"], [])
            revisions = kind.revisions_from(workload, owned)
            histories.append(workload_history.from_revisions(kube, kind, workload, revisions, flags))
    if forbidden and not readable_kinds:
        raise forbidden[0]
    for denied in forbidden:  # least privilege: a team allowed only some kinds still gets those
        console.warn(f"skipped: {denied.message}")
    return Workloads(kube.namespace, release, histories)


def roll_back(kube: Kube, plan: Workloads, request: RollbackRequest, on_progress: Progress) -> ReleaseRollback:
    """Roll back each planned workload in turn, each from a fresh read; report every outcome as it comes."""
    outcomes: List[WorkloadOutcome] = []
    planned_names = {(h.kind.name, h.name) for h in plan.histories}
    todo = [h for h in plan.histories
            if request.keep_canary or (h.kind.name, h.kind.canary_of(h.workload)) not in planned_names]
    # (a canary is deleted with the rollback of the workload it is the canary of, and named under its line)
    try:
        for planned in todo:
            outcome = roll_back_one(kube, planned.kind, planned.name, request)
            on_progress(outcome)
            outcomes.append(outcome)
    except (KeyboardInterrupt, Interrupted) as exc:
        untouched = [h.display for h in todo[len(outcomes) + 1:]]
        finish = " ".join(part for part in ("kubectl harness-rollback rollback", _selection(plan.release),
                                            kube.command_flags(), request.command_flags()) if part)
        stopped = interrupted(outcomes, exc, untouched, finish, request.dry_run is not DryRun.NONE)
        stopped.result = ReleaseRollback(plan, stopped_outcomes(outcomes, [h.display for h in todo], exc,
                                                                request.dry_run), request.dry_run)
        raise stopped from None
    return ReleaseRollback(plan, outcomes, request.dry_run)


def stopped_outcomes(done: Sequence[WorkloadOutcome], planned: Sequence[str], exc: BaseException,
                     dry_run: DryRun) -> List[WorkloadOutcome]:
    """For the document of a rollback of many that Ctrl-C stopped: the outcomes done, then the planned workload it
    stopped (rolled back, if its rollback had written, else interrupted, with what its own interruption said), then
    the others, not started."""
    outcomes = [dataclasses.replace(o, dry_run=dry_run) for o in done]
    reached = {o.display for o in done}
    rest = [shown for shown in planned if shown not in reached]
    if rest:
        result = exc.result if isinstance(exc, Interrupted) else None
        if isinstance(result, rollback.WorkloadRollback) and result.changed:
            outcomes.append(WorkloadOutcome(rest[0], Outcome.ROLLED_BACK, result.message, result, dry_run, True))
        else:
            said = exc.message if isinstance(exc, Interrupted) else "interrupted"
            outcomes.append(WorkloadOutcome(rest[0], Outcome.INTERRUPTED, said, dry_run=dry_run))
    outcomes += [WorkloadOutcome(shown, Outcome.NOT_STARTED, "not rolled back: stopped before it", dry_run=dry_run)
                 for shown in rest[1:]]
    return outcomes


def _selection(release: Optional[str]) -> str:
    return f"--release-name {shlex.quote(release)}" if release is not None else "--all"


def interrupted(outcomes: Sequence[WorkloadOutcome], exc: BaseException, untouched: Sequence[str] = (),
                finish: str = "", dry: bool = False) -> Interrupted:
    """Ctrl-C in a rollback of many: which workloads were already written, whatever was printed (-o json prints
    nothing before the end), what the one interrupted in its wait says about itself, and which were not rolled back
    yet, with the command that does the rest (it finds the ones done and leaves them); in a dry run (`dry`), which
    were not looked at yet, with the dry run that shows what would be done to them."""
    written = [o.display for o in outcomes if o.written]
    said = []
    if written or not isinstance(exc, Interrupted):  # an interrupted wait names its own workload, rolled back
        said.append(f"already rolled back: {', '.join(written) or 'none'}")
    if isinstance(exc, Interrupted):
        said.append(exc.message.removeprefix("interrupted: "))
    if untouched and dry:
        them = "it" if len(untouched) == 1 else "them"
        said.append(f"not looked at yet (dry run): {', '.join(untouched)}; to see what the rollback would do to "
                    f"{them}, run: {finish}")
    elif untouched:
        said.append(f"not rolled back yet: {', '.join(untouched)}; to roll them back, run: {finish}")
    return Interrupted("interrupted; " + "; ".join(said))


def roll_back_one(kube: Kube, kind: WorkloadKind, name: str, request: RollbackRequest) -> WorkloadOutcome:
    """One workload's rollback as an outcome: its errors are reported, not raised, so the others go on."""
    display = kind.display(name)
    try:
        result = rollback.run(kube, kind, name, request)
    except Interrupted:
        raise  # not this workload's outcome: the whole command stops
    except NoTargetError as exc:
        return WorkloadOutcome(display, Outcome.NO_TARGET, exc.message, dry_run=request.dry_run)
    except PreflightBlockedError as exc:
        return WorkloadOutcome(display, Outcome.BLOCKED, exc.message, dry_run=request.dry_run)
    except RollbackError as exc:
        return WorkloadOutcome(display, Outcome.FAILED, exc.message, dry_run=request.dry_run)
    if result.wait_failure is not None:  # rolled back, but the rollout after it failed
        return WorkloadOutcome(display, Outcome.FAILED, result.wait_failure.message, dry_run=request.dry_run,
                               written=True)
    # The GitOps owner's warnings (an owner that will undo it, or that could not be read) on stderr, whatever the
    # output format, as `rollback KIND/NAME` prints them; the rest of a workload's warnings are in its JSON outcome.
    for warning in result.gitops.warnings:
        console.warn(f"{display}: {warning}")
    acted = result.changed or result.would_change
    return WorkloadOutcome(display, Outcome.ROLLED_BACK if acted else Outcome.NOTHING_TO_DO, result.message, result,
                           request.dry_run, result.changed)


def _release_of(kind: WorkloadKind, workload: dict) -> Optional[str]:
    template = kind.template_of(workload)
    return ((template.get("metadata") or {}).get("labels") or {}).get(RELEASE_LABEL)


def _group_by_controller(objects: Iterable[dict]) -> Dict[str, List[dict]]:
    groups: Dict[str, List[dict]] = {}
    for obj in objects:
        uid = controller_uid(obj)
        if uid:
            groups.setdefault(uid, []).append(obj)
    return groups
