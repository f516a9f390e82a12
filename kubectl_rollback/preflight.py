"""Pre-flight of a rollback (pure): would the target revision run, and would the server take the write? Decided from
the target's pod template and what the API server answered (commands/preflight.py asks it), before the first write.

During an incident the worst rollback is the one that writes and then fails: a Secret gone since the target ran
(kubernetes#50021), an admission policy that refuses its pods (kyverno#5363), a quota that holds the new pod back
(kubernetes#89209). Each check gives one finding: `ok`, `blocked` (the rollback would not recover: nothing is
written), `warning` (it would, slowly or with a caveat) or `inconclusive` (we could not tell: the caller may not ask,
a webhook cannot be asked in a dry run, the server failed).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, List, Mapping, Optional

from kubectl_rollback import configrefs
from kubectl_rollback.configrefs import ConfigRef

SERVICE_ACCOUNT = "ServiceAccount"
PVC = "PersistentVolumeClaim"
PRIORITY_CLASS = "PriorityClass"
RUNTIME_CLASS = "RuntimeClass"
# The API server's words (authorization filter, webhook dispatcher, ResourceQuota admission): how a refusal is told
# apart from another, since all of them may come as 403.
_RBAC_DENIAL = re.compile(r'cannot (\S+) resource "([^"]+)"')
_NO_DRY_RUN = "does not support dry run"
_QUOTA = "exceeded quota"
# Where a rollback restores a referenced object from before its template write (existence's `restored`).
SNAPSHOT = "from its config snapshot"
RELEASE = "from the release it re-applies"


class Severity(enum.Enum):
    OK = "ok"
    BLOCKED = "blocked"
    WARNING = "warning"
    INCONCLUSIVE = "inconclusive"


@dataclasses.dataclass(frozen=True)
class Finding:
    check: str  # "exists", "write" (a dry run of the rollback's write), "pod" (a dry-run create of a target pod)
    verdict: Severity
    object: str  # "Secret/db", "deployment/web", "Pod (from revision 3)"
    message: str  # why, with the server's own message where it answered
    # Only in -o json|yaml, not a line on stderr: the pod check denied by RBAC. Its Role is opt-in (it lets its holder
    # create pods), so without it every rollback would print the same line; docs/preflight.md says so once.
    quiet: bool = False

    def line(self) -> str:
        return f"pre-flight {self.verdict.value}: {self.object}: {self.message}"

    def data(self) -> dict:
        return {"check": self.check, "verdict": self.verdict.value, "object": self.object, "message": self.message}


@dataclasses.dataclass(frozen=True)
class Report:
    findings: tuple = ()
    skipped: bool = False  # --skip-preflight

    @property
    def blocked(self) -> tuple:
        return tuple(f for f in self.findings if f.verdict is Severity.BLOCKED)

    @property
    def said(self) -> tuple:
        """The findings worth a line on stderr: every one but `ok` and the quiet ones."""
        return tuple(f for f in self.findings if f.verdict is not Severity.OK and not f.quiet)

    def data(self) -> list:
        return [f.data() for f in self.findings]

    def summary(self) -> str:
        if self.skipped:
            return "pre-flight: skipped (--skip-preflight)"
        counts = [f"{sum(1 for f in self.findings if f.verdict is v)} {v.value}" for v in Severity
                  if any(f.verdict is v for f in self.findings)]
        return f"pre-flight: {', '.join(counts) or 'nothing to check'}"


@dataclasses.dataclass(frozen=True, order=True)
class Reference:
    """An object a pod template names: its kind, name, and whether the pods need it (an `optional: true` ConfigMap
    or Secret, or an image pull Secret the kubelet can do without for a public image, is not needed)."""

    kind: str
    name: str
    required: bool = True
    # An image pull Secret: the pods start without it only if their images are public, so its absence is a warning;
    # an `optional: true` ConfigMap or Secret gone is what the template allows for: ok, said only in -o json|yaml.
    pull_secret: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What the API server answered instead of the object: its HTTP status (0: not reached) and message."""

    status: int
    message: str


# -- what the template references ----------------------------------------------------------------------------------


