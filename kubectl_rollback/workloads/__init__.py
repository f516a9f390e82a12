"""The kinds of workload the plugin can roll back, by every name kubectl accepts for them. A new kind is one
module implementing WorkloadKind, listed here."""

from __future__ import annotations

from typing import Dict, Tuple

from kubectl_rollback.workloads.base import WorkloadKind
from kubectl_rollback.workloads.daemonset import DaemonSetKind
from kubectl_rollback.workloads.deployment import DeploymentKind
from kubectl_rollback.workloads.statefulset import StatefulSetKind

KINDS: Tuple[WorkloadKind, ...] = (DeploymentKind(), StatefulSetKind(), DaemonSetKind())
BY_ALIAS: Dict[str, WorkloadKind] = {alias: kind for kind in KINDS for alias in kind.aliases}

