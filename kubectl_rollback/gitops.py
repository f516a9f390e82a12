"""GitOps owners (docs/gitops.md), pure decisions: which Argo CD Application or Flux Kustomization/HelmRelease owns an
object, whether it would put the rolled-back template back, and the patches that pause it and restore it exactly.
The I/O is commands/gitops.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional, Tuple

from kubectl_rollback.kube import Resource

ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"
FLUX_KUSTOMIZE = "kustomize.toolkit.fluxcd.io"
FLUX_HELM = "helm.toolkit.fluxcd.io"
PAUSED_BY = "harness.io/gitops-paused"  # on the owner object: JSON of what `pause` changed, when and why
# On the workload or Service a rollback paused an Argo CD Application for: the Application's namespace, where
# `resume` looks for it without --argocd-namespace.
PAUSED_APPLICATION_NAMESPACE = "harness.io/gitops-paused-in"
STAMP_AUTHOR = "kubectl-harness-rollback"
WHOAMI_MISSING = "no SelfSubjectReview answered, which API servers serve from Kubernetes 1.27"

APPLICATIONS = Resource("argoproj.io", "v1alpha1", "applications", "Application")
KUSTOMIZATIONS = Resource(FLUX_KUSTOMIZE, "v1", "kustomizations", "Kustomization")
HELMRELEASES = Resource(FLUX_HELM, "v2", "helmreleases", "HelmRelease")

AUTOMATED = ("spec", "syncPolicy", "automated")
SELF_HEAL = AUTOMATED + ("selfHeal",)
SUSPEND = ("spec", "suspend")


@dataclasses.dataclass(frozen=True)
class Owner:
    """The GitOps object that owns a workload or Service, as its labels or annotations name it."""

    resource: Resource
    name: str
    namespace: str
    by_label_only: bool = False  # Argo CD's instance label (common on Helm charts): an owner only if the App exists

    @property
    def display(self) -> str:
        tool = "Argo CD" if self.resource is APPLICATIONS else "Flux"
        return f"{tool} {self.resource.kind} {self.namespace}/{self.name}"

    @property
    def field(self) -> Tuple[str, ...]:
        """What would revert a rollback: self-heal on an Application, not being suspended on a Flux object."""
        return SELF_HEAL if self.resource is APPLICATIONS else SUSPEND

    @property
    def paused_value(self) -> bool:
        """What `pause` sets that field to: self-heal off, suspend on."""
        return self.resource is not APPLICATIONS


def find_owner(obj: dict, argocd_namespace: str) -> Optional[Owner]:
    """The owner named on `obj`: Argo CD's tracking-id annotation first, then Flux's labels, then Argo CD's instance
    label (an Application of that name in `argocd_namespace`, to be confirmed by reading it)."""
    metadata = obj.get("metadata") or {}
    annotations, labels = metadata.get("annotations") or {}, metadata.get("labels") or {}
    tracking = annotations.get(ARGO_TRACKING_ID)
    if tracking:
        app = tracking.split(":", 1)[0]
        # Argo CD's "Applications in any namespace" write <namespace>_<name>; otherwise the controller's namespace.
        app_namespace, _, app_name = app.rpartition("_")
        return Owner(APPLICATIONS, app_name, app_namespace or argocd_namespace)
    for group, resource in ((FLUX_KUSTOMIZE, KUSTOMIZATIONS), (FLUX_HELM, HELMRELEASES)):
        name = labels.get(f"{group}/name")
        if name:
            return Owner(resource, name, labels.get(f"{group}/namespace") or metadata.get("namespace") or "")
    instance = labels.get(ARGO_INSTANCE_LABEL)
    if instance:
        return Owner(APPLICATIONS, instance, argocd_namespace, by_label_only=True)
    return None


def paused_application_namespace(obj: dict) -> Optional[str]:
    """Where the Argo CD Application a rollback of `obj` paused is (PAUSED_APPLICATION_NAMESPACE), or None."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(PAUSED_APPLICATION_NAMESPACE)
    return value.strip() or None if isinstance(value, str) else None


def _get(obj: dict, path: Tuple[str, ...]) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclasses.dataclass(frozen=True)
class OwnerAssessment:
    reverts: bool  # the owner will put Git's template back by itself
    why: str  # what makes it so, in words


