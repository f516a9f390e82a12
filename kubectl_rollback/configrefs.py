"""The ConfigMaps and Secrets a pod template reads, their snapshots, and how a rollback brings them back (pure).

Harness versions ConfigMaps and Secrets at deploy time (`name-<release>`, references rewritten) so that an old
ReplicaSet still finds the config it ran with. We cannot rewrite what a pipeline deploys, so `record` copies each
referenced object to an immutable snapshot owned by the revision object instead, and `rollback` puts the snapshot's
content back (restore) or points the template at the snapshot (repoint). Everything here is plain data in, plain data
out: commands/configsnap.py does the I/O.

Secret values travel through these functions as the API's base64 strings and never leave them in any text: what is
said about a Secret names keys only.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import difflib
import enum
import hashlib
import json
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from kubectl_rollback import applied
from kubectl_rollback.records import PREFIX

# On the revision object: {"ConfigMap/app-config": "app-config-snap-0f3a9c2b1d", "Secret/opt": null, ...}
SNAPSHOTS = PREFIX + "config-snapshots"
# On the revision object: why some entries of the map have no snapshot (one line; absent when all have one).
SNAPSHOT_NOTE = PREFIX + "config-snapshot-note"
# On every snapshot: the label to select them all, and what it is a snapshot of.
SNAPSHOT_LABEL = PREFIX + "config-snapshot"
SNAPSHOT_OF = PREFIX + "snapshot-of"  # annotation "ConfigMap/app-config"; label "app-config" when it fits
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubectl-harness-rollback"}
# On a snapshot: JSON, the content part (APPLIED_FIELDS) of the original's last-applied configuration at record time.
APPLIED_CONFIG = PREFIX + "applied-config"
CONTENT_FIELDS = ("data", "binaryData", "stringData")
APPLIED_FIELDS = CONTENT_FIELDS + ("type",)  # a Secret's type too: a re-created object's last-applied names it
# On a snapshot: the one field manager that applied the original's content server-side at record time. A rollback
# that re-creates the object applies it as that manager, so that its next apply owns every key (no conflict with
# the plugin, and the keys it no longer sets go), as the restore of an existing object hands them back.
APPLIED_BY = PREFIX + "applied-by"
# Where a server-side applier owns the content in managedFields.
CONTENT_PATHS = (("f:data",), ("f:binaryData",))
# `kubectl rollout restart` sets this annotation on the pod template; we restart the same way.
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

CONFIGMAP, SECRET = "ConfigMap", "Secret"
# The API server refuses a ConfigMap or Secret whose data exceeds 1 MiB (validation's MaxSecretSize, and the
# ConfigMap rule); a snapshot carries the same data, so one above it could never be created.
MAX_DATA_BYTES = 1024 * 1024
HASH_LENGTH = 10
_SNAPSHOT_INFIX = "-snap-"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SnapshotMode(enum.Enum):
    """record --config-snapshot."""

    ALL = "all"
    CONFIGMAPS = "configmaps"
    NONE = "none"


class ConfigMode(enum.Enum):
    """rollback --config. AUTO (no flag) restores what only the rolled-back workload reads and warns about the rest."""

    AUTO = "auto"
    RESTORE = "restore"
    REPOINT = "repoint"
    NONE = "none"


@dataclasses.dataclass(frozen=True, order=True)
class ConfigRef:
    kind: str  # ConfigMap or Secret
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, key: str) -> Optional[ConfigRef]:
        kind, sep, name = key.partition("/")
        return cls(kind, name) if sep and kind in (CONFIGMAP, SECRET) and name else None


# -- references --------------------------------------------------------------------------------------------------


def _sites(template: Any) -> Iterator[Tuple[str, dict, str]]:
    """Every place a pod template names a ConfigMap or Secret: (kind, the dict holding the name, its field)."""
    spec = (template or {}).get("spec") or {}
    containers = [c for group in ("initContainers", "containers", "ephemeralContainers")
                  for c in spec.get(group) or []]
    for container in containers:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if source.get("configMapKeyRef"):
                yield CONFIGMAP, source["configMapKeyRef"], "name"
            if source.get("secretKeyRef"):
                yield SECRET, source["secretKeyRef"], "name"
        for env_from in container.get("envFrom") or []:
            if env_from.get("configMapRef"):
                yield CONFIGMAP, env_from["configMapRef"], "name"
            if env_from.get("secretRef"):
                yield SECRET, env_from["secretRef"], "name"
    for volume in spec.get("volumes") or []:
        if volume.get("configMap"):
            yield CONFIGMAP, volume["configMap"], "name"
        if volume.get("secret"):
            yield SECRET, volume["secret"], "secretName"
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                yield CONFIGMAP, source["configMap"], "name"
            if source.get("secret"):
                yield SECRET, source["secret"], "name"


def references(template: Any) -> Dict[ConfigRef, bool]:
    """Each ConfigMap and Secret the template reads, sorted, mapped to whether it is optional (every reference to it
    says `optional: true`; one that does not makes the pods need it)."""
    found: Dict[ConfigRef, bool] = {}
    for kind, holder, field in _sites(template):
        name = holder.get(field)
        if name:
            ref = ConfigRef(kind, name)
            found[ref] = found.get(ref, True) and bool(holder.get("optional"))
    return dict(sorted(found.items()))


def repoint(template: Any, snapshots: Mapping[ConfigRef, str]) -> dict:
    """A copy of the template that reads the snapshots instead of the objects they were taken of."""
    template = copy.deepcopy(template or {})
    for kind, holder, field in _sites(template):
        replacement = snapshots.get(ConfigRef(kind, holder.get(field) or ""))
        if replacement:
            holder[field] = replacement
    return template


def users(workloads: Mapping[str, Any], refs: List[ConfigRef]) -> Dict[ConfigRef, List[str]]:
    """Of `refs`, those that other workloads read: ref -> their displays (`workloads`: display -> pod template)."""
    shared: Dict[ConfigRef, List[str]] = {}
    for display, template in sorted(workloads.items()):
        for ref in references(template):
            if ref in refs:
                shared.setdefault(ref, []).append(display)
    return shared


# -- content, hash and name --------------------------------------------------------------------------------------


def content(kind: str, obj: Mapping) -> dict:
    """What a pod reads from the object (and, for a Secret, its type): the part a snapshot keeps."""
    kept: dict = {field: dict(obj.get(field) or {}) for field in ("data", "binaryData")}
    if kind == SECRET:
        kept["type"] = obj.get("type") or "Opaque"
    return kept


def data_bytes(kind: str, obj: Mapping) -> int:
    """The size the API server's 1 MiB rule counts: keys and values, base64 values (a Secret's data, binaryData)
    decoded."""
    total = 0
    for field in ("data", "binaryData"):
        encoded = kind == SECRET or field == "binaryData"
        for key, value in (obj.get(field) or {}).items():
            total += len(key) + (len(base64.b64decode(value)) if encoded else len(str(value).encode()))
    return total


def content_hash(kind: str, obj: Mapping, salt: str = "") -> str:
    """A short hash of the content. A Secret's is salted with its uid, so that its snapshot's name (visible to whoever
    may list Secrets' names) is no offline oracle for guessing a weak value."""
    canonical = json.dumps({"kind": kind, "content": content(kind, obj)}, sort_keys=True)
    return hashlib.sha256((salt + canonical).encode()).hexdigest()[:HASH_LENGTH]


def snapshot_name(original: str, digest: str) -> str:
    """`<name>-snap-<hash>`, the original cut so the whole stays a valid name (at most 253 characters)."""
    suffix = _SNAPSHOT_INFIX + digest
    return original[: 253 - len(suffix)].rstrip("-.") + suffix


def owner_reference(kind: str, name: str, uid: str) -> dict:
    """An ownerReference to a revision object (ReplicaSet or ControllerRevision, both apps/v1). Not a controller
    reference and no blockOwnerDeletion: the snapshot must never hold a revision back from being pruned."""
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid}


