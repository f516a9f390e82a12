"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the holder renews the
lease every retry period; another replica takes it once it has not been renewed for the lease duration; every
write is preconditioned on the resourceVersion read, so two replicas never both win. Releasing (on SIGTERM) empties
the holder, so the next replica takes over at its next try instead of after the lease duration."""

from __future__ import annotations

import datetime
import threading
from typing import Callable, Optional

from kubectl_rollback.errors import ConflictError, NotFoundError, RollbackError
from kubectl_rollback.kube import LEASES, Kube

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def expired(lease: dict, now: datetime.datetime) -> bool:
    """Whether nobody holds the lease: no holder, or not renewed within its duration (pure)."""
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse(spec.get("renewTime") or spec.get("acquireTime"))
    if renewed is None:
        return True
    return (now - renewed).total_seconds() > (spec.get("leaseDurationSeconds") or 0)


class Elector:
    def __init__(self, kube: Kube, name: str, identity: str, duration: float,
                 on_change: Callable[[bool], None]):
        self.kube = kube
        self.name = name
        self.identity = identity
        self.duration = duration
        self.retry = max(0.5, duration / 7)  # client-go's defaults: 15s lease, 2s retry
        self.on_change = on_change
        # Why the last try could not read or write the Lease (its namespace missing, RBAC, the API down), None when
        # it could (taken, renewed, or held by another replica): readiness reports it; on_problem hears each new one.
        self.problem: Optional[str] = None
        self.on_problem: Callable[[str], None] = lambda why: None
        self.leader = False
        self._told = False  # on_change has been called: the first try is told too, follower included
        self._last_renewal = 0.0

    def run(self, stop: threading.Event) -> None:
        import time

        while not stop.is_set():
            try:
                held = self._try_acquire_or_renew()
                if held:
                    self._last_renewal = time.monotonic()
                self.problem = None
            except RollbackError as exc:
                held = False
                if exc.message != self.problem:  # said once, not at every retry
                    self.on_problem(exc.message)
                self.problem = exc.message
            # A leader that cannot renew keeps acting only while its lease is certainly still valid.
            if not held and self.leader and time.monotonic() - self._last_renewal < self.duration * 2 / 3:
                held = True
            self._set(held)
            stop.wait(self.retry)

    def holds(self) -> bool:
        """Whether this replica may write now: it leads, and renewed the lease recently enough that no other replica
        can have taken it over since. Checked right before each write: a process paused (SIGSTOP) or starved past
        that still believes it leads until its next try, and must not act on its backlog meanwhile."""
        import time

        return self.leader and time.monotonic() - self._last_renewal < self.duration * 2 / 3

    def release(self) -> None:
        """Give the lease up (on the way out), if we hold it."""
        if not self.leader:
            return
        self._set(False)
        try:
            lease = self.kube.get(LEASES, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                precondition = {"resourceVersion": lease["metadata"]["resourceVersion"]}
                self.kube.patch(LEASES, self.name, {"metadata": precondition,
                                                    "spec": {"holderIdentity": None, "leaseDurationSeconds": 1}})
        except RollbackError:
            pass  # the lease then expires by itself

    def _set(self, leader: bool) -> None:
        if leader != self.leader or not self._told:
            self._told = True
            self.leader = leader
            self.on_change(leader)

    def _try_acquire_or_renew(self) -> bool:
        now = datetime.datetime.now(datetime.timezone.utc)
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration),
                "renewTime": now.strftime(MICRO_TIME)}
        try:
            lease = self.kube.get(LEASES, self.name)
        except NotFoundError:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name},
                    "spec": dict(spec, acquireTime=spec["renewTime"], leaseTransitions=0)}
            try:
                self.kube.create(LEASES, body)
            except ConflictError:
                return False  # another replica created it first
            return True
        current = lease.get("spec") or {}
        ours = current.get("holderIdentity") == self.identity
        if not ours and not expired(lease, now):
            return False
        if not ours:
            spec.update(acquireTime=spec["renewTime"], leaseTransitions=(current.get("leaseTransitions") or 0) + 1)
        try:
            self.kube.patch(LEASES, self.name, {"metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                                                "spec": spec})
        except ConflictError:
            return False
        return True


def _parse(text: Optional[str]) -> Optional[datetime.datetime]:
    if not text:
        return None
    for fmt in (MICRO_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None
