"""What every kind of workload offers the commands: its revisions, which one is live, how to go back to one, and
how to tell when a rollout has finished. One module per kind implements it; commands never branch on the kind.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, ClassVar, Iterable, Optional, Tuple

from kubectl_rollback import applied, configrefs, console, digests, marks
from kubectl_rollback.decide import Revision, with_origin_marks
from kubectl_rollback.errors import ForbiddenError, NotFoundError, RollbackError
from kubectl_rollback.kube import PODS, Kube, Resource, retry_on_conflict
from kubectl_rollback.records import RECORD_KEYS, copied_audit, read_record, written_on

POLL_SECONDS = 0.5
CHANGE_CAUSE = "kubernetes.io/change-cause"
# What `record` writes on a revision object: a record and what rollback restores from it. The controllers copy a
# workload's annotations onto its revisions, skipping only their own keys (the deployment controller's
# annotationsToSkip: last-applied-configuration, revision, revision-history, desired-replicas, max-replicas,
# rollback-to), so none of these may be on the workload.
# The strategic-merge directive that replaces the map it sits in, as `kubectl rollout undo` sends a template.
STRATEGIC_REPLACE = "$patch"
REVISION_KEYS = RECORD_KEYS + (applied.APPLIED_TEMPLATE, applied.TEMPLATE_OWNERS, configrefs.SNAPSHOTS,
                               configrefs.SNAPSHOT_NOTE, digests.DIGESTS, digests.DIGESTS_NOTE) + marks.REVISION_KEYS


@dataclasses.dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str
    failure: Optional[str] = None  # set when the rollout has failed for good (e.g. progress deadline exceeded)
    reason: Optional[str] = None  # with done: what the record must say beside Succeeded ("partitioned: 1 of 3 pods")


class WorkloadKind:
    """The common shape of a kind of workload. Subclasses set the class attributes and the abstract methods."""

    name: ClassVar[str]  # "deployment"
    aliases: ClassVar[tuple]  # every spelling kubectl accepts: deploy, deployments, deployments.apps, ...
    resource: ClassVar[Resource]
    revision_resource: ClassVar[Resource]  # the objects that hold the revisions and our records
    copies: ClassVar[str]  # when its controller copies the workload's annotations onto a revision object
    hash_label: ClassVar[str]  # the label of a revision object that holds its template's hash
    template_path: ClassVar[Tuple[str, ...]] = ("spec", "template")  # where the workload keeps its pod template
    # Its controller fails a stuck rollout by itself (a Deployment's progressDeadlineSeconds); for the others the
    # watcher's --progress-deadline does.
    has_progress_deadline: ClassVar[bool] = False
    # The patch type of the rollback's write: "json" (any resource) or "strategic" (built-in kinds only: a custom
    # resource takes no strategic-merge patch).
    patch_type: ClassVar[str] = "json"

    # -- per kind ----------------------------------------------------------------------------------------------

    def parse_revision_object(self, obj: dict) -> Optional[tuple]:
        """(number, pod template, former numbers) of one revision object, or None (with a warning) if unusable."""
        raise NotImplementedError

    def rollback_patch(self, workload: dict, target: Revision) -> tuple:
        """(patch_type, body) that puts the target's template back at `template_path`, whole, in the kind's
        `patch_type`, preconditioned on the workload's resourceVersion."""
        template = self.comparable(target.template)
        version = workload["metadata"]["resourceVersion"]
        if self.patch_type == "json":
            return "json", [{"op": "replace", "path": "/metadata/resourceVersion", "value": version},
                            {"op": "replace", "path": "/" + "/".join(self.template_path), "value": template}]
        body: Any = dict(copy.deepcopy(template), **{STRATEGIC_REPLACE: "replace"})
        for key in reversed(self.template_path):
            body = {key: body}
        return self.patch_type, {"metadata": {"resourceVersion": version}, **body}

    def rollout_state(self, workload: dict, revision: str, pods: Optional[list] = None) -> RolloutState:
        """Where the rollout to `revision` (the name of its revision object) stands; conditions about other
        revisions, such as the failed rollout a rollback undoes, are not taken for this rollout's. `pods`: the
        workload's pods, listed when `judged_by_pods` says the workload's counts cannot tell (None: not listed)."""
        raise NotImplementedError

    def judged_by_pods(self, workload: dict) -> bool:
        """Whether a rollout of this workload is judged from its pods rather than its status counts."""
        return False

    def rollback_warnings(self, workload: dict, target: Revision) -> list:
        """What a rollback to `target` should warn about for this kind of workload (none by default)."""
        return []

    def template_of(self, workload: dict) -> dict:
        node: Any = workload
        for key in self.template_path:
            node = node.get(key) if isinstance(node, dict) else None
        return node or {}

    def comparable(self, template: Any) -> Any:
        """The template as it is compared between revisions (without labels the controller adds)."""
        return template

    def is_live(self, workload: dict, name: str, template: Any, current: Any) -> bool:
        """Whether revision object `name` backs the workload now: by default, its template is the workload's
        (`current`, already made comparable)."""
        return self.comparable(template) == current

    def backs(self, workload: dict, revision: Revision) -> bool:
        """Whether `revision` is still the live one of this copy of the workload."""
        current = self.comparable(self.template_of(workload))
        return self.is_live(workload, revision.name, revision.template, current)

    def canaries(self, kube: Kube, name: str) -> list:
        """Canary workloads that a rollback of `name` removes (Harness's Canary Delete step); none by default."""
        return []

    def canary_of(self, workload: dict) -> Optional[str]:
        """The name of the workload whose rollback removes this one (it is that one's canary); None by default."""
        return None

    def stuck_pods(self, kube: Kube, workload: dict, left: Revision) -> list:
        """Pods on revision `left` that the controller will not replace by itself once the template is back (none by
        default: a Deployment's and a DaemonSet's controllers replace unavailable pods first)."""
        return []

    def check_can_roll_back(self, workload: dict) -> None:
        """Raise RollbackError when the workload is in a state a rollback must not touch."""

    def observed(self, workload: dict) -> bool:
        status = workload.get("status") or {}
        return (status.get("observedGeneration") or 0) >= (workload["metadata"].get("generation") or 0)

    # -- shared ------------------------------------------------------------------------------------------------

    def display(self, name: str) -> str:
        return f"{self.name}/{name}"

    def carried_record_keys(self, workload: dict, flags: str) -> Optional[str]:
        """What is wrong when the workload itself carries keys of a record (its controller copies them onto its
        revisions, over the records there), or None. `flags` reach the workload's cluster and namespace
        (Kube.command_flags), so that the fix it prints can be copied."""
        annotations = workload["metadata"].get("annotations") or {}
        carried = self.carried_keys(workload)
        copied = copied_audit(annotations)  # the audit of a rollback, copied by `kubectl rollout undo`: taken off
        if not [key for key in carried if key not in copied]:
            return None
        display = self.display(workload["metadata"]["name"])
        return (f"{display} carries {', '.join(carried)} in its own annotations, and {self.copies}, over the "
                f"records there; take them off the workload and its manifest: kubectl annotate {display} {flags} "
                + " ".join(f"{key}-" for key in carried))

    def carried_keys(self, workload: dict) -> tuple:
        """Every key of REVISION_KEYS the workload itself carries, in that order."""
        annotations = workload["metadata"].get("annotations") or {}
        return tuple(key for key in REVISION_KEYS if key in annotations)

    def refuse_record_keys(self, workload: dict, flags: str) -> None:
        """Before writing a record or rolling back: nothing we write would stay as written."""
        problem = self.carried_record_keys(workload, flags)
        if problem is not None:
            raise RollbackError(f"refusing to write: {problem}")

    def written_on(self, revision: Revision) -> str:
        """Where a record written on `revision` says it was written (records.RECORDED_ON)."""
        return written_on(self.revision_resource.kind, revision.name, revision.uid)

    def get(self, kube: Kube, name: str) -> dict:
        """The workload; a 404 from a cluster that does not serve the kind at all (a CRD not installed) says so,
        rather than blaming the name."""
        try:
            return kube.get(self.resource, name)
        except NotFoundError as exc:
            if kube.served_verbs(self.resource) is not None:
                raise
            raise NotFoundError(f"cannot get {self.display(name)}: this cluster does not serve "
                                f"{self.resource.qualified} (is its CustomResourceDefinition installed?)",
                                status=exc.status, reason=exc.reason) from None

    def revisions(self, kube: Kube, workload: dict) -> list:
        """Every revision of the workload, with `live` set on the one that backs it now."""
        selector = label_selector(workload["spec"].get("selector"))
        return self.revisions_from(workload, kube.iter_list(self.revision_resource, label_selector=selector))

    def pods(self, kube: Kube, workload: dict) -> list:
        """The pods the workload controls."""
        selector = label_selector(workload["spec"].get("selector"))
        return [p for p in kube.iter_list(PODS, label_selector=selector) if self.owned_by(p, workload)]

    def revision_pods(self, kube: Kube, workload: dict, revision: Revision) -> list:
        """The pods that run `revision` of the workload."""
        selector = label_selector(workload["spec"].get("selector"))
        return [p for p in kube.iter_list(PODS, label_selector=selector) if self.runs(p, workload, revision)]

    def runs(self, pod: dict, workload: dict, revision: Revision) -> bool:
        """Whether `pod` runs `revision` (by default: the revision object is its controller, as a ReplicaSet is)."""
        return controller_uid(pod) == revision.uid

    def revisions_from(self, workload: dict, objects: Iterable[dict]) -> list:
        """The revisions among `objects` that the workload controls (pure; `objects` may hold others' too)."""
        revisions = []
        current = self.comparable(self.template_of(workload))
        for obj in objects:
            if not self.owned_by(obj, workload):
                continue
            parsed = self.parse_revision_object(obj)
            if parsed is not None:
                number, template, former = parsed
                live = self.is_live(workload, obj["metadata"]["name"], template, current)
                revisions.append(self.make_revision(obj, number, template, live, former))
        return with_origin_marks(revisions)

    def owned_by(self, obj: dict, workload: dict) -> bool:
        return controller_uid(obj) == workload["metadata"].get("uid")

    def make_revision(self, obj: dict, number: int, template: Any, live: bool, former: tuple = ()) -> Revision:
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        template_hash = ((meta.get("labels") or {}).get(self.hash_label) or meta["name"].rsplit("-", 1)[-1])
        record = read_record(written_on(self.revision_resource.kind, meta["name"], meta.get("uid", "")),
                             meta.get("annotations"))
        for warning in record.warnings:
            console.warn(f"{self.revision_resource.kind} {meta['name']} (revision {number}): {warning}")
        return Revision(
            number=number,
            name=meta["name"],
            record=record,
            images=images_of(template),
            created_at=meta.get("creationTimestamp"),
            live=live,
            resource_version=meta.get("resourceVersion", ""),
            template=template,
            former_numbers=former,
            change_cause=annotations.get(CHANGE_CAUSE),
            uid=meta.get("uid", ""),
            annotations=annotations,
            template_hash=template_hash,
            marked_bad=marks.parse_marked_bad(annotations),
            barrier=marks.parse_revision_barrier(annotations, number, template_hash),
            pinned_from=marks.parse_pinned_from(annotations, template_hash),
        )