def snapshot_object(ref: ConfigRef, original: Mapping, name: str, owner: dict) -> dict:
    """The immutable copy of `original`, labelled with what it is a snapshot of and owned by the revision object."""
    labels = dict(MANAGED_BY, **{SNAPSHOT_LABEL: "true"})
    if len(ref.name) <= 63 and _LABEL_VALUE.match(ref.name):
        labels[SNAPSHOT_OF] = ref.name
    body: dict = {
        "apiVersion": "v1",
        "kind": ref.kind,
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {SNAPSHOT_OF: ref.key, **_applied_content(original)},
            "ownerReferences": [owner],
        },
        "immutable": True,
    }
    body.update({k: v for k, v in content(ref.kind, original).items() if v})
    return body


def _applied_content(original: Mapping) -> dict:
    """{APPLIED_CONFIG: ...} when the original was applied client-side (what its manifest said of the content), and
    {APPLIED_BY: manager} when one manager applied its content server-side."""
    kept = {}
    last = applied.last_applied(original)
    if last is not None:
        kept[APPLIED_CONFIG] = applied.compact({k: last[k] for k in APPLIED_FIELDS if k in last})
    managed_fields = (original.get("metadata") or {}).get("managedFields")
    appliers = {o["manager"] for path in CONTENT_PATHS for o in applied.template_owners(managed_fields, path)
                if o["operation"] == applied.APPLY}
    if len(appliers) == 1:
        kept[APPLIED_BY] = appliers.pop()
    return kept


