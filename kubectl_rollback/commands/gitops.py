"""The I/O of GitOps awareness (docs/gitops.md; the decisions are gitops.py): before a rollback writes, read the
object's Argo CD or Flux owner and refuse, pause it or warn (`--gitops`); `resume` puts back what a pause changed;
`history` shows the owner and any pause."""

from __future__ import annotations

import dataclasses
import enum
import json
import shlex
from typing import Any, Optional, Tuple

from kubectl_rollback import gitops, interrupts
from kubectl_rollback.errors import ForbiddenError, Interrupted, NotFoundError, RollbackError
from kubectl_rollback.gitops import APPLICATIONS
from kubectl_rollback.kube import Kube, Resource
from kubectl_rollback.options import DEFAULT_ARGOCD_NAMESPACE, DryRun, GitOpsMode
from kubectl_rollback.output import Result
from kubectl_rollback.records import now_rfc3339


class GitOpsAction(str, enum.Enum):
    """What a rollback did about the workload's GitOps owner (`gitops.action` in `rollback -o json`)."""

    NONE = "none"  # the owner will not undo the rollback
    PAUSED = "paused"
    WOULD_PAUSE = "would-pause"  # a dry run
    IGNORED = "ignored"  # --gitops=ignore: it will undo the rollback
    UNCHECKED = "unchecked"  # the owner named on the object could not be read


@dataclasses.dataclass(frozen=True)
class Guard:
    """What the rollback reports about the owner: warnings (stderr, always), notes (with the result) and, for
    pipelines, the owner and what was done about it."""

    warnings: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()
    owner: Optional[str] = None  # e.g. "Argo CD Application argocd/shop"; None: no GitOps owner
    action: GitOpsAction = GitOpsAction.NONE
    undoes_rollbacks: Optional[bool] = None  # whether the owner, as it was read, puts Git's version back; None: unread
    paused_in: Optional[str] = None  # the namespace of the Argo CD Application this rollback paused
    resume: Optional[str] = None  # the `resume` command that undoes this rollback's pause; None: it paused nothing

    def left_paused(self, display: str) -> Optional[str]:
        """What a rollback that paused its owner but wrote nothing (stopped, refused) left behind: the pause, and how
        to undo it; None when it paused nothing."""
        if self.resume is None or self.owner is None:
            return None
        return paused_not_rolled_back(self.owner, display, self.resume)

    def pointer(self) -> dict:
        """The annotation that tells `resume` where the paused Application is ({} when none was paused): for the
        object that names it (docs/gitops.md)."""
        return {gitops.PAUSED_APPLICATION_NAMESPACE: self.paused_in} if self.paused_in is not None else {}

    def data(self) -> Optional[dict]:
        """`gitops` in `history` and `rollback -o json`: null without an owner."""
        if self.owner is None:
            return None
        return {"owner": self.owner, "undoesRollbacks": self.undoes_rollbacks, "action": self.action.value,
                "notes": list(self.warnings + self.notes)}


def read_owner(kube: Kube, obj: dict, display: str, argocd_namespace: str, must_read: bool = False
               ) -> Tuple[Optional[gitops.Owner], Optional[dict], Tuple[str, ...]]:
    """(owner, its object, why it could not be read). No owner: (None, None, ()). An owner we could not read: what
    the object says about it and why, as one line without what the command will do about it; with `must_read` (a
    pause was asked for, and an owner we may not read cannot be paused) the error instead."""
    owner = gitops.find_owner(obj, argocd_namespace)
    if owner is None:
        return None, None, ()
    try:
        return owner, kube.get(owner.resource, owner.name, namespace=owner.namespace), ()
    except NotFoundError:
        if owner.by_label_only:  # the instance label alone: no Application of that name, so no Argo CD owner
            return None, None, ()
        elsewhere = " (if it is in another namespace, pass --argocd-namespace)" if owner.resource is APPLICATIONS \
            else ""
        return owner, None, (f"{display} names {owner.display} as its owner, but it does not exist{elsewhere}",)
    except ForbiddenError:
        if must_read:
            raise RollbackError(f"{display} may be managed by {owner.display}, which we may not read (RBAC), so "
                                "--gitops=pause cannot pause it: nothing was changed; ask for get and patch on it "
                                "(docs/gitops.md), or pass --gitops=ignore to roll back without a pause") from None
        return owner, None, (f"{display} may be managed by {owner.display}, which we may not read (RBAC)",)


