"""The versioning annotations: the public contract of what a deployment record looks like on a revision object.

Parsing is lenient: whatever a human or another tool left in the cluster, a record comes back, with the fields it
could not trust set to None (or the status to Unknown) and one warning per problem.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from typing import Any, Mapping, Optional

PREFIX = "harness.io/"
WORKFLOW_ID = PREFIX + "workflow-id"
SERVICE_ID = PREFIX + "service-id"
INFRA_ID = PREFIX + "infra-id"
CLUSTER_NAME = PREFIX + "cluster-name"
STATUS = PREFIX + "status"
RELEASE_NUMBER = PREFIX + "release-number"
ARTIFACT = PREFIX + "artifact"
RECORDED_AT = PREFIX + "recorded-at"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"
ROLLED_BACK_AT = PREFIX + "rolled-back-at"
# The name of the revision object the audit (rolled-back-from, -at) was written on: `kubectl rollout undo` copies a
# ReplicaSet's annotations onto the Deployment, whose controller copies them onto every later ReplicaSet; on any
# other object the audit is such a copy, not a record (docs/annotations.md).
ROLLED_BACK_ON = PREFIX + "rolled-back-on"
AUDIT_KEYS = (PREFIX + "rolled-back-from", PREFIX + "rolled-back-at", ROLLED_BACK_ON)
ROLLED_BACK_TO = PREFIX + "rolled-back-to"  # on a Blue/Green primary Service: the colour it was routed back to
# The revision object a record was written on, "<Kind>/<name>/<uid>": `kubectl rollout undo` copies a ReplicaSet's
# annotations onto the Deployment, whose controller copies them onto the next ReplicaSet it creates; a record read on
# an object this does not name is such a copy, not a record. The uid tells a ReplicaSet the controller deleted and
# created again under the same name (same template) from the one the record was written on.
RECORDED_ON = PREFIX + "recorded-on"
RECORDED_BY = PREFIX + "recorded-by"  # "watch" on the watcher's own records (the only ones it completes)
# Why the status is what it is, when the status alone would mislead: "superseded by revision 3", "rolled back to
# revision 4", "partitioned: 1 of 3 pods" (docs/annotations.md).
STATUS_REASON = PREFIX + "status-reason"

# The watcher's keys on a revision object (docs/watch.md): the revision number its record is about, when it took on
# the rollback of a Failed revision, and how that rollback ended.
RECORDED_REVISION = PREFIX + "recorded-revision"
AUTO_ROLLBACK_AT = PREFIX + "auto-rollback-at"
AUTO_ROLLBACK_OUTCOME = PREFIX + "auto-rollback-outcome"

# Every key of a record on a revision object. None belongs on the workload itself: its controller copies the
# workload's annotations onto its revisions, over the records there (workloads/base.py, WorkloadKind.copies).
RECORD_KEYS = (STATUS, WORKFLOW_ID, SERVICE_ID, INFRA_ID, CLUSTER_NAME, RELEASE_NUMBER, ARTIFACT, RECORDED_AT,
               ROLLED_BACK_FROM, ROLLED_BACK_AT, ROLLED_BACK_ON, RECORDED_BY, STATUS_REASON, RECORDED_ON,
               RECORDED_REVISION, AUTO_ROLLBACK_AT, AUTO_ROLLBACK_OUTCOME)

# Longest value we accept from the cluster; anything longer is someone else's data, not a record.
MAX_VALUE_LENGTH = 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class Status(str, enum.Enum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    IN_PROGRESS = "InProgress"
    UNKNOWN = "Unknown"  # no record, or one we could not read

    def __str__(self) -> str:
        return self.value


RECORDABLE_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.IN_PROGRESS)


@dataclasses.dataclass(frozen=True)
class InfraMapping:
    """Harness's Infrastructure Mapping; the namespace is the revision object's own."""

    service_id: Optional[str]
    infra_id: Optional[str]
    cluster_name: Optional[str]
    namespace: Optional[str]

    def describe(self) -> str:
        return (
            f"service={self.service_id or '?'} infra={self.infra_id or '?'} "
            f"cluster={self.cluster_name or '?'} namespace={self.namespace or '?'}"
        )


@dataclasses.dataclass(frozen=True)
class Identity:
    """What identifies a deployment: Workflow Id + Infrastructure Mapping, or the mapping alone (any_workflow)."""

    workflow_id: Optional[str]
    mapping: InfraMapping
    any_workflow: bool = False

    def describe(self) -> str:
        workflow = "any workflow" if self.any_workflow else f"workflow={self.workflow_id or '?'}"
        return f"{workflow} {self.mapping.describe()}"


@dataclasses.dataclass(frozen=True)
class Record:
    status: Status = Status.UNKNOWN
    workflow_id: Optional[str] = None
    service_id: Optional[str] = None
    infra_id: Optional[str] = None
    cluster_name: Optional[str] = None
    release_number: Optional[str] = None
    artifact: Optional[str] = None
    recorded_at: Optional[str] = None
    rolled_back_from: Optional[str] = None
    rolled_back_at: Optional[str] = None
    status_reason: Optional[str] = None
    recorded_by: Optional[str] = None
    warnings: tuple = ()
    copied_from: Optional[str] = None  # set on a copy of the record written on that object (never trusted)

    @property
    def recorded(self) -> bool:
        return self.status is not Status.UNKNOWN or self.workflow_id is not None

    @property
    def restored_by_rollback(self) -> bool:
        """A Succeeded revision that a rollback made live after its last record (RFC 3339 UTC strings sort in
        time)."""
        return (
            self.status is Status.SUCCEEDED
            and self.rolled_back_at is not None
            and (self.recorded_at is None or self.rolled_back_at >= self.recorded_at)
        )

    def mapping(self, namespace: Optional[str]) -> InfraMapping:
        return InfraMapping(self.service_id, self.infra_id, self.cluster_name, namespace)


_FIELDS = {
    WORKFLOW_ID: "workflow_id",
    SERVICE_ID: "service_id",
    INFRA_ID: "infra_id",
    CLUSTER_NAME: "cluster_name",
    RELEASE_NUMBER: "release_number",
    ARTIFACT: "artifact",
    RECORDED_AT: "recorded_at",
    ROLLED_BACK_FROM: "rolled_back_from",
    ROLLED_BACK_AT: "rolled_back_at",
    STATUS_REASON: "status_reason",
    RECORDED_BY: "recorded_by",
}


def _clean(key: str, value: Any, warnings: list) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        warnings.append(f"annotation {key} is a {type(value).__name__}, not a string; ignored")
        return None
    if len(value) > MAX_VALUE_LENGTH:
        warnings.append(f"annotation {key} is {len(value)} characters long (at most {MAX_VALUE_LENGTH}); ignored")
        return None
    if _CONTROL_CHARS.search(value):
        warnings.append(f"annotation {key} contains control characters; ignored")
        return None
    value = value.strip()
    return value or None


# A release or build number as pipelines name them (127, 1.8.2, 2026.11.26-3): no sign, no exponent, no spaces.
RELEASE_NUMBER_FORMAT = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]*")


def release_number_problem(value: str) -> Optional[str]:
    """Why `value` cannot be a release number, or None when it can (checked on `record` and on reading)."""
    if RELEASE_NUMBER_FORMAT.fullmatch(value):
        return None
    return "is not a release or build number (letters, digits, '.', '_', '+', '-', starting with a letter or digit)"


def _timestamp_problem(value: str) -> Optional[str]:
    return None if parse_time(value) is not None else "is not an RFC 3339 UTC time like 2026-11-26T03:12:09Z"


def _rolled_back_from_problem(value: str) -> Optional[str]:
    return None if value.isdigit() or value == "unknown" else "is not a revision number"


# The fields whose value has a format of its own, beyond _clean's rules.
_FORMATS = {RELEASE_NUMBER: release_number_problem, RECORDED_AT: _timestamp_problem,
            ROLLED_BACK_AT: _timestamp_problem, ROLLED_BACK_FROM: _rolled_back_from_problem}


def _checked(key: str, value: Any, warnings: list) -> Optional[str]:
    cleaned = _clean(key, value, warnings)
    problem = _FORMATS[key](cleaned) if cleaned is not None and key in _FORMATS else None
    if cleaned is not None and problem is not None:
        shown = cleaned if len(cleaned) <= 40 else cleaned[:40] + "..."
        warnings.append(f"annotation {key}={shown!r} {problem}; ignored")
        return None
    return cleaned


def own_annotations(name: str, annotations: Optional[Mapping[Any, Any]]) -> Optional[Mapping[Any, Any]]:
    """The annotations of object NAME without an audit copied from another object (its rolled-back-on names that
    one): what is read as its record."""
    if not isinstance(annotations, Mapping) or annotations.get(ROLLED_BACK_ON) in (None, name):
        return annotations
    return {key: value for key, value in annotations.items() if key not in AUDIT_KEYS}


def written_on(kind: str, name: str, uid: str) -> str:
    """The value of RECORDED_ON for a record written on this object."""
    return f"{kind}/{name}/{uid}"


def copied_record(on: str, annotations: Optional[Mapping[Any, Any]]) -> Optional[str]:
    """The object whose record the annotations of object `on` (written_on) carry as a copy, or None: no record, its
    own, or one written before RECORDED_ON existed (read as before)."""
    if not isinstance(annotations, Mapping):
        return None
    where = annotations.get(RECORDED_ON)
    return where if isinstance(where, str) and where != on else None


def read_record(on: str, annotations: Optional[Mapping[Any, Any]]) -> Record:
    """The record of object `on` (written_on), from its annotations: a copy of another object's record is none
    (status Unknown, `copied_from` and the reason say whose it is)."""
    copied = copied_record(on, annotations)
    if copied is None:
        return parse_record(own_annotations(on.split("/")[1], annotations))
    kind, name = copied.split("/")[:2]
    return Record(copied_from=copied,
                  status_reason=f"a copy of the record of {kind} {name} (kubectl rollout undo): not read")


def copied_audit(annotations: Optional[Mapping[Any, Any]]) -> tuple:
    """The audit keys a workload carries as a copy of a revision's audit (`kubectl rollout undo` put them there:
    rolled-back-on names the revision object), which a rollback takes off; () when it carries none that way."""
    if not isinstance(annotations, Mapping) or annotations.get(ROLLED_BACK_ON) is None:
        return ()
    return tuple(key for key in AUDIT_KEYS if key in annotations)


def parse_record(annotations: Optional[Mapping[Any, Any]]) -> Record:
    """Read a record from an object's annotations. Never raises: bad values become None plus a warning, and a record
    with any bad value is not trusted at all: its status is Unknown, so it is never a rollback target."""
    if not isinstance(annotations, Mapping):
        return Record()
    warnings: list = []
    values = {field: _checked(key, annotations.get(key), warnings) for key, field in _FIELDS.items()}
    raw_status = _clean(STATUS, annotations.get(STATUS), warnings)
    status = Status.UNKNOWN
    if raw_status is not None:
        status = next((s for s in RECORDABLE_STATUSES if s.value.lower() == raw_status.lower()), Status.UNKNOWN)
        if status is Status.UNKNOWN:
            shown = raw_status if len(raw_status) <= 40 else raw_status[:40] + "..."
            warnings.append(f"annotation {STATUS}={shown!r} is not Succeeded, Failed or InProgress; shown as Unknown")
        elif warnings:
            warnings.append(f"the record says {status.value}, but a damaged record is not trusted; shown as Unknown")
            status = Status.UNKNOWN
    return Record(status=status, warnings=tuple(warnings), **values)


def record_annotations(
    status: Status,
    workflow_id: str,
    mapping: InfraMapping,
    recorded_at: str,
    on: str,
    release_number: Optional[str] = None,
    artifact: Optional[str] = None,
    reason: Optional[str] = None,
) -> dict:
    """The annotations that store a record on object `on` (written_on). Optional fields left out are removed (None
    deletes in a merge patch)."""
    return {
        STATUS: status.value,
        WORKFLOW_ID: workflow_id,
        SERVICE_ID: mapping.service_id,
        INFRA_ID: mapping.infra_id,
        CLUSTER_NAME: mapping.cluster_name,
        RELEASE_NUMBER: release_number,
        ARTIFACT: artifact,
        RECORDED_AT: recorded_at,
        RECORDED_ON: on,
        STATUS_REASON: reason,
        RECORDED_BY: None,  # whoever writes a record owns it: the watcher's mark goes (it sets it again on its own)
    }


def partitioned_reason(updated: int, replicas: int) -> str:
    """The reason of a partitioned rollout's Succeeded record: only `updated` of the `replicas` pods ran it."""
    return f"partitioned: {updated} of {replicas} pods"


_PARTITIONED = re.compile(r"partitioned: (\d+) of (\d+) pods")


def partitioned_pods(record: Record) -> Optional[int]:
    """How many pods a partitioned rollout of the recorded revision ran on, or None if it was not partitioned."""
    match = _PARTITIONED.fullmatch(record.status_reason or "")
    return int(match.group(1)) if match else None


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the records' timestamps: RFC 3339, UTC, whole seconds


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def now_rfc3339() -> str:
    return format_time(datetime.datetime.now(datetime.timezone.utc))


def parse_time(text: Optional[str]) -> Optional[datetime.datetime]:
    """A timestamp in TIME_FORMAT as an aware datetime; None when absent or written otherwise."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
