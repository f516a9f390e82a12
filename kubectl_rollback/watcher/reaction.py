"""The watcher's state machine, pure: from what one workload looks like now, the one thing to do about it.

A revision with no `harness.io/status`, or with a copy of another revision's record (its `harness.io/recorded-on`
names another object: `kubectl rollout undo` and the controller copied it), is nobody's yet: the watcher claims it
(records it InProgress, or straight Succeeded/Failed when the rollout is already over) and marks the record as its
own (`harness.io/recorded-by: watch`) and the revision number it is about (`harness.io/recorded-revision`). It
completes only records that carry that mark; a pipeline's record is never written. When the controller rolls an
old revision object out again (its revision number changes), the watcher's record on it is about the earlier
rollout: the new one is claimed afresh.

A live revision recorded Failed (by anyone) is rolled back when auto-rollback is on. The watcher marks it first
(`harness.io/auto-rollback-at`), so that one replica acts; the mark is a promise, not a result: while the marked
revision is still live and has no `harness.io/auto-rollback-outcome`, the rollback is (re)tried, by this watcher or
the next. The outcome says how it ended for good: rolled back, or refused and why.

A workload annotated `harness.io/verify: analysistemplate/NAME` has each rollout the watcher records measured before
it is Succeeded: a completed rollout stays InProgress until its analysis (watcher/verification.py) is over, and the
analysis' verdict is its outcome (Failed is then rolled back as any other Failed; Inconclusive or Error stay
InProgress, with `harness.io/verification` saying why).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
from typing import Callable, Mapping, Optional

from kubectl_rollback.decide import Revision, merge_identity
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import (
    AUTO_ROLLBACK_AT,
    AUTO_ROLLBACK_OUTCOME,
    PREFIX,
    RECORDED_BY,
    RECORDED_ON,
    RECORDED_REVISION,
    STATUS,
    Identity,
    Record,
    Status,
    format_time,
    parse_time,
    record_annotations,
    written_on,
)
from kubectl_rollback.verdict import (
    VERIFICATION,
    VERIFICATION_MESSAGE,
    VERIFICATION_METRIC,
    VERIFICATION_VALUE,
    VERIFIED_AT,
)
from kubectl_rollback.workloads.base import RolloutState

WATCHER = "watch"  # the value of RECORDED_BY on the watcher's own records
AUTO_ROLLBACK = "harness.io/auto-rollback"  # "true" on a workload: roll it back when its live revision fails
VERIFY = "harness.io/verify"  # on a workload: the analysis (analysistemplate/NAME) each rollout must pass
DEFAULT_WORKFLOW = "watch"
# On a workload: the identity of its revisions that carry none. Not the record keys themselves, which the
# controllers would copy onto the revisions, over the records there (docs/annotations.md).
DEFAULT_PREFIX = PREFIX + "default-"
IDENTITY_FIELDS = ("workflow_id", "service_id", "infra_id", "cluster_name")


class WatchAction(enum.Enum):
    NOTHING = "nothing"
    RECORD = "record"
    ROLLBACK = "rollback"
    TAKE_OFF_KEYS = "take-off-keys"  # the record keys the workload carries, off its metadata (not its template)
    VERIFY = "verify"  # run the workload's analysis on the live revision (its rollout completed)


@dataclasses.dataclass(frozen=True)
class Workload:
    """What the decision needs to know about one workload, as plain data."""

    kind: str  # "deployment"
    name: str
    namespace: str
    annotations: Mapping[str, str]  # the workload's own (a manifest's harness.io/* keys and harness.io/auto-rollback)
    live: Optional[Revision]  # the revision that backs it now, None until the controller has made it
    live_annotations: Mapping[str, str]  # that revision object's annotations, raw
    state: RolloutState  # of the rollout to the live revision
    has_deadline: bool  # Deployments fail by their own progressDeadlineSeconds; the others by --progress-deadline
    revisions: tuple = ()  # every revision it has, the live one included (watcher/unfinished.py reads them)
    revision_kind: str = "ReplicaSet"  # the kind of its revision objects (ReplicaSet, ControllerRevision)
    # The record keys the workload itself carries (WorkloadKind.carried_keys; `kubectl rollout undo` copies a
    # revision's onto it): its controller copies them over any record written on its live revision.
    carried: tuple = ()

    @property
    def display(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Settings:
    flags: IdentityFlags
    cluster_name: Optional[str]  # the kubeconfig context's cluster: the default cluster name
    progress_deadline: float  # seconds
    auto_rollback: bool


@dataclasses.dataclass(frozen=True)
class Reaction:
    action: WatchAction
    why: str
    status: Optional[Status] = None  # with RECORD: the status written
    # with RECORD: the annotations written on the live revision; with TAKE_OFF_KEYS: those removed from the workload
    annotations: Optional[dict] = None

    @property
    def acts(self) -> bool:
        return self.action is not WatchAction.NOTHING


def decide(workload: Workload, settings: Settings, now: datetime.datetime) -> Reaction:
    if workload.carried:
        # Before anything else: while the workload carries them, its controller copies them over every record we
        # write (each write would start another round) and onto each new revision, where they would be taken for
        # its record. Off its metadata only: its template, hence its pods, stay as they are.
        return Reaction(WatchAction.TAKE_OFF_KEYS,
                        f"{workload.display} carries {', '.join(workload.carried)} in its own annotations (kubectl "
                        f"rollout undo copies a revision's there), which its controller copies over the records on "
                        f"its revisions; taken off its metadata, its template is unchanged",
                        annotations={key: None for key in workload.carried})
    live = workload.live
    if live is None:
        return Reaction(WatchAction.NOTHING, "no revision backs the current template yet")
    annotations = workload.live_annotations
    if STATUS not in annotations:
        status, why = _claimed_outcome(workload) or (Status.IN_PROGRESS, "new revision, rollout in progress")
        return _record(workload, settings, status, why, now)
    if live.record.copied_from is not None:  # another revision's record, copied: not a record, judged afresh
        status, why = _claimed_outcome(workload) or (Status.IN_PROGRESS, "new revision, rollout in progress")
        return _record(workload, settings, status, f"{why} (it carried a copy of the record of "
                                                   f"{live.record.copied_from}, not read)", now)
    ours = annotations.get(RECORDED_BY) == WATCHER
    earlier = annotations.get(RECORDED_REVISION, str(live.number))
    if ours and earlier != str(live.number) and live.record.restored_by_rollback and wants_verification(workload):
        # Analysed once already; an analysis of the revision a rollback put back could only roll back further, and
        # the watcher never walks further back (README): its rollout alone decides its record.
        outcome = _outcome(workload)
        if outcome is None:
            return Reaction(WatchAction.NOTHING, f"revision {earlier} restored by the rollback at "
                                                 f"{live.record.rolled_back_at}: its rollout is in progress")
        return _record(workload, settings, outcome[0], f"{outcome[1]} (revision {earlier} restored by the rollback "
                                                       f"at {live.record.rolled_back_at}: not analysed again)", now)
    if ours and earlier != str(live.number):
        status, why = _claimed_outcome(workload) or (
            Status.IN_PROGRESS, f"revision {earlier} rolled out again as revision {live.number}, in progress")
        return _record(workload, settings, status, why, now)
    if ours and live.record.status is Status.IN_PROGRESS:
        if wants_verification(workload) and workload.state.done and not workload.state.failure:
            if VERIFICATION in annotations:  # an Inconclusive or Error verdict: a person decides from here
                return Reaction(WatchAction.NOTHING, f"analysis {annotations[VERIFICATION]}: left InProgress")
            return Reaction(WatchAction.VERIFY, f"revision {live.number} rolled out; its analysis comes next")
        outcome = _outcome(workload) or _past_deadline(workload, settings, now)
        if outcome is None:
            return Reaction(WatchAction.NOTHING, "rollout in progress")
        return _record(workload, settings, outcome[0], outcome[1], now)
    if live.record.status is Status.FAILED and wants_auto_rollback(workload, settings):
        if AUTO_ROLLBACK_OUTCOME in annotations:
            return Reaction(WatchAction.NOTHING, f"auto-rollback ended: {annotations[AUTO_ROLLBACK_OUTCOME]}")
        if AUTO_ROLLBACK_AT in annotations:
            return Reaction(WatchAction.ROLLBACK, f"revision {live.number} is recorded Failed and still live; the "
                                             f"auto-rollback taken on at {annotations[AUTO_ROLLBACK_AT]} is not done")
        return Reaction(WatchAction.ROLLBACK, f"revision {live.number} is recorded Failed")
    return Reaction(WatchAction.NOTHING, f"recorded {live.record.status.value}")


def wants_auto_rollback(workload: Workload, settings: Settings) -> bool:
    return settings.auto_rollback or workload.annotations.get(AUTO_ROLLBACK, "").strip().lower() == "true"


def wants_verification(workload: Workload) -> bool:
    return bool(workload.annotations.get(VERIFY, "").strip())


def verdict(workload: Workload, settings: Settings, status: Status, why: str, now: datetime.datetime) -> Reaction:
    """The watcher's record of an analysis' verdict on the revision it measured (WatchAction.RECORD, as any outcome)."""
    return _record(workload, settings, status, why, now)


def precondition(workload: Workload) -> Callable[[Mapping[str, str]], bool]:
    """What must still hold of the revision object, read again, when a RECORD write loses a race (409): nobody's
    yet, or still the very record of ours we decided from (a `record` may have won the race since we read it)."""
    annotations = workload.live_annotations
    if STATUS not in annotations:
        return still_claimable
    return functools.partial(_same_record, {key: annotations.get(key) for key in (STATUS, RECORDED_BY,
                                                                                   RECORDED_REVISION, RECORDED_ON)})


def still_claimable(annotations: Mapping[str, str]) -> bool:
    return STATUS not in annotations


def _same_record(decided_from: Mapping[str, Optional[str]], annotations: Mapping[str, str]) -> bool:
    return all(annotations.get(key) == value for key, value in decided_from.items())


def still_failed_unmarked(annotations: Mapping[str, str]) -> bool:
    return annotations.get(STATUS) == Status.FAILED.value and AUTO_ROLLBACK_AT not in annotations


def still_failed_unfinished(annotations: Mapping[str, str]) -> bool:
    return annotations.get(STATUS) == Status.FAILED.value and AUTO_ROLLBACK_OUTCOME not in annotations


def manifest_record(annotations: Mapping[str, str]) -> Record:
    """The identity a manifest put on the workload itself (harness.io/default-workflow-id, ... in its metadata)."""
    def value(field: str) -> Optional[str]:
        text = annotations.get(DEFAULT_PREFIX + field.replace("_", "-"))
        return text.strip() or None if isinstance(text, str) else None

    return Record(workflow_id=value("workflow_id"), service_id=value("service_id"), infra_id=value("infra_id"),
                  cluster_name=value("cluster_name"))


def _claimed_outcome(workload: Workload) -> Optional[tuple]:
    """The outcome a claim records at once: a completed rollout of a workload with an analysis is not one yet."""
    outcome = _outcome(workload)
    if outcome is not None and outcome[0] is Status.SUCCEEDED and wants_verification(workload):
        return Status.IN_PROGRESS, f"{outcome[1]}; its analysis comes next"
    return outcome


def _outcome(workload: Workload) -> Optional[tuple]:
    if workload.state.failure:
        return Status.FAILED, workload.state.failure
    if workload.state.done:
        return Status.SUCCEEDED, workload.state.message
    return None


def _past_deadline(workload: Workload, settings: Settings, now: datetime.datetime) -> Optional[tuple]:
    """StatefulSets and DaemonSets have no progress deadline: the watcher's own InProgress record says since when
    the rollout has run (it survives restarts and a change of leader)."""
    if workload.has_deadline or workload.live is None:
        return None
    started = parse_time(workload.live.record.recorded_at)
    if started is None or (now - started).total_seconds() < settings.progress_deadline:
        return None
    return Status.FAILED, (f"{workload.display}: not rolled out within --progress-deadline "
                           f"{settings.progress_deadline:.0f}s ({workload.state.message})")


def _record(workload: Workload, settings: Settings, status: Status, why: str, now: datetime.datetime) -> Reaction:
    live = workload.live
    assert live is not None
    identity = identity_for(workload, settings)
    assert identity.workflow_id is not None
    annotations = record_annotations(status, identity.workflow_id, identity.mapping, format_time(now),
                                     written_on(workload.revision_kind, live.name, live.uid),
                                     live.record.release_number,
                                     live.record.artifact or ", ".join(live.images) or None)
    annotations.update({RECORDED_BY: WATCHER, RECORDED_REVISION: str(live.number),
                        # a new rollout of this revision: any auto-rollback of an earlier one is history
                        AUTO_ROLLBACK_AT: None, AUTO_ROLLBACK_OUTCOME: None,
                        # ... and so is its verification (a verdict adds its own after this)
                        VERIFICATION: None, VERIFICATION_MESSAGE: None, VERIFIED_AT: None,
                        VERIFICATION_METRIC: None, VERIFICATION_VALUE: None})
    return Reaction(WatchAction.RECORD, why, status, annotations)


def identity_for(workload: Workload, settings: Settings) -> Identity:
    """What the revision carries, else the workload's manifest keys, else the flags, else the default: workflow
    `watch`, service = the workload's name, infra = its namespace, cluster = the context's cluster."""
    live = workload.live
    carried = live.record if live is not None else Record()
    manifest = manifest_record(workload.annotations)
    flags = settings.flags
    default = IdentityFlags(DEFAULT_WORKFLOW, workload.name, workload.namespace, settings.cluster_name)
    merged = IdentityFlags(
        *(getattr(carried, field) or getattr(manifest, field) or getattr(flags, field) or getattr(default, field)
          for field in IDENTITY_FIELDS)
    )
    return merge_identity(merged, workload.namespace, None, settings.cluster_name)