def references(template: Any) -> List[Reference]:
    """Every object the pods of `template` need to exist, ConfigMaps and Secrets as configrefs finds them."""
    spec = (template or {}).get("spec") or {}
    found = [Reference(ref.kind, ref.name, not optional) for ref, optional in configrefs.references(template).items()]
    claims = {(v.get("persistentVolumeClaim") or {}).get("claimName") for v in spec.get("volumes") or []}
    found += [Reference(PVC, claim) for claim in sorted(str(c) for c in claims if c)]
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:  # unnamed: the namespace's `default`, which the API server's controllers keep
        found.append(Reference(SERVICE_ACCOUNT, account))
    pull = {ConfigRef(configrefs.SECRET, s.get("name")) for s in spec.get("imagePullSecrets") or [] if s.get("name")}
    found += [Reference(configrefs.SECRET, ref.name, required=False, pull_secret=True) for ref in sorted(pull)
              if not any(r.kind == configrefs.SECRET and r.name == ref.name for r in found)]
    for kind, field in ((PRIORITY_CLASS, "priorityClassName"), (RUNTIME_CLASS, "runtimeClassName")):
        if spec.get(field):
            found.append(Reference(kind, spec[field]))
    return found


def pod_from(template: Any, name: str) -> dict:
    """The Pod a controller would create from `template` (its metadata and spec), for a dry-run create: the only
    request that meets pod admission (PodSecurity, ValidatingAdmissionPolicy, webhooks, LimitRange, ResourceQuota)."""
    metadata = (template or {}).get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": f"{name}-preflight-", "labels": dict(metadata.get("labels") or {}),
                         "annotations": dict(metadata.get("annotations") or {})},
            "spec": (template or {}).get("spec") or {}}


# -- findings ------------------------------------------------------------------------------------------------------


def existence(ref: Reference, refusal: Optional[Refusal], terminating: bool, restored: Mapping[str, str]) -> Finding:
    """Whether `ref` is there for the target's pods: `refusal` is the server's answer to reading it (None: read),
    `restored` the keys (Secret/db) the rollback itself puts back, each with where from (SNAPSHOT, RELEASE)."""
    if ref.key in restored:
        return Finding("exists", Severity.OK, ref.key, f"restored by this rollback {restored[ref.key]}")
    if refusal is None and not terminating:
        return Finding("exists", Severity.OK, ref.key, "exists")
    if refusal is not None and refusal.status != 404:
        return Finding("exists", Severity.INCONCLUSIVE, ref.key, _cannot_tell(refusal))
    gone = "is being deleted" if terminating else f"does not exist ({refusal.message})" if refusal else ""
    if not ref.required:
        return Finding("exists", Severity.WARNING if ref.pull_secret else Severity.OK, ref.key,
                       f"{gone}; the pods do not need it (optional)")
    return Finding("exists", Severity.BLOCKED, ref.key, f"{gone}; the target's pods need it: create it, then roll back")


def admission(check: str, what: str, refusal: Optional[Refusal]) -> Finding:
    """A dry run's answer: accepted, or refused with the server's message. A refusal that says nothing about the real
    request (RBAC on the check itself, a webhook that cannot run dry, a failing server) is inconclusive; a quota
    refusing a new pod holds the rollout back only until old pods go, so it is a warning."""
    if refusal is None:
        return Finding(check, Severity.OK, what, "accepted by the API server (dry run)")
    if rbac_denial(refusal.message) or _NO_DRY_RUN in refusal.message or refusal.status in (0, 429) \
            or refusal.status >= 500:
        return Finding(check, Severity.INCONCLUSIVE, what, _cannot_tell(refusal),
                       quiet=check == "pod" and rbac_denial(refusal.message))
    if check == "pod" and _QUOTA in refusal.message:
        return Finding(check, Severity.WARNING, what, f"{refusal.message}; the new pods wait for old ones to go: the "
                                                     "rollout is slowed (or held, if the quota never has room)")
    return Finding(check, Severity.BLOCKED, what, refusal.message)


def rbac_denial(message: str) -> bool:
    """Whether a 403's message is RBAC's (the caller may not), not an admission plugin's."""
    return _RBAC_DENIAL.search(message) is not None


def _cannot_tell(refusal: Refusal) -> str:
    denial = _RBAC_DENIAL.search(refusal.message)
    if denial:
        return (f"could not check: may not {denial.group(1)} {denial.group(2)} (RBAC; docs/rbac.yaml, "
                f"harness-rollback-preflight)")
    if _NO_DRY_RUN in refusal.message:
        return f"could not check: {refusal.message} (the webhook's sideEffects)"
    return f"could not check: {refusal.message or f'HTTP {refusal.status}'}"