def annotate(
    kube: Kube,
    resource: Resource,
    revision: Revision,
    annotations: dict,
    still_wanted: Optional[Callable[[dict], bool]] = None,
) -> Optional[dict]:
    """Merge `annotations` into a revision object of type `resource` (None removes a key).

    With `still_wanted`, the write is preconditioned on the resourceVersion read with the revision; when the
    controller or another client wrote the object meanwhile, it is re-read and `still_wanted(its annotations)`
    decides whether to write again (bounded) or to leave it (None). Without it, the merge touches only these
    keys, so it needs no precondition (audit annotations: nothing to lose)."""
    what = f"cannot annotate {resource.kind} {revision.name}"
    if still_wanted is None:
        body = {"metadata": {"annotations": annotations}}
        return retry_on_conflict(lambda: kube.patch(resource, revision.name, body), what)
    wanted = still_wanted
    resource_version: Optional[str] = revision.resource_version or None

    def attempt() -> Optional[dict]:
        nonlocal resource_version
        if resource_version is None:
            fresh = kube.get(resource, revision.name)["metadata"]
            if not wanted(fresh.get("annotations") or {}):
                return None
            resource_version = fresh["resourceVersion"]
        body = {"metadata": {"resourceVersion": resource_version, "annotations": annotations}}
        try:
            return kube.patch(resource, revision.name, body, "merge")
        except RollbackError:
            resource_version = None
            raise

    return retry_on_conflict(attempt, what)


def revision_digests(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision) -> tuple:
    """(the record's digest annotations, what could not be known): each container's image digest as the pods of
    `revision` report it (digests.py). Pods we may not list give no digest, and say so."""
    try:
        pods = kind.revision_pods(kube, workload, revision)
    except ForbiddenError as exc:
        return {}, [f"cannot list its pods: {exc.message}"]
    found, notes = digests.from_pods([name for name, _ in digests.containers(revision.template)], pods)
    return digests.digest_annotations(found, notes), notes


def images_of(template: Any) -> tuple:
    spec = (template or {}).get("spec") or {}
    return tuple(c.get("image", "") for c in (spec.get("initContainers") or []) + (spec.get("containers") or []))


def label_selector(selector: Optional[dict]) -> str:
    """A LabelSelector object in the query-string form the API accepts."""
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        terms.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(op, f"!{key}")
        )
    return ",".join(terms)


def without_hash_label(template: Any, label: str) -> dict:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(label, None)
    return template


def controller_uid(obj: dict) -> Optional[str]:
    return next(
        (ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("controller")), None
    )
