"""Harness's own release history (legacy ConfigMap, or a Secret of the same name), read-only: list it, and roll
each managed workload back to the revision the last Succeeded release recorded, as Harness's Rolling Rollback
does. Harness's object is never written."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from kubectl_rollback import console
from kubectl_rollback.commands import release, rollback
from kubectl_rollback.errors import ApiError, NoTargetError, NotFoundError, RollbackError
from kubectl_rollback.harness_history import HarnessPlan, ReleaseHistory, parse_history, plan_rollback
from kubectl_rollback.kube import CONFIGMAPS, SECRETS, Kube
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.workloads import BY_ALIAS


@dataclasses.dataclass(frozen=True)
class HarnessHistory:
    name: str
    namespace: str
    history: ReleaseHistory
    plan: Optional[HarnessPlan]
    problem: Optional[RollbackError]


@dataclasses.dataclass(frozen=True)
class HarnessRollback:
    loaded: HarnessHistory
    outcomes: list  # of release.Outcome

    @property
    def exit_code(self):
        return release.exit_code_for(self.outcomes)


def load(kube: Kube, name: str) -> HarnessHistory:
    """The history in ConfigMap NAME, else in Secret NAME (Harness's declarative mode)."""
    try:
        obj, is_secret = kube.get(CONFIGMAPS, name), False
    except ApiError as configmap_error:
        if configmap_error.status not in (403, 404):  # 403: a Role may grant the Secret only
            raise
        try:
            obj, is_secret = kube.get(SECRETS, name), True
        except ApiError as secret_error:
            if configmap_error.status == 403:
                raise configmap_error from None
            if secret_error.status != 404:
                raise
            raise NotFoundError(
                f'no ConfigMap or Secret named "{name}" in namespace "{kube.namespace}": that is where Harness keeps '
                "the history of release NAME; check --harness-release and -n",
                status=404,
            ) from None
    parsed = parse_history("Secret" if is_secret else "ConfigMap", name, obj.get("data"), is_secret)
    for warning in parsed.warnings:
        console.warn(f"{parsed.source}: {warning}")
    plan = problem = None
    try:
        plan = plan_rollback(parsed)
    except NoTargetError as exc:
        problem = exc
    return HarnessHistory(name, kube.namespace, parsed, plan, problem)


def roll_back(
    kube: Kube,
    loaded: HarnessHistory,
    request: rollback.Request,
    on_outcome: Callable[[release.Outcome], None] = lambda outcome: None,
) -> HarnessRollback:
    """Each workload of the target release back to the revision that release recorded. A revision the cluster has
    pruned, or a kind this plugin does not handle, is reported for that workload; the others go on."""
    if loaded.problem is not None:
        raise loaded.problem
    outcomes = []
    for workload in loaded.plan.target.workloads:
        outcome = _roll_back_workload(kube, workload, request, loaded.plan.target.number)
        on_outcome(outcome)
        outcomes.append(outcome)
    return HarnessRollback(loaded, outcomes)


def _roll_back_workload(kube: Kube, workload, request: rollback.Request, number: int) -> release.Outcome:
    display = f"{workload.kind.lower()}/{workload.name}"
    kind = BY_ALIAS.get(workload.kind.lower())
    if kind is None:
        return release.Outcome(display, release.FAILED, f"{workload.kind} is not a kind this plugin rolls back")
    if workload.revision is None:
        return release.Outcome(display, release.NO_TARGET, f"release {number} recorded no revision for {display}")
    target_kube = kube.in_namespace(workload.namespace) if workload.namespace else kube
    explicit = dataclasses.replace(request, flags=IdentityFlags(), to_revision=workload.revision, force=True)
    return release.roll_back_one(target_kube, kind, workload.name, explicit)