def resume_command(kube: Kube, display: str, owner: gitops.Owner, argocd_namespace: str) -> str:
    """`resume` as it can be copied: the flags that reach this cluster and namespace, and where the Application is."""
    command = f"kubectl harness-rollback resume {display} {kube.command_flags()}"
    if owner.resource is APPLICATIONS and argocd_namespace != DEFAULT_ARGOCD_NAMESPACE:
        command += f" --argocd-namespace {shlex.quote(argocd_namespace)}"
    return command


def guard(kube: Kube, obj: dict, display: str, mode: GitOpsMode, argocd_namespace: str, dry_run: DryRun) -> Guard:
    """Before the rollback's first write: refuse (`fail`, RollbackError, nothing changed), pause the owner (`pause`),
    or warn (`ignore`) when the owner would revert the rollback; a note when it would not."""
    owner, owner_obj, problems = read_owner(kube, obj, display, argocd_namespace, must_read=mode is GitOpsMode.PAUSE)
    if owner is None:
        return Guard()
    if owner_obj is None:
        return Guard(tuple(f"{problem}: rolling back without knowing whether it will undo it; see docs/gitops.md"
                           for problem in problems), owner=owner.display, action=GitOpsAction.UNCHECKED)
    assessment = gitops.assess(owner, owner_obj)
    resume = resume_command(kube, display, owner, argocd_namespace)
    dry = dry_run is not DryRun.NONE  # the notes and warnings of a dry run say what the rollback would do
    if not assessment.reverts:  # also where an earlier attempt of this rollback (or an earlier rollback) paused it
        paused = gitops.stamp_of(owner_obj) is not None
        return Guard(notes=(f"{owner.display} will not undo the rollback ({assessment.why})",
                            gitops.reminder(display, owner, paused, resume, dry)),
                     owner=owner.display, undoes_rollbacks=False,
                     paused_in=owner.namespace if paused and owner.resource is APPLICATIONS else None)
    if mode is GitOpsMode.FAIL:
        raise RollbackError(gitops.refusal(display, owner, assessment, resume))
    if mode is GitOpsMode.IGNORE:
        return Guard(warnings=(f"{owner.display} ({assessment.why}) {'would' if dry else 'will'} undo this rollback "
                               "at its next sync (--gitops=ignore)",),
                     notes=(gitops.reminder(display, owner, False, resume, dry),),
                     owner=owner.display, action=GitOpsAction.IGNORED, undoes_rollbacks=True)
    if dry_run.sends_writes:
        patch = gitops.pause_patch(owner, owner_obj, now_rfc3339(), f"rollback of {display}",
                                   gitops.paused_by(kube.whoami()))
        # A 409 (the owner changed since we read it) goes up to the rollback's retry, which reads everything again.
        _pause(kube, owner, patch, display, resume, dry)
    action = GitOpsAction.WOULD_PAUSE if dry else GitOpsAction.PAUSED
    done = "would pause" if action is GitOpsAction.WOULD_PAUSE else "paused"
    paused_in = owner.namespace if action is GitOpsAction.PAUSED and owner.resource is APPLICATIONS else None
    return Guard(notes=(f"{done} {owner.display}: {'.'.join(owner.field)} set to {json.dumps(owner.paused_value)}",
                        gitops.reminder(display, owner, True, resume, dry)),
                 owner=owner.display, action=action, undoes_rollbacks=True, paused_in=paused_in,
                 resume=resume if action is GitOpsAction.PAUSED else None)