def assess(owner: Owner, obj: dict) -> OwnerAssessment:
    if owner.resource is APPLICATIONS:
        # Argo CD's SyncPolicy.IsAutomatedSyncEnabled: `automated` present and its `enabled` (a *bool) nil or true;
        # self-heal (SyncPolicyAutomated.GetSelfHeal) acts only under it.
        automated = _get(obj, AUTOMATED)
        if not isinstance(automated, dict):
            return OwnerAssessment(False, "auto-sync is off")
        if automated.get("enabled") is False:
            return OwnerAssessment(False, "auto-sync is off: automated.enabled is false")
        if _get(obj, SELF_HEAL) is True:
            return OwnerAssessment(True, "auto-sync with self-heal is on")
        return OwnerAssessment(False, "self-heal is off (auto-sync puts Git's template back at the next Git change)")
    if _get(obj, SUSPEND) is True:
        return OwnerAssessment(False, "it is suspended")
    return OwnerAssessment(True, "it is not suspended")


def refusal(display: str, owner: Owner, assessment: OwnerAssessment, resume: str) -> str:
    """The one line `--gitops=fail` ends with; `resume` is the command that resumes the owner, as it can be copied."""
    return (f"{display} is managed by {owner.display} ({assessment.why}), which would undo the rollback: "
            f"revert the change in Git, or pass --gitops=pause to pause it for the rollback "
            f"({resume} later), or --gitops=ignore to roll back anyway")


def reminder(display: str, owner: Owner, paused: bool, resume: str, dry: bool) -> str:
    """What is left to do once the rollback is written: the change reverted in Git, and after a pause `resume`; in a
    dry run (`dry`), which changed and paused nothing, what the rollback would leave to do."""
    then = f", then run: {resume}" if paused else ""
    after = "after the rollback you would " if dry else ""
    return f"{display} is managed by {owner.display}: {after}revert the change in Git{then}"


def _nested(path: Tuple[str, ...], value: Any) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def paused_by(user: Optional[str]) -> str:
    """Who paused, for the stamp: the user the API server named (SelfSubjectReview), None where it could not."""
    return f"{user} with {STAMP_AUTHOR}" if user else f"{STAMP_AUTHOR} (user unknown: {WHOAMI_MISSING})"


def pause_patch(owner: Owner, obj: dict, now: str, reason: str, by: str) -> dict:
    """The merge patch that stops the owner from reverting, with the stamp that lets `resume` undo exactly it and
    says who paused it (`by`); it carries the resourceVersion we decided on, so a concurrent change makes it fail
    (409) instead of being overwritten."""
    before = _get(obj, owner.field)
    after = owner.paused_value
    stamp = {"field": ".".join(owner.field), "before": before, "after": after, "at": now, "by": by,
             "reason": reason}
    metadata = {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": {PAUSED_BY: json.dumps(stamp)}}
    return _merge({"metadata": metadata}, _nested(owner.field, after))


def stamp_of(obj: dict) -> Optional[Dict[str, Any]]:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(PAUSED_BY)
    if not text:
        return None
    try:
        stamp = json.loads(text)
    except ValueError:
        return None
    return stamp if isinstance(stamp, dict) and "field" in stamp and "after" in stamp else None


@dataclasses.dataclass(frozen=True)
class Resume:
    patch: Optional[dict]  # None: nothing to write
    message: str
    changed_since: bool = False  # someone changed the field after the pause: left alone


def resume_plan(owner: Owner, obj: dict, display: str) -> Resume:
    """Put back what the stamp says `pause` changed, only while the field still has the value pause gave it; remove the
    stamp with it (in the same preconditioned write)."""
    stamp = stamp_of(obj)
    if stamp is None:
        return Resume(None, f"{owner.display} was not paused by kubectl-harness-rollback: nothing to resume")
    path = tuple(str(stamp["field"]).split("."))
    now = _get(obj, path)
    if now != stamp["after"]:
        return Resume(None, f"{owner.display}: {stamp['field']} was changed since the pause for {display} "
                            f"(now {json.dumps(now)}, pause set {json.dumps(stamp['after'])}): left as it is; "
                            f"remove the annotation {PAUSED_BY} by hand once settled", changed_since=True)
    # before None: the field was absent; the merge patch's null removes it again.
    metadata = {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": {PAUSED_BY: None}}
    return Resume(_merge({"metadata": metadata}, _nested(path, stamp["before"])),
                  f"{owner.display}: {stamp['field']} restored to {json.dumps(stamp['before'])} "
                  f"(paused {stamp.get('at', '?')} for {stamp.get('reason', '?')})")


def describe_pause(obj: dict) -> Optional[str]:
    stamp = stamp_of(obj)
    if stamp is None:
        return None
    return (f"paused {stamp.get('at', '?')} by {stamp.get('by', '?')}: {stamp['field']} "
            f"{json.dumps(stamp.get('before'))} -> {json.dumps(stamp['after'])} ({stamp.get('reason', '')})")
