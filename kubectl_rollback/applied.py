"""Apply consistency (pure): after a rollback, the next apply of a manifest by the same means as before must give
exactly that manifest's template (kubernetes/kubectl#1301, kubernetes/kubernetes#77058).

Client-side apply computes a three-way merge from `kubectl.kubernetes.io/last-applied-configuration`; a rollback
that leaves it describing the failed release keeps whatever the restored template has and the failed one had not
(e.g. an env var the next release drops). So the annotation's `spec.template` is made to describe the restored
template, and nothing else in it changes.

Server-side apply decides by field ownership (`metadata.managedFields`); the rollback's write makes the plugin own
the template fields it changed, so the next `kubectl apply --server-side` conflicts, and fields the manager no
longer sets stay. So the ownership of the template is put back as it was when the target revision was recorded
(each manager's `fieldsV1` under `spec.template`), which is what client-go's util/csaupgrade does for the
client-side-apply manager: a rewrite of managedFields alone, preconditioned on the resourceVersion. See
docs/apply-consistency.md.

What `record` keeps on the revision object for this: the template part of the last-applied configuration
(APPLIED_TEMPLATE) and the template's field ownership (TEMPLATE_OWNERS), both JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, List, Mapping, Optional, Tuple

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLIED_TEMPLATE = "harness.io/applied-template"
TEMPLATE_OWNERS = "harness.io/template-owners"
HELM_RELEASE = "meta.helm.sh/release-name"
# The manager the API server books our writes under: the User-Agent's product (kube.py), as for any client that
# sends no fieldManager.
PLUGIN_MANAGER = "kubectl-harness-rollback"
APPLY = "Apply"


# -- what record keeps -----------------------------------------------------------------------------------------


def last_applied(workload: Mapping) -> Optional[dict]:
    """The workload's last-applied configuration, or None (never applied client-side, or unreadable)."""
    text = ((workload.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def applied_template(workload: Mapping, template_path: Tuple[str, ...]) -> Optional[dict]:
    """The pod template in the workload's last-applied configuration (at the kind's `template_path`), or None."""
    node: Any = last_applied(workload)
    for key in template_path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def fields_path(template_path: Tuple[str, ...]) -> Tuple[str, ...]:
    """The kind's template path as managedFields' fieldsV1 spells it: (spec, template) -> (f:spec, f:template)."""
    return tuple(f"f:{key}" for key in template_path)


def template_owners(managed_fields: Optional[list], path: Tuple[str, ...]) -> List[dict]:
    """Who owns which field of the subtree at `path` (fieldsV1 keys: the pod template's is `fields_path`): one entry
    per managedFields entry that owns any."""
    owners = []
    for entry in managed_fields or []:
        fields = subtree(entry.get("fieldsV1") or {}, path)
        if fields and not entry.get("subresource"):
            owners.append({
                "manager": entry.get("manager", ""),
                "operation": entry.get("operation", ""),
                "apiVersion": entry.get("apiVersion", ""),
                "fields": fields,
            })
    return owners


def revision_annotations(workload: dict, template_path: Tuple[str, ...]) -> dict:
    """The annotations `record` writes on the live revision (None removes a stale key: this revision was not applied
    that way); `template_path` is where the kind keeps its pod template."""
    template = applied_template(workload, template_path)
    owners = template_owners(workload["metadata"].get("managedFields"), fields_path(template_path))
    return {
        APPLIED_TEMPLATE: compact(template) if template is not None else None,
        TEMPLATE_OWNERS: compact(owners) if any(o["operation"] == APPLY for o in owners) else None,
    }


# -- what rollback does with it ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ApplyPlan:
    """What a rollback changes besides the template so that the next apply stays consistent."""

    last_applied: Optional[str]  # the new annotation value; None: leave it (the workload was never applied)
    recorded_owners: Optional[List[dict]]  # template ownership stored by record; None: none stored
    server_side: bool  # some manager applies this template server-side: put its ownership back after the write
    template_path: Tuple[str, ...]  # where the kind keeps its pod template
    notes: Tuple[str, ...] = ()


def plan(workload: dict, revision_annotations_: dict, target_template: Any, display: str, number: int,
         template_path: Tuple[str, ...], dry: bool = False) -> ApplyPlan:
    """Decide from the workload (before the rollback) and the target revision object's annotations; the notes of a
    dry run (`dry`), which changed nothing, say what the rollback would do."""
    notes: List[str] = []
    new_last_applied = None
    applied = last_applied(workload)
    if applied is not None:
        stored = load_json(revision_annotations_.get(APPLIED_TEMPLATE))
        if not isinstance(stored, dict):
            stored = target_template
            notes.append(
                f"{display}: revision {number} has no applied template recorded (or readable); the last-applied "
                f"configuration {'would hold' if dry else 'now holds'} the revision's template as the server stored "
                "it (defaults included), so the next kubectl apply also resets defaulted fields the manifest leaves out"
            )
        restored = copy.deepcopy(applied)
        parent = restored
        for key in template_path[:-1]:
            parent = parent.setdefault(key, {})
        parent[template_path[-1]] = stored
        new_last_applied = compact(restored) + "\n"  # kubectl's own encoding ends with a newline
    recorded = load_json(revision_annotations_.get(TEMPLATE_OWNERS))
    recorded_owners = recorded if _valid_owners(recorded) else None
    owners_now = template_owners(workload["metadata"].get("managedFields"), fields_path(template_path))
    applies_now = any(o["operation"] == APPLY for o in owners_now)
    server_side = applies_now or bool(recorded_owners)
    if server_side and recorded_owners is None:
        notes.append(
            f"{display}: revision {number} was recorded without its field owners; the template fields this rollback "
            f"{'would change would go' if dry else 'changed go'} to the manager that applies the template "
            "server-side now"
        )
    helm = (workload["metadata"].get("annotations") or {}).get(HELM_RELEASE)
    if helm:
        notes.append(helm_note(display, helm, applies_now, dry))
    return ApplyPlan(new_last_applied, recorded_owners, server_side, template_path, tuple(notes))


def helm_note(display: str, release: str, server_side: bool, dry: bool) -> str:
    """What the next `helm upgrade` does after this rollback. Applied server-side (Helm 4's default), the template's
    fields go back to Helm's manager, so its next apply gives exactly the chart's manifest; with Helm's client-side
    three-way merge (Helm 3, or --server-side=false), fields the chart no longer sets stay (tests/test_helm.py). `dry`:
    a dry run's note, which says what the rollback would do."""
    if server_side:
        upgrade = ("Helm applies it server-side, so the next helm upgrade gives exactly its chart's manifest, but "
                   "helm history still shows the failed release as the one deployed")
    else:
        upgrade = ("the next helm upgrade patches from its last release's manifest (the failed one), so fields this "
                   f"rollback {'would restore' if dry else 'restored'} that the chart no longer sets stay")
    knows = "would not know" if dry else "does not know"
    return (f"{display} belongs to Helm release {release}, whose history {knows} about this rollback: {upgrade}; "
            f"prefer 'helm rollback {release}' to keep Helm's history in step")


def managed_fields_after(managed_fields: list, plan_: ApplyPlan, before: list, now: str) -> Optional[list]:
    """The managedFields the workload should have after the rollback's write (`managed_fields`): the template's
    ownership as recorded with the target revision, or without a record, the plugin's template fields handed to the
    one manager that applied the template server-side before (`before`). None: nothing to change."""
    if not plan_.server_side:
        return None
    path = fields_path(plan_.template_path)
    entries = copy.deepcopy(managed_fields)
    if plan_.recorded_owners is not None:
        for entry in entries:
            entry["fieldsV1"] = without(entry.get("fieldsV1") or {}, path)
        for owner in plan_.recorded_owners:
            entry = _entry(entries, owner["manager"], owner["operation"], owner["apiVersion"], now)
            entry["fieldsV1"] = graft(entry.get("fieldsV1") or {}, path, owner["fields"])
        return _if_changed(entries, managed_fields)
    return hand_over(managed_fields, before, (path,), now)


def hand_over(managed_fields: list, before: list, paths: Tuple[Tuple[str, ...], ...], now: str) -> Optional[list]:
    """The managedFields after the plugin's update (`managed_fields`) with the fields it took under `paths` handed to
    the one manager that applied them server-side before (`before`), so that manager's next apply owns them all and
    neither conflicts nor leaves behind what it no longer sets. None: nothing to change (no single applier, or the
    plugin took nothing)."""
    appliers = {(o["manager"], o["apiVersion"]) for path in paths for o in template_owners(before, path)
                if o["operation"] == APPLY}
    entries = copy.deepcopy(managed_fields)
    ours = next((e for e in entries if e.get("manager") == PLUGIN_MANAGER and e.get("operation") != APPLY), None)
    if len(appliers) != 1 or ours is None:
        return None
    taken = {path: subtree(ours.get("fieldsV1") or {}, path) for path in paths}
    if not any(taken.values()):
        return None
    manager, api_version = appliers.pop()
    entry = _entry(entries, manager, APPLY, api_version, now)
    for path, fields in taken.items():
        if fields:
            ours["fieldsV1"] = without(ours["fieldsV1"], path)
            entry["fieldsV1"] = graft(entry.get("fieldsV1") or {}, path,
                                      union(subtree(entry.get("fieldsV1") or {}, path) or {}, fields))
    return _if_changed(entries, managed_fields)


def with_annotation(patch_type: str, body: Any, key: str, value: str) -> Any:
    """The rollback patch (a JSON patch or a strategic/merge patch) that also sets one annotation, in the same write."""
    if patch_type == "json":
        pointer = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
        return list(body) + [{"op": "add", "path": pointer, "value": value}]
    body = copy.deepcopy(body)
    body.setdefault("metadata", {}).setdefault("annotations", {})[key] = value
    return body


# -- fieldsV1 sets -------------------------------------------------------------------------------------------------
# A fieldsV1 set is a tree: "f:NAME" a field, "k:{...}" a list item by its keys, "v:..." a set member, "i:N" an index,
# "." the node itself; a leaf is {}.


def subtree(fields: dict, path: Tuple[str, ...]) -> Optional[dict]:
    node: Any = fields
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def without(fields: dict, path: Tuple[str, ...]) -> dict:
    """`fields` with the subtree at `path` gone, and parents left empty by it pruned."""
    if not path or path[0] not in fields:
        return fields
    result = dict(fields)
    if len(path) == 1:
        del result[path[0]]
    else:
        inner = without(result[path[0]], path[1:])
        if set(inner) - {"."}:
            result[path[0]] = inner
        else:
            del result[path[0]]
    return result


def graft(fields: dict, path: Tuple[str, ...], value: dict) -> dict:
    result = dict(fields)
    if len(path) == 1:
        result[path[0]] = value
    else:
        result[path[0]] = graft(result.get(path[0]) or {}, path[1:], value)
    return result


def union(a: dict, b: dict) -> dict:
    result = dict(a)
    for key, value in b.items():
        result[key] = union(result[key], value) if key in result else value
    return result


# -- helpers ---------------------------------------------------------------------------------------------------------


def _entry(entries: list, manager: str, operation: str, api_version: str, now: str) -> dict:
    for entry in entries:
        if entry.get("manager") == manager and entry.get("operation") == operation and not entry.get("subresource"):
            return entry
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": {}}
    entries.append(entry)
    return entry


def _if_changed(entries: list, managed_fields: list) -> Optional[list]:
    """The entries that still own something, or None when that is what the object has already."""
    result = [e for e in entries if e.get("fieldsV1")]
    return None if _same_entries(result, managed_fields) else result


def _same_entries(a: list, b: list) -> bool:
    def key(entries: list) -> list:
        return sorted(compact(e) for e in entries)

    return key(a) == key(b)


def _valid_owners(value: Any) -> bool:
    def valid(owner: Any) -> bool:
        return (isinstance(owner, dict) and all(isinstance(owner.get(k), str) for k in ("manager", "operation",
                "apiVersion")) and isinstance(owner.get("fields"), dict))

    return isinstance(value, list) and all(valid(o) for o in value)


def load_json(text: Optional[str]) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


