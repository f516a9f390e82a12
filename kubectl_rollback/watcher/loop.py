"""The reconcile loop: every change to a workload or to one of its revision objects queues the workload; a worker
reads it from the watched copies, asks reaction.py what to do, and (on the leader only) does it, with the same
preconditions as `record` and the same code as `rollback`."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import functools
import threading
import time
from typing import Callable, Deque, Dict, List, NamedTuple, Optional, Set, Tuple

from kubectl_rollback import events
from kubectl_rollback.errors import ApiError, NoTargetError, RollbackError
from kubectl_rollback.kube import Kube, Resource
from kubectl_rollback.options import IdentityFlags, RollbackRequest
from kubectl_rollback.records import AUTO_ROLLBACK_AT, AUTO_ROLLBACK_OUTCOME, Status, now_rfc3339
from kubectl_rollback.watcher import reaction, unfinished
from kubectl_rollback.watcher.informer import Informer, Key, key_of
from kubectl_rollback.watcher.log import DecisionLog
from kubectl_rollback.watcher.metrics import Metrics
from kubectl_rollback.watcher.verification import Analyses
from kubectl_rollback.workloads import usable
from kubectl_rollback.workloads.base import RolloutState, WorkloadKind, annotate, controller_uid, revision_digests

WorkKey = Tuple[str, str, str]  # (kind name, namespace, name)
BLIND_RESTART_SECONDS = 120.0  # blind this long, /livez fails: a restart may help more than waiting
RESYNC_SECONDS = 10.0  # every workload is looked at again this often: --progress-deadline passes without an event
AUTO_ROLLBACK_SKIPPED = "HarnessAutoRollbackSkipped"
RECORD_KEYS_REMOVED = "HarnessRecordKeysRemoved"
ROLLBACK_RETRY_CAP_SECONDS = 60.0  # a failed auto-rollback is tried again after 2, 4, 8, ... up to this many seconds


class Health(NamedTuple):
    ready: bool  # /healthz, /readyz: every watched kind listed, and its stream heard from recently
    alive: bool  # /livez
    why: str


class Watcher:
    def __init__(self, kube: Kube, settings: reaction.Settings, all_namespaces: bool, log: DecisionLog,
                 metrics: Metrics, is_leader: Callable[[], bool] = lambda: True):
        self.kube = kube
        self.settings = settings
        self.log = log
        self.metrics = metrics
        self.is_leader = is_leader
        kinds = usable(kube)
        self.kinds: Dict[str, WorkloadKind] = {kind.resource.kind: kind for kind in kinds}
        self.workloads = {
            kind.resource.kind: Informer(kube, kind.resource, all_namespaces,
                                         functools.partial(self._workload_changed, kind.resource.kind), self._restarted)
            for kind in kinds
        }
        self.revisions = {resource.kind: Informer(kube, resource, all_namespaces, self._revision_changed,
                                                  self._restarted)
                          for resource in dict.fromkeys(kind.revision_resource for kind in kinds)}
        self._by_owner: Dict[str, Dict[Key, dict]] = {}  # controller uid -> its revision objects
        self._index_lock = threading.Lock()
        self._queue: Deque[WorkKey] = collections.deque()
        self._queued: Set[WorkKey] = set()
        self._ready = threading.Condition()
        self._retries: Dict[WorkKey, Tuple[int, float]] = {}  # failed auto-rollbacks: (attempts, not before)
        self.analyses = Analyses(kube, settings, log, metrics, is_leader, self._record)  # harness.io/verify
        for informer in self.informers():
            plural = informer.resource.plural
            metrics.stream_age.labels(plural).set_function(informer.silence)
            metrics.last_list.labels(plural).set_function(informer.last_listed)

    # -- running -----------------------------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        """List everything (raising if that fails), then watch and reconcile in daemon threads."""
        for informer, version in self.prime():
            threading.Thread(target=informer.run, args=(stop, version), name=f"watch-{informer.resource.plural}",
                             daemon=True).start()
        threading.Thread(target=self._work, args=(stop,), name="reconcile", daemon=True).start()
        threading.Thread(target=self._resync, args=(stop,), name="resync", daemon=True).start()

    def informers(self) -> List[Informer]:
        """Every watched kind, revisions first so that each workload finds its own."""
        return [*self.revisions.values(), *self.workloads.values()]

    def prime(self) -> list:
        """The first list of every kind: (informer, version)."""
        return [(informer, informer.prime()) for informer in self.informers()]

    def health(self) -> Health:
        """Ready while every kind is listed and its watch is live; alive unless blind for BLIND_RESTART_SECONDS."""
        now = time.monotonic()
        if not all(informer.synced.is_set() for informer in self.informers()):
            return Health(False, True, "not listed yet")
        blind = [(since, informer) for informer in self.informers()
                 if (since := informer.blind_since(now)) is not None]
        if not blind:
            return Health(True, True, "ok")
        since, informer = min(blind, key=lambda pair: pair[0])
        why = f"{informer.resource.qualified}: {informer.blindness(now)}"
        return Health(False, now - since < BLIND_RESTART_SECONDS, why)

    def enqueue_all(self) -> None:
        for kind_name, informer in self.workloads.items():
            for obj in informer.items():
                self._enqueue((kind_name, *key_of(obj)))

    def _resync(self, stop: threading.Event) -> None:
        while not stop.wait(RESYNC_SECONDS):
            self.enqueue_all()

    def _work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._ready:
                while not self._queue and not stop.is_set():
                    self._ready.wait(0.5)
                if stop.is_set():
                    return
                item = self._queue.popleft()
                self._queued.discard(item)
            try:
                self.reconcile(item)
            except Exception as exc:  # an API failure (or a bug): logged; the next event or resync tries again
                why = exc.message if isinstance(exc, RollbackError) else f"unexpected {type(exc).__name__}: {exc}"
                self.log.line("error", workload=f"{item[0].lower()}/{item[2]}", namespace=item[1], why=why)

    def _enqueue(self, item: WorkKey) -> None:
        with self._ready:
            if item not in self._queued:
                self._queued.add(item)
                self._queue.append(item)
                self._ready.notify()

    # -- what the informers report -----------------------------------------------------------------------------

    def _workload_changed(self, kind_name: str, old: Optional[dict], new: Optional[dict]) -> None:
        if new is not None:  # a deleted workload takes its revisions with it: nothing to record
            self._enqueue((kind_name, *key_of(new)))

    def _revision_changed(self, old: Optional[dict], new: Optional[dict]) -> None:
        obj = new or old
        assert obj is not None
        owner = controller_uid(obj)
        if owner is None:
            return
        with self._index_lock:
            owned = self._by_owner.setdefault(owner, {})
            if new is None:
                owned.pop(key_of(obj), None)
                if not owned:
                    del self._by_owner[owner]
            else:
                owned[key_of(obj)] = new
        ref = next(r for r in obj["metadata"]["ownerReferences"] if r.get("controller"))
        if ref.get("kind") in self.workloads:
            self._enqueue((ref["kind"], obj["metadata"].get("namespace", ""), ref["name"]))

    def _restarted(self, resource: Resource, why: str) -> None:
        self.metrics.watch_restarts.labels(resource.plural).inc()
        self.log.line("relist", resource=resource.qualified, why=why)

    def _remember(self, owner: str, obj: dict) -> None:
        with self._index_lock:
            self._by_owner.setdefault(owner, {})[key_of(obj)] = obj

    # -- one workload ------------------------------------------------------------------------------------------

    def observe(self, item: WorkKey) -> Optional[Tuple[WorkloadKind, dict, reaction.Workload]]:
        kind_name, namespace, name = item
        kind = self.kinds[kind_name]
        workload = self.workloads[kind_name].get((namespace, name))
        if workload is None or not kind.observed(workload):
            return None  # gone, or the controller has not made the revision for its template yet: an event follows
        with self._index_lock:
            objects = list(self._by_owner.get(workload["metadata"]["uid"], {}).values())
        revisions = kind.revisions_from(workload, objects)
        live = max((r for r in revisions if r.live), key=lambda r: r.number, default=None)
        live_object = next((o for o in objects if live is not None and o["metadata"]["name"] == live.name), None)
        state = kind.rollout_state(workload, live.name) if live is not None else RolloutState(False, "")
        view = reaction.Workload(
            kind=kind.name, name=name, namespace=namespace,
            annotations=workload["metadata"].get("annotations") or {},
            live=live, live_annotations=(live_object or {}).get("metadata", {}).get("annotations") or {},
            state=state, has_deadline=kind.has_progress_deadline, revisions=tuple(revisions),
            revision_kind=kind.revision_resource.kind,
            carried=kind.carried_keys(workload),
        )
        return kind, workload, view

    def reconcile(self, item: WorkKey) -> None:
        observed = self.observe(item)
        if observed is None or not self.is_leader():
            self._forget_retry(item)  # gone, or another replica acts now (and retries at once if it must)
            return
        kind, workload, view = observed
        decision = reaction.decide(view, self.settings, datetime.datetime.now(datetime.timezone.utc))
        if decision.action is reaction.WatchAction.TAKE_OFF_KEYS:  # first: no record would stay as written
            self._take_off_keys(kind, workload, view, decision)
            return
        left = unfinished.find(view, self.settings.cluster_name)
        if left is not None:  # before the live revision is recorded: its record may still be the rollback's target's
            self._finish(kind, workload, view, left)
            return
        if decision.action is reaction.WatchAction.ROLLBACK:
            self._roll_back(item, kind, workload, view, decision)
            return
        self._forget_retry(item)  # e.g. a new rollout replaced the failed revision while a retry was waiting
        if decision.action is reaction.WatchAction.RECORD:
            self._record(kind, workload, view, decision)
        elif decision.action is reaction.WatchAction.VERIFY:
            self.analyses.start(kind, workload, view, functools.partial(self._enqueue, item))

    def _record(self, kind: WorkloadKind, workload: dict, view: reaction.Workload, decision: reaction.Reaction) -> None:
        live = view.live
        assert live is not None and decision.annotations is not None and decision.status is not None
        kube = self.kube.in_namespace(view.namespace)
        annotations, unknown = decision.annotations, []
        if decision.status in (Status.SUCCEEDED, Status.FAILED):  # with an outcome, the digests its pods run
            # From the API server's cache: the pods reported their images before the rollout ended, and a consistent
            # list can hold the one reconcile worker, and every workload queued behind it, ~100 ms a record.
            found, unknown = revision_digests(kube.from_cache(), kind, workload, live)
            annotations = {**annotations, **found}
        written = annotate(kube, kind.revision_resource, live, annotations, still_wanted=reaction.precondition(view))
        fields = dict(workload=view.display, namespace=view.namespace, revision=live.number,
                      digests="; ".join(unknown) or None)
        if written is None:
            self.log.line("skipped", **fields, outcome=decision.status.value,
                          why="another client recorded this revision first; its record is kept")
            return
        self._remember(workload["metadata"]["uid"], written)
        self.metrics.outcomes.labels(decision.status.value).inc()
        self.log.line("recorded", **fields, outcome=decision.status.value, why=decision.why)

    def _take_off_keys(self, kind: WorkloadKind, workload: dict, view: reaction.Workload,
                       decision: reaction.Reaction) -> None:
        """The record keys off the workload's metadata: a merge that removes only them (nothing to lose, so no
        precondition), said in a log line and an Event. Its template is not touched: no rollout. The workload as the
        server answered is remembered at once: a change to its ReplicaSets queues it again, and a view still showing
        the keys, before the stream brings the patch, would take them off twice (two Events, seen on 1.20)."""
        kube = self.kube.in_namespace(view.namespace)
        patched = kube.patch(kind.resource, view.name, {"metadata": {"annotations": decision.annotations}})
        self.workloads[kind.resource.kind].remember(patched)
        events.emit(kube, kind.resource, workload, RECORD_KEYS_REMOVED, decision.why)
        self.log.line("cleaned", workload=view.display, namespace=view.namespace, why=decision.why)

    def _roll_back(self, item: WorkKey, kind: WorkloadKind, workload: dict, view: reaction.Workload,
                   decision: reaction.Reaction) -> None:
        from kubectl_rollback.commands.workload import WorkloadTarget

        live = view.live
        assert live is not None
        if time.monotonic() < self._retries.get(item, (0, 0.0))[1]:
            return  # backing off after a failed attempt; its timer queues the workload again
        kube = self.kube.in_namespace(view.namespace)
        fields = dict(workload=view.display, namespace=view.namespace, revision=live.number)
        if AUTO_ROLLBACK_AT not in view.live_annotations:
            # Taken on with a preconditioned write, so one replica acts on each failed revision. The mark promises
            # the rollback: until an outcome is written below, this watcher or the next one (re)tries it.
            marked = annotate(kube, kind.revision_resource, live, {AUTO_ROLLBACK_AT: now_rfc3339()},
                              still_wanted=reaction.still_failed_unmarked)
            if marked is None:
                return  # another replica, or the record changed: not ours to act on
            self._remember(workload["metadata"]["uid"], marked)
            live = dataclasses.replace(live, resource_version=marked["metadata"]["resourceVersion"])
        if not self.is_leader():
            return  # deposed since the decision (paused, starved): the new leader acts
        try:
            result = WorkloadTarget(kind, view.name).rollback(kube, RollbackRequest(flags=IdentityFlags()),
                                                              lambda item: None)
        except ApiError as exc:  # the API failed (after its own retries): the promise stands, try again later
            self._retry_later(item, fields, exc.message)
            return
        except RollbackError as exc:
            # Refused for good: no target (first deployment, every other revision failed, pruned), a GitOps owner,
            # a paused workload. Nothing changed; the outcome says why, and so does an Event.
            result_name = "no-target" if isinstance(exc, NoTargetError) else "refused"
            outcome, line = f"refused: {exc.message}", ("rollback-skipped", result_name, exc.message)
            skipped: Optional[str] = f"auto-rollback of revision {live.number} skipped: {exc.message}"
        else:
            why, skipped = f"{decision.why}; {result.message}", None
            if result.changed:
                result_name, outcome = "rolled-back", f"rolled back to revision {result.target.number}"
                line = ("rolled-back", f"revision {result.target.number}", why)
            else:
                result_name, outcome = "nothing-to-do", f"nothing to do: {result.message}"
                line = ("rollback-skipped", result_name, why)
        self._forget_retry(item)
        # The outcome first: its precondition makes one watcher the one that says how it ended (a deposed leader
        # resumed after the new one wrote it says nothing).
        if not self.is_leader() or annotate(kube, kind.revision_resource, live, {AUTO_ROLLBACK_OUTCOME: outcome},
                                            still_wanted=reaction.still_failed_unfinished) is None:
            return
        self.metrics.rollbacks.labels(result_name).inc()
        if skipped is not None:
            events.emit(kube, kind.resource, workload, AUTO_ROLLBACK_SKIPPED, skipped)
        event, shown, why = line
        self.log.line(event, **fields, outcome=shown, why=why)

    def _finish(self, kind: WorkloadKind, workload: dict, view: reaction.Workload,
                left: unfinished.Unfinished) -> None:
        """A promised rollback that is no longer the live revision's: its outcome, and the book-keeping that a
        watcher killed after the template write left undone (the audit, the Event), each written once: the audit
        under its precondition, the Event unless one about this rollback is there (a watcher may be killed between
        the two), and the outcome, with the metric and the log line, by the one watcher whose outcome write wins."""
        from kubectl_rollback.commands.rollback import audit_annotations, emit_rolled_back, rolled_back_message

        kube = self.kube.in_namespace(view.namespace)
        fields = dict(workload=view.display, namespace=view.namespace, revision=left.failed.number)
        target = left.target
        if target is not None:
            if not left.audited:
                number, marked_at = left.failed.number, left.marked_at
                written = annotate(kube, kind.revision_resource, target,
                                   audit_annotations(left.failed, target, now_rfc3339()),
                                   still_wanted=lambda annotations: not unfinished.audited(number, marked_at,
                                                                                           annotations))
                if written is not None:
                    self._remember(workload["metadata"]["uid"], written)
            if not self.is_leader():
                return  # deposed since the decision: the new leader finishes it
            if not events.emitted(kube, workload, events.ROLLBACK_REASON, rolled_back_message(left.failed, target),
                                  left.marked_at):
                emit_rolled_back(kube, kind, workload, left.failed, target)
        outcome = annotate(kube, kind.revision_resource, left.failed, {AUTO_ROLLBACK_OUTCOME: left.outcome},
                           still_wanted=reaction.still_failed_unfinished)
        if outcome is None:
            return  # another watcher wrote it first
        self._remember(workload["metadata"]["uid"], outcome)
        if target is None:
            self.metrics.rollbacks.labels("replaced").inc()
            self.log.line("rollback-skipped", **fields, outcome="replaced", why=left.outcome)
        else:
            self.metrics.rollbacks.labels("rolled-back").inc()
            self.log.line("rolled-back", **fields, outcome=f"revision {target.number}", why=left.outcome)

    def _forget_retry(self, item: WorkKey) -> None:
        if self._retries.pop(item, None) is not None:
            self.metrics.rollbacks_pending.set(len(self._retries))

    def _retry_later(self, item: WorkKey, fields: dict, why: str) -> None:
        attempts = self._retries.get(item, (0, 0.0))[0] + 1
        delay = min(ROLLBACK_RETRY_CAP_SECONDS, 2.0 ** attempts)
        self._retries[item] = (attempts, time.monotonic() + delay)
        self.metrics.rollbacks.labels("failed").inc()
        self.metrics.rollbacks_pending.set(len(self._retries))
        self.log.line("rollback-failed", **fields, outcome="retrying", why=f"{why}; attempt {attempts}, "
                                                                          f"next in {delay:.0f}s")
        timer = threading.Timer(delay, self._enqueue, (item,))
        timer.daemon = True
        timer.start()