def with_owner(snapshot: Mapping, owner: dict) -> Optional[list]:
    """The snapshot's ownerReferences with `owner` added, or None when it is already there."""
    owners = list((snapshot.get("metadata") or {}).get("ownerReferences") or [])
    if any(o.get("uid") == owner["uid"] for o in owners):
        return None
    return owners + [owner]


# -- the map on the revision -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One referenced object of a revision: its snapshot's name (None: none was taken, `why` says why)."""

    ref: ConfigRef
    snapshot: Optional[str]
    why: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SnapshotState:
    entry: Entry
    exists: Optional[bool]  # None: could not tell (not checked, or no permission to read it)

    def data(self) -> dict:
        return {"object": self.entry.ref.key, "snapshot": self.entry.snapshot, "exists": self.exists,
                "note": self.entry.why}

    def cell(self) -> str:
        """One object in history's CONFIG column: `ConfigMap/app-config=app-config-snap-0f3a9c2b1d` and `(gone)` or
        `(?)`, or the reason it has none."""
        if self.entry.snapshot is None:
            return f"{self.entry.ref.key}: {self.entry.why or 'no snapshot'}"
        suffix = {True: "", False: " (gone)", None: " (?)"}[self.exists]
        return f"{self.entry.ref.key}={self.entry.snapshot}{suffix}"


def snapshot_annotations(entries: List[Entry]) -> dict:
    """The revision's annotations for its snapshot map (and the note on those without one)."""
    notes = "; ".join(f"{e.ref.key}: {e.why}" for e in entries if e.snapshot is None and e.why)
    return {
        SNAPSHOTS: json.dumps({e.ref.key: e.snapshot for e in entries}, sort_keys=True, separators=(",", ":")),
        SNAPSHOT_NOTE: notes or None,  # None removes a note left by an earlier record
    }


def parse_snapshots(annotations: Optional[Mapping]) -> List[Entry]:
    """The revision's snapshot map (lenient: what cannot be read is left out; none recorded is empty)."""
    annotations = annotations or {}
    try:
        raw = json.loads(annotations.get(SNAPSHOTS) or "{}")
    except ValueError:
        return []
    if not isinstance(raw, dict):
        return []
    notes = dict(part.split(": ", 1) for part in str(annotations.get(SNAPSHOT_NOTE) or "").split("; ") if ": " in part)
    entries = []
    for key, name in sorted(raw.items()):
        ref = ConfigRef.parse(str(key))
        if ref is not None and (name is None or isinstance(name, str)):
            entries.append(Entry(ref, name or None, None if name else notes.get(key, "no snapshot")))
    return entries


# -- what a rollback changes -------------------------------------------------------------------------------------


class ConfigAction(enum.Enum):
    UPDATE = "update"  # the live object gets the snapshot's content back
    RECREATE = "recreate"  # the live object is gone: created again from the snapshot
    UNCHANGED = "unchanged"  # it already holds the snapshot's content
    SHARED = "left (shared)"  # other workloads read it: left as it is (AUTO)
    REPOINT = "repoint"  # the template reads the snapshot instead
    NO_SNAPSHOT = "no snapshot"  # none was taken at record time: left as it is


@dataclasses.dataclass(frozen=True)
class Change:
    ref: ConfigRef
    action: ConfigAction
    snapshot: Optional[str] = None
    detail: Tuple[str, ...] = ()  # ConfigMap: a unified diff of its data; Secret: only key names
    shared_with: Tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.action in (ConfigAction.UPDATE, ConfigAction.RECREATE)

    def line(self, dry_run: bool = False) -> str:
        """What was done to the object, or in a dry run what would be (as the real run will do it)."""
        done = "would be " if dry_run else ""
        what = {
            ConfigAction.UPDATE: f"{done}restored from {self.snapshot}",
            ConfigAction.RECREATE: f"{done}re-created from {self.snapshot} (it no longer exists)",
            ConfigAction.UNCHANGED: f"already holds the content of {self.snapshot}",
            ConfigAction.SHARED: f"also read by {', '.join(self.shared_with)}: left as it is "
                                 "(--config=restore restores it anyway, --config=repoint reads the snapshot instead)",
            ConfigAction.REPOINT: f"the template {'would read' if dry_run else 'reads'} {self.snapshot} instead",
            ConfigAction.NO_SNAPSHOT: "left as it is (no snapshot was taken)",
        }[self.action]
        return f"{self.ref.key}: {what}"


