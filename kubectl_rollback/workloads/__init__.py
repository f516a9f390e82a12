"""The kinds of workload the plugin can roll back, by every name kubectl accepts for them. A new kind is one
module implementing WorkloadKind and one `register` line here (docs/architecture.md, "What a new workload kind
touches"); `usable` says which of them a cluster serves, `readable` which of those the user may list."""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

from kubectl_rollback import console
from kubectl_rollback.errors import ForbiddenError
from kubectl_rollback.kube import Kube
from kubectl_rollback.workloads.base import WorkloadKind
from kubectl_rollback.workloads.daemonset import DaemonSetKind
from kubectl_rollback.workloads.deployment import DeploymentKind
from kubectl_rollback.workloads.statefulset import StatefulSetKind

KINDS: List[WorkloadKind] = []
BY_ALIAS: Dict[str, WorkloadKind] = {}
# What a loop over every workload does with a kind: list it, get one, watch it.
READ_VERBS = frozenset({"get", "list", "watch"})
_said_skipped: Set[str] = set()  # kinds already reported as skipped in this run


def register(kind: WorkloadKind) -> None:
    KINDS.append(kind)
    BY_ALIAS.update({alias: kind for alias in kind.aliases})


register(DeploymentKind())
register(StatefulSetKind())
register(DaemonSetKind())


def usable(kube: Kube) -> Tuple[WorkloadKind, ...]:
    """The registered kinds this cluster serves and lets us read (discovery: the kind's resource and its revision
    objects served with get, list and watch), for the loops over every kind (`watch`, `history --all`,
    `--release-name`, the config snapshots' "shared with" check, shell completion). Each kind left out is said
    once per run on stderr: a cluster without an extra kind's CRD still serves the others."""
    kinds = []
    for kind in KINDS:
        missing = [resource for resource in (kind.resource, kind.revision_resource)
                   if not READ_VERBS <= (kube.served_verbs(resource) or frozenset())]
        if not missing:
            kinds.append(kind)
        elif kind.name not in _said_skipped:
            _said_skipped.add(kind.name)
            console.warn(f"skipped {kind.name}: this cluster does not serve "
                         f"{' or '.join(r.qualified for r in missing)} (get, list, watch)")
    return tuple(kinds)


def readable(kube: Kube) -> Tuple[List[Tuple[WorkloadKind, List[dict]]], List[ForbiddenError]]:
    """Each usable kind the user may list in the namespace, with its objects, and the refusals of the others: least
    privilege, a team allowed only some kinds still gets those. What `history --all` and `--release-name` read, and
    the kinds shell completion offers."""
    listed, forbidden = [], []
    for kind in usable(kube):
        try:
            listed.append((kind, list(kube.iter_list(kind.resource))))
        except ForbiddenError as exc:
            forbidden.append(exc)
    return listed, forbidden
