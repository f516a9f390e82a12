"""The kinds of workload the plugin can roll back, by every name kubectl accepts for them."""

from __future__ import annotations

from kubectl_rollback.workloads.base import WorkloadKind
from kubectl_rollback.workloads.deployment import DeploymentKind

KINDS: tuple = (DeploymentKind(),)
BY_ALIAS = {alias: kind for kind in KINDS for alias in kind.aliases}


def kind_for(alias: str) -> WorkloadKind:
    return BY_ALIAS[alias.lower()]
