"""Harness's own release history (legacy ConfigMap, or a Secret of the same name), read-only: list it, and roll
each managed workload back to the revision the last Succeeded release recorded, as Harness's Rolling Rollback
does. Harness's object is never written."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from kubectl_rollback import console, render
from kubectl_rollback.commands import release
from kubectl_rollback.decide import Outcome
from kubectl_rollback.errors import ApiError, ForbiddenError, NoTargetError, NotFoundError, RollbackError
from kubectl_rollback.harness_history import HarnessPlan, ManagedWorkload, ReleaseHistory, parse_history, plan_rollback
from kubectl_rollback.kube import CONFIGMAPS, SECRETS, Kube
from kubectl_rollback.options import HistoryRequest, IdentityFlags, RollbackRequest
from kubectl_rollback.output import Paragraph, Progress
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.targets import Target
from kubectl_rollback.workloads import BY_ALIAS


@dataclasses.dataclass(frozen=True)
class HarnessHistory(Printed):
    name: str
    namespace: str
    history: ReleaseHistory
    plan: Optional[HarnessPlan]
    problem: Optional[RollbackError]

    def table(self, wide: bool) -> str:
        return render.harness_table(self)

    def data(self) -> Any:
        return render.harness_dict(self)


@dataclasses.dataclass(frozen=True)
class HarnessTarget(Target):
    """--harness-release R: Harness's own release history in ConfigMap (or Secret) R, read-only."""

    name: str

    def history(self, kube: Kube, request: HistoryRequest) -> HarnessHistory:
        return load(kube, self.name)

    def rollback(self, kube: Kube, request: RollbackRequest, on_progress: Progress) -> release.ReleaseRollback:
        loaded = load(kube, self.name)
        on_progress(Paragraph(loaded))
        return roll_back(kube, loaded, request, on_progress)


def load(kube: Kube, name: str) -> HarnessHistory:
    """The history in ConfigMap NAME, else in Secret NAME (Harness's declarative mode)."""
    try:
        obj, is_secret = kube.get(CONFIGMAPS, name), False
    except (ForbiddenError, NotFoundError) as configmap_error:  # forbidden: a Role may grant the Secret only
        try:
            obj, is_secret = kube.get(SECRETS, name), True
        except ApiError as secret_error:
            if isinstance(configmap_error, ForbiddenError):
                raise configmap_error from None
            if not isinstance(secret_error, NotFoundError):
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
    kube: Kube, loaded: HarnessHistory, request: RollbackRequest, on_progress: Progress
) -> release.ReleaseRollback:
    """Each workload of the target release back to the revision that release recorded. A revision the cluster has
    pruned, or a kind this plugin does not handle, is reported for that workload; the others go on."""
    if loaded.problem is not None:
        raise loaded.problem
    assert loaded.plan is not None  # load() sets a problem whenever it has no plan
    outcomes = []
    for workload in loaded.plan.target.workloads:
        outcome = _roll_back_workload(kube, workload, request, loaded.plan.target.number)
        on_progress(outcome)
        outcomes.append(outcome)
    return release.ReleaseRollback(loaded, outcomes)


def _roll_back_workload(
    kube: Kube, workload: ManagedWorkload, request: RollbackRequest, number: int
) -> release.WorkloadOutcome:
    display = f"{workload.kind.lower()}/{workload.name}"
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
    return release.roll_back_one(target_kube, kind, workload.name, explicit)
