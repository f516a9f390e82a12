"""Many workloads at once: every workload in the namespace (`history --all`), or every workload of a release
(`--release-name R`: pod template label harness.io/release-name=R). Each goes to its own last successful revision;
one failing does not stop the others."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Optional

from kubectl_rollback import console
from kubectl_rollback.commands import history, rollback
from kubectl_rollback.errors import ApiError, ExitCode, NoTargetError, RollbackError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.workloads import KINDS
from kubectl_rollback.workloads.base import WorkloadKind, controller_uid

RELEASE_LABEL = "harness.io/release-name"

ROLLED_BACK = "rolled back"
NOTHING_TO_DO = "nothing to do"
NO_TARGET = "no target"
FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Outcome:
    display: str
    outcome: str  # ROLLED_BACK, NOTHING_TO_DO, NO_TARGET or FAILED
    message: str
    result: Optional[rollback.Result] = None


@dataclasses.dataclass(frozen=True)
class ReleaseRollback:
    namespace: str
    release: Optional[str]
    plan: list  # of history.History, as shown before acting
    outcomes: list  # of Outcome, in plan order

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.outcomes)


def exit_code_for(outcomes: list) -> ExitCode:
    """1 if any workload failed, else 3 if any had no target, else 0."""
    seen = {o.outcome for o in outcomes}
    if FAILED in seen:
        return ExitCode.ERROR
    return ExitCode.NO_TARGET if NO_TARGET in seen else ExitCode.OK


def load(kube: Kube, flags: IdentityFlags, release: Optional[str] = None) -> list:
    """The history of every workload (of the release), with one paginated list per resource type, not one request
    per workload: the revision objects of the whole namespace are grouped by their controller in memory."""
    histories = []
    revision_objects: dict = {}
    forbidden = []
    for kind in KINDS:
        try:
            listed = list(kube.iter_list(kind.resource))
        except ApiError as exc:
            if exc.status != 403:
                raise
            forbidden.append(exc)
            continue
        workloads = [w for w in listed if release is None or _release_of(w) == release]
        if not workloads:
            continue
        resource = kind.revision_resource
        if resource not in revision_objects:  # StatefulSets and DaemonSets share ControllerRevisions
            revision_objects[resource] = _group_by_controller(kube.iter_list(resource))
        for workload in sorted(workloads, key=lambda w: w["metadata"]["name"]):
            owned = revision_objects[resource].get(workload["metadata"]["uid"], [])
            histories.append(history.build(kube, kind, workload, kind.revisions_from(workload, owned), flags))
    if len(forbidden) == len(KINDS):
        raise forbidden[0]
    for exc in forbidden:  # least privilege: a team allowed only some kinds still gets those
        console.warn(f"skipped: {exc.message}")
    return histories


def roll_back(
    kube: Kube,
    plan: list,
    request: rollback.Request,
    release: Optional[str],
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
) -> ReleaseRollback:
    """Roll back each planned workload in turn, each from a fresh read; report every outcome."""
    outcomes = []
    for planned in plan:
        outcome = roll_back_one(kube, planned.kind, planned.name, request)
        on_outcome(outcome)
        outcomes.append(outcome)
    return ReleaseRollback(kube.namespace, release, plan, outcomes)


def roll_back_one(kube: Kube, kind: WorkloadKind, name: str, request: rollback.Request) -> Outcome:
    """One workload's rollback as an outcome: its errors are reported, not raised, so the others go on."""
    display = kind.display(name)
    try:
        result = rollback.run(kube, kind, name, request)
    except NoTargetError as exc:
        return Outcome(display, NO_TARGET, exc.message)
    except RollbackError as exc:
        return Outcome(display, FAILED, exc.message)
    acted = result.changed or result.dry_run != "none"
    return Outcome(display, ROLLED_BACK if acted else NOTHING_TO_DO, result.message, result)


def _release_of(workload: dict) -> Optional[str]:
    template = (workload.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("labels") or {}).get(RELEASE_LABEL)


def _group_by_controller(objects: Iterable[dict]) -> dict:
    groups: dict = {}
    for obj in objects:
        uid = controller_uid(obj)
        if uid:
            groups.setdefault(uid, []).append(obj)
    return groups
