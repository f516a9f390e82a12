"""Re-applying stored manifests, as Harness's declarative rollback does (harness-behaviour.md §4.3): every object of
the target release (or a legacy release's custom workloads, §4.2 step 5) sent back with server-side apply.

The pure parts (which API resource a manifest is, the object to send, the diff shown before a dry run) are plain
functions over dicts; `reapply` is the one function that talks to the API, through kube.py.

A diff never shows what a Secret holds: its `data`/`stringData` values are replaced by markers, and the
last-applied-configuration annotation (a copy of the object, Secret data included) is left out of every diff.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from typing import Any, List, Optional, Sequence, Tuple

import yaml

from kubectl_rollback import preflight
from kubectl_rollback.commands import preflight as preflight_check
from kubectl_rollback.commands.release import WorkloadOutcome
from kubectl_rollback.decide import Outcome
from kubectl_rollback.errors import ForbiddenError, NotFoundError, RollbackError
from kubectl_rollback.kube import Kube, Resource
from kubectl_rollback.options import DryRun
from kubectl_rollback.preflight import Report
from kubectl_rollback.workloads import BY_ALIAS

FIELD_MANAGER = "kubectl-harness-rollback"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                namespaced=False)
# Set by the server, or read-only: a manifest carrying them would be refused or would pin a stale version.
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink",
                    "deletionTimestamp", "deletionGracePeriodSeconds")
UNCHANGED = "unchanged: already as the release stored it"
_HIDDEN, _HIDDEN_CHANGED = "<hidden>", "<hidden, changed>"
_SECRET_VALUE_FIELDS = ("data", "stringData")
# Cluster-scoped kinds of the built-in API (kubectl's discovery answers this; we have no discovery client). Any other
# kind of the built-in groups is namespaced; a custom kind's scope and plural come from its CustomResourceDefinition.
_CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PriorityClass",
    "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
    "IngressClass", "RuntimeClass", "CSIDriver", "CSINode", "VolumeAttachment", "PodSecurityPolicy",
})
_IRREGULAR_PLURALS = {"Endpoints": "endpoints", "NetworkPolicy": "networkpolicies", "Ingress": "ingresses",
                      "PodSecurityPolicy": "podsecuritypolicies", "PriorityClass": "priorityclasses",
                      "StorageClass": "storageclasses", "IngressClass": "ingressclasses",
                      "RuntimeClass": "runtimeclasses"}


@dataclasses.dataclass(frozen=True)
class ObjectDiff:
    """What re-applying one object would change, as a unified diff (empty: nothing)."""

    display: str
    diff: str

    def table(self, wide: bool) -> str:
        return self.diff.rstrip("\n") if self.diff else f"{self.display}: no change"

    def data(self) -> Any:
        return {"object": self.display, "diff": self.diff or None}


def display(manifest: dict, namespace: Optional[str] = None) -> str:
    """kind/name, as NS/kind/name when the manifest names a namespace other than `namespace` (the command's)."""
    shown = f"{manifest['kind'].lower()}/{manifest['metadata']['name']}"
    other = manifest["metadata"].get("namespace")
    return f"{other}/{shown}" if namespace is not None and other and other != namespace else shown


def split_api_version(api_version: str) -> Tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def guess_plural(kind: str) -> str:
    """kubectl's UnsafeGuessKindToResource: the plural a kind usually has (only used for built-in kinds)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


def is_builtin_group(group: str) -> bool:
    return group == "" or "." not in group or group.endswith(".k8s.io")


def builtin_resource(manifest: dict) -> Resource:
    group, version = split_api_version(manifest["apiVersion"])
    kind = manifest["kind"]
    return Resource(group, version, guess_plural(kind), kind, namespaced=kind not in _CLUSTER_SCOPED)


def crd_resource(manifest: dict, crds: Sequence[dict]) -> Optional[Resource]:
    """The resource of a custom kind, from the CustomResourceDefinition that defines it (None: no such CRD)."""
    group, version = split_api_version(manifest["apiVersion"])
    for crd in crds:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        if spec.get("group") == group and names.get("kind") == manifest["kind"]:
            namespaced = spec.get("scope") != "Cluster"
            return Resource(group, version, names["plural"], manifest["kind"], namespaced=namespaced)
    return None


def applicable(manifest: dict, resource: Resource, namespace: str) -> dict:
    """The object to send with server-side apply: the stored manifest without what the server owns, and, as Harness
    does (§4.3 step 5'), the namespace filled in where a namespaced object lacks it. A built-in object's ports get
    the protocol the server would default (TCP) where they omit it: kube-apiserver 1.20, the oldest supported,
    refuses a server-side apply whose port list has an element without it (HTTP 500, "associative list with keys has an
    element that omits key field"), and a chart's manifests mostly omit it."""
    body = copy.deepcopy(manifest)
    body.pop("status", None)
    metadata = body["metadata"]
    for field in _SERVER_METADATA:
        metadata.pop(field, None)
    if resource.namespaced:
        metadata.setdefault("namespace", namespace)
    else:
        metadata.pop("namespace", None)
    if is_builtin_group(resource.group):
        _default_port_protocols(body)
    return body


def _default_port_protocols(node: Any) -> None:
    """Every `ports` list under `node` (a Service's, a container's) whose entries name a port but no protocol gets
    TCP, the server's default for each of them."""
    if isinstance(node, list):
        for item in node:
            _default_port_protocols(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "ports" and isinstance(value, list):
                for port in value:
                    if isinstance(port, dict) and ("port" in port or "containerPort" in port):
                        port.setdefault("protocol", "TCP")
            else:
                _default_port_protocols(value)


def object_diff(name: str, before: Optional[dict], after: dict) -> str:
    """A unified diff of two versions of an object, with server bookkeeping left out and Secret values hidden."""
    old, new = _for_diff(before) if before is not None else None, _for_diff(after)
    if old is not None and old == new:
        return ""
    if after.get("kind") == "Secret":
        _hide_secret_values(old, new)
    old_lines = _yaml_lines(old) if old is not None else []
    return "".join(difflib.unified_diff(old_lines, _yaml_lines(new), f"live/{name}" if old is not None else "/dev/null",
                                        f"release/{name}"))


def _for_diff(obj: dict) -> dict:
    shown = copy.deepcopy(obj)
    shown.pop("status", None)
    metadata = shown.get("metadata") or {}
    for field in _SERVER_METADATA:
        metadata.pop(field, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if "annotations" in metadata and not annotations:
        del metadata["annotations"]
    return shown


def _hide_secret_values(old: Optional[dict], new: dict) -> None:
    for field in _SECRET_VALUE_FIELDS:
        before = (old or {}).get(field) or {}
        if isinstance(new.get(field), dict):
            new[field] = {key: _HIDDEN if before.get(key) == value else _HIDDEN_CHANGED
                          for key, value in new[field].items()}
        if old is not None and isinstance(old.get(field), dict):
            old[field] = {key: _HIDDEN for key in old[field]}


def _yaml_lines(obj: dict) -> List[str]:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


# -- I/O ---------------------------------------------------------------------------------------------------------


def reapply(kube: Kube, manifests: Sequence[dict], dry_run: DryRun,
            outcomes: List[WorkloadOutcome]) -> List[ObjectDiff]:
    """Send each manifest back with server-side apply (field manager FIELD_MANAGER, taking over the fields kubectl
    or Harness own, as a re-apply must). With a dry run, each object's diff comes first and nothing changes: both
    kinds send the same apply with dryRun=All (the client one too: comparing the live object with the manifest
    missed the writes the server makes, field ownership, defaults, refusals, so it said "unchanged" for an object
    the run then wrote) and judge the answer as the run judges its own. One object failing does not stop the
    others. Each object's outcome is added to `outcomes` as it comes: a Ctrl-C that stops it leaves there those
    done."""
    resolver = _Resolver(kube)
    diffs: List[ObjectDiff] = []
    for manifest in manifests:
        name = display(manifest, kube.namespace)
        try:
            resource = resolver.resource(manifest)
            body = applicable(manifest, resource, kube.namespace)
            namespace = body["metadata"].get("namespace")
            live = _live(kube, resource, body["metadata"]["name"], namespace)
            writer = kube.checking() if dry_run is DryRun.CLIENT else kube
            answer = writer.patch(resource, body["metadata"]["name"], body, "apply", namespace=namespace,
                                  field_manager=FIELD_MANAGER, force=True)
        except RollbackError as exc:
            outcomes.append(WorkloadOutcome(name, Outcome.FAILED, exc.message))
            continue
        if dry_run is not DryRun.NONE:
            diffs.append(ObjectDiff(name, object_diff(name, live, answer)))
            outcomes.append(_dry_outcome(name, live, answer))
        else:
            outcomes.append(_outcome(name, live, answer))
    return diffs


def check(kube: Kube, manifests: Sequence[dict]) -> List[Tuple[str, Report]]:
    """The pre-flight of a re-apply (docs/preflight.md), before its first write: for each stored object, its apply
    in a dry run, exactly as `reapply` will send it, and for a workload the objects its pods reference (those the
    release itself re-applies count as there: they are written first or together) and a dry-run pod of its
    template. Each object's report, in the manifests' order; one that cannot be resolved is left to `reapply`,
    which says why as its outcome."""
    resolver = _Resolver(kube)
    bodies = []
    for manifest in manifests:
        try:
            resource = resolver.resource(manifest)
        except RollbackError:
            continue
        bodies.append((applicable(manifest, resource, kube.namespace), resource))
    # Kind/name and namespace (None: cluster-scoped) of each object, for the references the release satisfies itself.
    stored = [(f"{body['kind']}/{body['metadata']['name']}", body["metadata"].get("namespace")) for body, _ in bodies]
    checked = []
    for body, resource in bodies:
        name, namespace = body["metadata"]["name"], body["metadata"].get("namespace")
        kind = BY_ALIAS.get(body["kind"].lower())
        template = kind.template_of(body) if kind is not None and kind.resource.group == resource.group else None
        write = preflight_check.Write(resource, name, body, "apply", namespace, FIELD_MANAGER, force=True)
        restored = {key: preflight.RELEASE for key, where in stored if where in (None, namespace)}
        target = preflight_check.CheckedRollback(display(body, kube.namespace), (write,), template, restored)
        checked.append((target.display, preflight_check.check(kube.in_namespace(namespace) if namespace else kube,
                                                               target, skip=False)))
    return checked


def current_objects(kube: Kube, manifests: Sequence[dict]) -> List[dict]:
    """Each manifest's live object, or the manifest (as it would be sent) where there is none or it cannot be read:
    what a GitOps owner is read from before anything is re-applied. A manifest that cannot be resolved is itself:
    `reapply` reports why."""
    resolver = _Resolver(kube)
    objects = []
    for manifest in manifests:
        try:
            resource = resolver.resource(manifest)
            body = applicable(manifest, resource, kube.namespace)
            live = _live(kube, resource, body["metadata"]["name"], body["metadata"].get("namespace"))
        except RollbackError:
            body, live = manifest, None
        objects.append(live if live is not None else body)
    return objects


def _live(kube: Kube, resource: Resource, name: str, namespace: Optional[str]) -> Optional[dict]:
    try:
        return kube.get(resource, name, namespace=namespace)
    except NotFoundError:
        return None


def _dry_outcome(name: str, live: Optional[dict], answer: dict) -> WorkloadOutcome:
    """What the run will say: unchanged only when the dry run's answer is the live object, field owners included
    (the run's own rule is an unchanged resourceVersion, which a dry run's answer keeps either way)."""
    if live is not None and _stored_form(answer) == _stored_form(live):
        return WorkloadOutcome(name, Outcome.NOTHING_TO_DO, UNCHANGED)
    what = "would be created" if live is None else "would be configured"
    if live is not None and _for_diff(answer) == _for_diff(live):
        what += " (its field owners only: the fields pass to the re-apply's manager)"
    return _applied(name, what)


def _stored_form(obj: dict) -> dict:
    """The object as a write would store it, without the version the write would bump."""
    stored = copy.deepcopy(obj)
    stored.get("metadata", {}).pop("resourceVersion", None)
    return stored


def _outcome(name: str, live: Optional[dict], answer: dict) -> WorkloadOutcome:
    if live is None:
        return _applied(name, "created")
    if (answer.get("metadata") or {}).get("resourceVersion") == live["metadata"].get("resourceVersion"):
        return WorkloadOutcome(name, Outcome.NOTHING_TO_DO, UNCHANGED)
    return _applied(name, "configured")


def _applied(name: str, what: str) -> WorkloadOutcome:
    return WorkloadOutcome(name, Outcome.ROLLED_BACK, f"{what} (server-side apply, field manager {FIELD_MANAGER})")


class _Resolver:
    """Which API resource each manifest is: built-in kinds by kubectl's plural rule, custom kinds from their
    CustomResourceDefinition (listed once, on the first custom kind)."""

    def __init__(self, kube: Kube):
        self._kube = kube
        self._crds: Optional[list] = None

    def resource(self, manifest: dict) -> Resource:
        group, _ = split_api_version(manifest["apiVersion"])
        if is_builtin_group(group):
            return builtin_resource(manifest)
        if self._crds is None:
            try:
                self._crds = self._kube.list(CRDS)
            except ForbiddenError as exc:
                raise RollbackError(f"cannot tell the resource of {manifest['kind']} ({manifest['apiVersion']}) "
                                    f"without reading its CustomResourceDefinition: {exc.message}") from None
        resource = crd_resource(manifest, self._crds)
        if resource is None:
            raise RollbackError(f"no CustomResourceDefinition in the cluster serves {manifest['kind']} "
                                f"({manifest['apiVersion']}); install it, then run the rollback again")
        return resource