def paused_not_rolled_back(owner: str, display: str, resume: str) -> str:
    return f"paused {owner}, but {display} was not rolled back; to undo the pause, run: {resume}"


def _pause(kube: Kube, owner: gitops.Owner, patch: dict, display: str, resume: str, dry: bool) -> None:
    """The pause write, a step of its own: a Ctrl-C during it lets it finish, then stops the command before the
    rollback's own writes, saying what is paused and how to undo it (an on-call engineer stopping a rollback wants
    neither the rollback nor a pause nobody remembers)."""
    paused = False
    try:
        with interrupts.own_step():
            kube.patch(owner.resource, owner.name, patch, namespace=owner.namespace)
            paused = not dry
    except KeyboardInterrupt:
        if not paused:  # stopped before the write, or a dry run's: nothing changed
            raise
        raise Interrupted(f"interrupted: {paused_not_rolled_back(owner.display, display, resume)}") from None


def remember_pause(kube: Kube, resource: Resource, name: str, guard_: Guard) -> Tuple[str, ...]:
    """After the rollback's own writes (not in a dry run): put the pointer to the Application it paused on the
    object, so that `resume` typed without --argocd-namespace finds it. Returns the warning if it could not (the
    rollback stands)."""
    pointer = guard_.pointer()
    if not pointer:
        return ()
    try:
        kube.patch(resource, name, {"metadata": {"annotations": pointer}})
    except RollbackError as exc:
        return (f"rolled back, but `resume` will need --argocd-namespace {guard_.paused_in}: {exc.message}",)
    return ()


def describe(kube: Kube, obj: dict, display: str, argocd_namespace: str) -> Guard:
    """For `history`: the owner, whether it would undo a rollback, and any pause (as notes; history changes nothing)."""
    owner, owner_obj, problems = read_owner(kube, obj, display, argocd_namespace)
    if owner is None:
        return Guard()
    if owner_obj is None:
        return Guard(notes=problems, owner=owner.display, action=GitOpsAction.UNCHECKED)
    assessment = gitops.assess(owner, owner_obj)
    lines = [f"managed by {owner.display}: {assessment.why}"
             + ("; a rollback needs --gitops=pause or --gitops=ignore" if assessment.reverts else "")]
    pause = gitops.describe_pause(owner_obj)
    if pause:
        lines.append(f"{owner.display} {pause}")
    return Guard(notes=tuple(lines), owner=owner.display, undoes_rollbacks=assessment.reverts)


@dataclasses.dataclass(frozen=True)
class ResumeResult(Result):
    target: str
    owner: Optional[str]
    resumed: bool
    message: str

    def table(self, wide: bool) -> str:
        return self.message

    def data(self) -> Any:
        return {"target": self.target, "owner": self.owner, "resumed": self.resumed, "message": self.message}


def resume(kube: Kube, obj: dict, display: str, argocd_namespace: str) -> ResumeResult:
    """`resume KIND/NAME`: restore exactly what `pause` changed on the owner, from its stamp, preconditioned on the
    resourceVersion read; if someone changed the field since, change nothing and say so (exit 1). Without
    --argocd-namespace, the Application is looked for where the pause said it is (Guard.pointer)."""
    if argocd_namespace == DEFAULT_ARGOCD_NAMESPACE:
        argocd_namespace = gitops.paused_application_namespace(obj) or argocd_namespace
    owner, owner_obj, problems = read_owner(kube, obj, display, argocd_namespace)
    if owner is None:
        return ResumeResult(display, None, False, f"{display} has no Argo CD or Flux owner: nothing to resume")
    if owner_obj is None:
        raise RollbackError(f"cannot resume: {problems[0]}")
    plan = gitops.resume_plan(owner, owner_obj, display)
    if plan.changed_since:
        raise RollbackError(plan.message)
    if plan.patch is not None:
        kube.patch(owner.resource, owner.name, plan.patch, namespace=owner.namespace)
    return ResumeResult(display, owner.display, plan.patch is not None, plan.message)
