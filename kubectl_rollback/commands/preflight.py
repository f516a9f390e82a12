"""Pre-flight, the I/O side (the rules are in preflight.py): read the objects the target's pods reference, send the
rollback's write and a Pod of the target template with dryRun=All, and say every finding but `ok` on stderr.
Nothing here writes: every request is a read or a dry run."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Tuple

from kubectl_rollback import configrefs, console, preflight
from kubectl_rollback.errors import ApiError, ConflictError, ForbiddenError, PreflightBlockedError
from kubectl_rollback.kube import (
    CONFIGMAPS,
    PERSISTENT_VOLUME_CLAIMS,
    PODS,
    PRIORITY_CLASSES,
    RUNTIME_CLASSES,
    SECRETS,
    SERVICE_ACCOUNTS,
    Kube,
    Resource,
)
from kubectl_rollback.preflight import Finding, Reference, Refusal, Report

_RESOURCES = {configrefs.SECRET: SECRETS, configrefs.CONFIGMAP: CONFIGMAPS,
              preflight.SERVICE_ACCOUNT: SERVICE_ACCOUNTS, preflight.PVC: PERSISTENT_VOLUME_CLAIMS,
              preflight.PRIORITY_CLASS: PRIORITY_CLASSES, preflight.RUNTIME_CLASS: RUNTIME_CLASSES}


@dataclasses.dataclass(frozen=True)
class Write:
    """The rollback's write, as it will be sent (a patch; a server-side apply with its field manager): the
    pre-flight sends it with dryRun=All."""

    resource: Resource
    name: str
    body: Any
    patch_type: str = "merge"
    namespace: Optional[str] = None  # None: the client's
    field_manager: Optional[str] = None
    force: bool = False


@dataclasses.dataclass(frozen=True)
class CheckedRollback:
    """What a rollback writes and the pod template its pods will run (None: it starts no pod, a Service switch)."""

    display: str  # deployment/web, as the findings' lines name it
    writes: Tuple[Write, ...]
    template: Optional[dict] = None
    restored: Mapping[str, str] = dataclasses.field(default_factory=dict)  # Secret/db: where the rollback restores it
    # from before its template write (preflight.SNAPSHOT, preflight.RELEASE)


def check(kube: Kube, target: CheckedRollback, skip: bool) -> Report:
    """Every check of `target`, each finding but `ok` one line on stderr; with `skip` (--skip-preflight), none, and
    a line that says so."""
    if skip:
        console.warn(f"{target.display}: --skip-preflight: the rollback writes without checking that its target "
                     "can run")
        return Report(skipped=True)
    findings = []
    kube = kube.checking()
    for write in target.writes:  # a write RBAC denies fails here as the real one would: exit 1, that one line
        findings.append(preflight.admission("write", f"{write.resource.kind.lower()}/{write.name}", _refusal(
            functools.partial(kube.patch, write.resource, write.name, write.body, write.patch_type, write.namespace,
                              write.field_manager, write.force),
            denial_raises=True)))
    if target.template is not None:
        findings += [_exists(kube, ref, target.restored) for ref in preflight.references(target.template)]
        pod = preflight.pod_from(target.template, target.display.rpartition("/")[2])
        findings.append(preflight.admission("pod", f"a pod of {target.display}'s target", _refusal(
            lambda: kube.create(PODS, pod))))
    report = Report(tuple(findings))
    for finding in report.said:
        console.info(f"{target.display}: {finding.line()}")
    return report


def gate(kube: Kube, target: CheckedRollback, skip: bool, blocked: Callable[[Report], Any]) -> Report:
    """check(), and a blocked report ends the rollback before its first write (exit 5), carrying what the command
    prints: `blocked(report)`, the result it would have had, with the findings."""
    report = check(kube, target, skip)
    if report.blocked:
        raise PreflightBlockedError(blocked_line(target.display, report), blocked(report))
    return report


def blocked_line(display: str, report: Report) -> str:
    what = "; ".join(f"{f.object}: {f.message}" for f in report.blocked)
    return (f"{display} not rolled back, nothing was written: the pre-flight blocked it ({what}); --skip-preflight "
            "rolls back anyway")


def _exists(kube: Kube, ref: Reference, restored: Mapping[str, str]) -> Finding:
    if ref.key in restored:
        return preflight.existence(ref, None, False, restored)
    found: dict = {}
    refusal = _refusal(lambda: found.update(kube.get(_RESOURCES[ref.kind], ref.name)))
    terminating = bool((found.get("metadata") or {}).get("deletionTimestamp"))
    return preflight.existence(ref, refusal, terminating, restored)


def _refusal(request: Callable[[], Any], denial_raises: bool = False) -> Optional[Refusal]:
    """None when the request was answered, else the server's refusal. A conflict (the workload changed since it was
    read) is the caller's to handle: it reads again and decides again. With `denial_raises`, so is an RBAC denial:
    the server authorizes a dry run as the write itself, so the write would be denied too."""
    try:
        request()
    except ConflictError:
        raise
    except ForbiddenError as exc:
        if denial_raises and preflight.rbac_denial(exc.server_message):
            raise
        return Refusal(exc.status, exc.server_message or exc.message)
    except ApiError as exc:
        return Refusal(exc.status, exc.server_message or exc.message)
    return None

