"""Config snapshots, the I/O side (the rules are in configrefs.py): take them at record time, read and restore them
at rollback time, and check which still exist for history.

Secret contents pass through here only on their way between API calls: nothing read from a Secret is ever put in a
message, a warning or a result (the results carry key names and object names only).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from kubectl_rollback import applied, configrefs, console
from kubectl_rollback.commands import consistency
from kubectl_rollback.configrefs import (
    Change,
    ConfigAction,
    ConfigMode,
    ConfigRef,
    Entry,
    SnapshotMode,
    SnapshotState,
)
from kubectl_rollback.decide import Revision, snapshots_of
from kubectl_rollback.errors import ConflictError, NotFoundError, RollbackError
from kubectl_rollback.kube import CONFIGMAPS, SECRETS, Kube, Resource, retry_on_conflict
from kubectl_rollback.options import DryRun
from kubectl_rollback.records import now_rfc3339
from kubectl_rollback.workloads import usable
from kubectl_rollback.workloads.base import WorkloadKind, annotate


def resource_of(ref: ConfigRef) -> Resource:
    return SECRETS if ref.kind == configrefs.SECRET else CONFIGMAPS


# -- record ------------------------------------------------------------------------------------------------------


def take(kube: Kube, kind: WorkloadKind, revision: Revision, mode: SnapshotMode) -> List[Entry]:
    """Snapshot every ConfigMap (and with ALL, Secret) the revision's pods read, owned by the revision object, and
    store the map on it. Never fails the record: each problem is one warning, and the map says which object has no
    snapshot and why."""
    refs = configrefs.references(revision.template)
    if mode is SnapshotMode.NONE or not refs:
        return []
    owner = configrefs.owner_reference(kind.revision_resource.kind, revision.name, revision.uid)
    entries = [_snapshot(kube, ref, optional, owner, mode) for ref, optional in refs.items()]
    try:
        annotate(kube, kind.revision_resource, revision, configrefs.snapshot_annotations(entries))
    except RollbackError as exc:
        console.warn(f"recorded, but revision {revision.number} has no config snapshot map: {exc.message}")
    return entries


def _snapshot(kube: Kube, ref: ConfigRef, optional: bool, owner: dict, mode: SnapshotMode) -> Entry:
    if ref.kind == configrefs.SECRET and mode is SnapshotMode.CONFIGMAPS:
        return Entry(ref, None, "not snapshotted (--config-snapshot configmaps)")
    resource = resource_of(ref)
    try:
        original = kube.get(resource, ref.name)
    except NotFoundError:
        if optional:
            return Entry(ref, None, "optional, absent at record time")
        return _without(ref, "absent at record time", f"{ref.key} does not exist")
    except RollbackError as exc:
        return _without(ref, _short(exc), exc.message)
    size = configrefs.data_bytes(ref.kind, original)
    if size > configrefs.MAX_DATA_BYTES:
        return _without(ref, "too large", f"{ref.key} holds {size} bytes of data, more than a snapshot may (1 MiB)")
    salt = original["metadata"].get("uid", "") if ref.kind == configrefs.SECRET else ""
    name = configrefs.snapshot_name(ref.name, configrefs.content_hash(ref.kind, original, salt))
    try:
        _create_or_own(kube, resource, ref, original, name, owner)
    except RollbackError as exc:
        return _without(ref, _short(exc), exc.message)
    return Entry(ref, name)


def _without(ref: ConfigRef, why: str, message: str) -> Entry:
    console.warn(f"no config snapshot of {ref.key}: {message}; recording the revision without it")
    return Entry(ref, None, f"not snapshotted: {why}")


def _short(exc: RollbackError) -> str:
    return str(getattr(exc, "reason", None) or "error")


def _create_or_own(kube: Kube, resource: Resource, ref: ConfigRef, original: dict, name: str, owner: dict) -> None:
    """Create the snapshot; if this content has one already (another revision's), add the revision as an owner."""
    try:
        kube.create(resource, configrefs.snapshot_object(ref, original, name, owner))
        return
    except ConflictError:
        pass  # 409 AlreadyExists: identical content, one snapshot with several owners

    def own() -> None:
        existing = kube.get(resource, name)
        if ((existing["metadata"].get("annotations") or {}).get(configrefs.SNAPSHOT_OF) != ref.key
                or configrefs.content(ref.kind, existing) != configrefs.content(ref.kind, original)):
            raise RollbackError(f"{ref.kind} {name} exists and is not a snapshot of {ref.key}'s current content; "
                                "rename or delete it")
        owners = configrefs.with_owner(existing, owner)
        if owners is not None:
            body = {"metadata": {"resourceVersion": existing["metadata"]["resourceVersion"], "ownerReferences": owners}}
            kube.patch(resource, name, body)

    retry_on_conflict(own, f"cannot add an owner to {ref.kind} {name}")


# -- history -----------------------------------------------------------------------------------------------------


def states(kube: Kube, revisions: List[Revision]) -> Dict[str, Tuple[SnapshotState, ...]]:
    """Per revision object name, its snapshots and whether each still exists (one read per distinct snapshot)."""
    seen: Dict[Tuple[str, str], Optional[bool]] = {}
    result = {}
    for revision in revisions:
        entries = snapshots_of(revision)
        for entry in entries:
            if entry.snapshot is not None and (entry.ref.kind, entry.snapshot) not in seen:
                seen[(entry.ref.kind, entry.snapshot)] = _exists(kube, resource_of(entry.ref), entry.snapshot)
        if entries:
            result[revision.name] = tuple(
                SnapshotState(e, seen[(e.ref.kind, e.snapshot)] if e.snapshot else None) for e in entries)
    return result


def _exists(kube: Kube, resource: Resource, name: str) -> Optional[bool]:
    try:
        kube.get(resource, name)
    except NotFoundError:
        return False
    except RollbackError:
        return None
    return True


# -- rollback ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConfigPlan:
    """What a rollback does to the config of its target revision; the objects read are kept for the writes (never
    printed: they may be Secrets)."""

    mode: ConfigMode
    changes: Tuple[Change, ...] = ()
    snapshots: Dict[ConfigRef, dict] = dataclasses.field(default_factory=dict, repr=False)
    live: Dict[ConfigRef, Optional[dict]] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def writes(self) -> Tuple[Change, ...]:
        return tuple(c for c in self.changes if c.writes)

    @property
    def repoints(self) -> bool:
        return any(c.action is ConfigAction.REPOINT for c in self.changes)

    @property
    def warnings(self) -> tuple:
        return tuple(c.line() for c in self.changes if c.action is ConfigAction.SHARED)

    def target(self, target: Revision) -> Revision:
        """The revision whose template the rollback writes: with REPOINT, one that reads the snapshots."""
        names = {c.ref: c.snapshot for c in self.changes if c.action is ConfigAction.REPOINT and c.snapshot}
        return dataclasses.replace(target, template=configrefs.repoint(target.template, names)) if names else target


def plan(kube: Kube, kind: WorkloadKind, name: str, target: Revision, mode: ConfigMode) -> ConfigPlan:
    """Read the target's snapshots (and with RESTORE/AUTO the live objects); nothing is written. A snapshot that is
    gone fails the rollback before anything changes."""
    entries = snapshots_of(target)
    if mode is ConfigMode.NONE or not entries:
        return ConfigPlan(mode)
    changes, snapshots, live = [], {}, {}
    for entry in entries:
        ref = entry.ref
        if entry.snapshot is None:
            changes.append(Change(ref, ConfigAction.NO_SNAPSHOT))
            continue
        snapshots[ref] = _read_snapshot(kube, entry, target)
        if mode is ConfigMode.REPOINT:
            changes.append(Change(ref, ConfigAction.REPOINT, entry.snapshot))
            continue
        live[ref] = _get_or_none(kube, resource_of(ref), ref.name)
        action = configrefs.restore_action(ref, live[ref], snapshots[ref])
        detail = configrefs.data_changes(ref, live[ref], snapshots[ref]) if action is not ConfigAction.UNCHANGED else ()
        changes.append(Change(ref, action, entry.snapshot, detail))
    if mode is ConfigMode.AUTO and any(c.writes for c in changes):
        shared = configrefs.users(_other_templates(kube, kind, name), [c.ref for c in changes if c.writes])
        changes = [dataclasses.replace(c, action=ConfigAction.SHARED, shared_with=tuple(shared[c.ref]))
                   if c.writes and c.ref in shared else c for c in changes]
    return ConfigPlan(mode, tuple(changes), snapshots, live)


def _read_snapshot(kube: Kube, entry: Entry, target: Revision) -> dict:
    assert entry.snapshot is not None
    try:
        snapshot = kube.get(resource_of(entry.ref), entry.snapshot)
    except NotFoundError:
        raise RollbackError(
            f"revision {target.number}'s snapshot {entry.ref.kind} {entry.snapshot} of {entry.ref.key} no longer "
            "exists (deleted by hand?); nothing was changed: roll back the workload alone with --config=none"
        ) from None
    if (snapshot["metadata"].get("annotations") or {}).get(configrefs.SNAPSHOT_OF) != entry.ref.key:
        raise RollbackError(f"{entry.ref.kind} {entry.snapshot} is not a snapshot of {entry.ref.key}; nothing was "
                            "changed: roll back the workload alone with --config=none")
    return snapshot


def _get_or_none(kube: Kube, resource: Resource, name: str) -> Optional[dict]:
    try:
        return kube.get(resource, name)
    except NotFoundError:
        return None


def _other_templates(kube: Kube, kind: WorkloadKind, name: str) -> Dict[str, dict]:
    """The pod templates of the namespace's other workloads (the canary that goes with this one excluded)."""
    own = {kind.display(name)} | {kind.display(c["metadata"]["name"]) for c in kind.canaries(kube, name)}
    templates = {}
    for other in usable(kube):
        for workload in kube.iter_list(other.resource):
            display = other.display(workload["metadata"]["name"])
            if display not in own:
                templates[display] = other.template_of(workload)
    return templates


def apply(kube: Kube, config: ConfigPlan, dry_run: DryRun) -> tuple:
    """Give each object the snapshot's content back (preconditioned update, or create if it is gone), with the
    bookkeeping of both apply modes (docs/apply-consistency.md): the last-applied configuration in the same write,
    the content's field owners right after it. Every write is first sent with dryRun=All, so a denial (RBAC, quota,
    an immutable object) stops the rollback before any change. Returns warnings (the restore itself stands)."""
    if not config.writes or not dry_run.sends_writes:
        return ()
    warnings: tuple = ()
    for preflight in (True,) if dry_run.server_side else (True, False):
        writer = kube.bound_to(DryRun.SERVER) if preflight else kube
        for change in config.writes:
            ref, snapshot, live = change.ref, config.snapshots[change.ref], config.live[change.ref]
            resource = resource_of(ref)
            if live is None:
                body, manager = configrefs.recreated_object(ref, snapshot), configrefs.recreating_manager(snapshot)
                if manager is None:
                    writer.create(resource, body)
                else:  # as the manager that applied the original server-side: its next apply owns every key
                    writer.patch(resource, ref.name, body, "apply", field_manager=manager)
                continue
            restored = writer.patch(resource, ref.name, configrefs.restore_patch(live, snapshot))
            if not preflight:
                warnings += _hand_back(kube, ref, live, restored)
    return warnings


def _hand_back(kube: Kube, ref: ConfigRef, live: dict, restored: dict) -> tuple:
    """The content keys the restore wrote now belong to the plugin's manager: give them to the manager that applied
    the object server-side before, or its next apply conflicts with us (and leaves behind keys it no longer sets)."""
    before = live["metadata"].get("managedFields") or []
    return consistency.rewrite_managed_fields(
        kube, resource_of(ref), restored,
        lambda obj: applied.hand_over(obj["metadata"].get("managedFields") or [], before, configrefs.CONTENT_PATHS,
                                      now_rfc3339()),
        f"cannot hand the restored content of {ref.key} back to its manager")


def restart(kube: Kube, kind: WorkloadKind, workload: dict, dry_run: DryRun) -> None:
    """What `kubectl rollout restart` does: a new restartedAt annotation on the pod template, so new pods start and
    read the restored config (preconditioned on the workload read)."""
    if not dry_run.sends_writes:
        return
    body: dict = {"metadata": {"annotations": {configrefs.RESTARTED_AT: now_rfc3339()}}}
    for key in reversed(kind.template_path):
        body = {key: body}
    body["metadata"] = {"resourceVersion": workload["metadata"]["resourceVersion"]}
    kube.patch(kind.resource, workload["metadata"]["name"], body)