def data_changes(ref: ConfigRef, live: Optional[Mapping], snapshot: Mapping) -> Tuple[str, ...]:
    """What restoring would change in the object's data: a ConfigMap's as a unified diff, a Secret's as key names
    only (never a value)."""
    old, new = content(ref.kind, live or {}), content(ref.kind, snapshot)
    if ref.kind == SECRET:
        before, after = {**old["binaryData"], **old["data"]}, {**new["binaryData"], **new["data"]}
        keys = [f"key {k}: {'added' if k not in before else 'removed' if k not in after else 'changed'}"
                for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        if live is not None and old["type"] != new["type"]:
            keys.append(f"type: {old['type']} -> {new['type']}")
        return tuple(keys)

    def lines(obj: dict) -> List[str]:
        """Each key, then its value line by line (a config file diffs line by line)."""
        out: List[str] = []
        for field in ("data", "binaryData"):
            for key, value in sorted(obj[field].items()):
                out.append(f"{field}.{key}:\n")
                out += [f"  {line}\n" for line in str(value).splitlines()]
        return out

    return tuple(line.rstrip("\n") for line in difflib.unified_diff(
        lines(old) if live is not None else [], lines(new),
        fromfile=f"{ref.key} (live)" if live is not None else "/dev/null", tofile=f"{ref.key} (snapshot)", n=1))


def restore_patch(live: Mapping, snapshot: Mapping) -> dict:
    """The merge patch that gives the live object the snapshot's data, preconditioned on what was read: keys the
    snapshot lacks are removed (null), the rest set; and its last-applied configuration the content as applied then,
    so the next `kubectl apply` merges from the restored release, not the failed one."""
    patch: dict = {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]}}
    last_applied = restored_last_applied(live, snapshot)
    if last_applied is not None:
        patch["metadata"]["annotations"] = {applied.LAST_APPLIED: last_applied}
    for field in ("data", "binaryData"):
        old, new = live.get(field) or {}, snapshot.get(field) or {}
        delta = {k: v for k, v in new.items() if old.get(k) != v}
        delta.update({k: None for k in old if k not in new})
        if delta:
            patch[field] = delta
    return patch


def restored_last_applied(live: Mapping, snapshot: Mapping) -> Optional[str]:
    """The live object's last-applied configuration with its content part as the snapshot's original was applied
    (else, for a snapshot taken before that was kept or of an object never applied then, the snapshot's content);
    the rest (metadata) as it is. None: the live object was never applied client-side, leave it so."""
    last = applied.last_applied(live)
    if last is None:
        return None
    kept = applied.load_json((snapshot["metadata"].get("annotations") or {}).get(APPLIED_CONFIG))
    if not isinstance(kept, dict):
        kept = {k: v for k, v in snapshot.items() if k in ("data", "binaryData") and v}
    restored = {k: v for k, v in last.items() if k not in CONTENT_FIELDS}
    restored.update(kept)
    return applied.compact(restored) + "\n"  # kubectl's own encoding ends with a newline


def recreated_object(ref: ConfigRef, snapshot: Mapping) -> dict:
    """The object as it is created again from its snapshot: the content, no snapshot labels, not immutable; and when
    the original was applied client-side, the last-applied configuration its manifest gave it (as kubectl writes it),
    so that the next `kubectl apply` merges from the restored release."""
    body: dict = {"apiVersion": "v1", "kind": ref.kind, "metadata": {"name": ref.name}}
    body.update({k: v for k, v in content(ref.kind, snapshot).items() if v})
    kept = applied.load_json(_annotations(snapshot).get(APPLIED_CONFIG))
    if isinstance(kept, dict):
        # As kubectl apply writes it: the namespace it applied to is in it (the snapshot's own, the same one).
        metadata = {"annotations": {}, "name": ref.name, "namespace": snapshot["metadata"].get("namespace")}
        last = {"apiVersion": "v1", "kind": ref.kind,
                "metadata": {k: v for k, v in metadata.items() if v is not None}, **kept}
        body["metadata"]["annotations"] = {applied.LAST_APPLIED: applied.compact(last) + "\n"}
    return body


def recreating_manager(snapshot: Mapping) -> Optional[str]:
    """The field manager a re-created object is applied as (APPLIED_BY), or None: created by the plugin."""
    manager = _annotations(snapshot).get(APPLIED_BY)
    return manager if isinstance(manager, str) and manager else None


def _annotations(obj: Mapping) -> Mapping:
    return (obj.get("metadata") or {}).get("annotations") or {}


def restore_action(ref: ConfigRef, live: Optional[Mapping], snapshot: Mapping) -> ConfigAction:
    if live is None:
        return ConfigAction.RECREATE
    same = content(ref.kind, live) == content(ref.kind, snapshot)
    return ConfigAction.UNCHANGED if same else ConfigAction.UPDATE
